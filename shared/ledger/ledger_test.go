package ledger

import (
	"errors"
	"testing"
	"time"

	"breachnotify/shared/incident"
)

var (
	t0 = time.Date(2014, 5, 27, 10, 0, 0, 0, time.UTC)
	r1 = Recipient{IncidentID: "INC-1", NoticeID: "n0-update-app", UserID: "u-1"}
)

func key(ch incident.Channel, device string) Key {
	return Key{IncidentID: r1.IncidentID, NoticeID: r1.NoticeID, UserID: r1.UserID, Channel: ch, DeviceID: device}
}

func outcome(ch incident.Channel, device string, s Status) Entry {
	return Entry{Key: key(ch, device), Status: s, UpdatedAt: t0}
}

func TestTake(t *testing.T) {
	c := Claim{Recipient: r1, Template: "update-app", Owner: "w2", At: t0, LeaseUntil: t0.Add(time.Minute)}
	sent := outcome(incident.Email, "", Sent)
	tests := []struct {
		name      string
		old       *Record
		wantErr   error
		wantUntil time.Time
	}{
		{"new", nil, nil, time.Time{}},
		{"open: a pending delivery is taken up again", &Record{Recipient: r1, State: Open, Deliveries: []Entry{sent}}, nil, time.Time{}},
		{"live claim", &Record{Recipient: r1, State: Claimed, Owner: "w1", LeaseUntil: t0}, ErrInFlight, t0},
		{"claim whose lease ended", &Record{Recipient: r1, State: Claimed, Owner: "w1", LeaseUntil: t0.Add(-time.Second)}, nil, time.Time{}},
		{"done", &Record{Recipient: r1, State: Done, Deliveries: []Entry{sent}}, ErrDone, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Take(tc.old, c)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				var inflight *InFlightError
				if errors.As(err, &inflight) != !tc.wantUntil.IsZero() || (inflight != nil && !inflight.Until.Equal(tc.wantUntil)) {
					t.Errorf("err = %#v, want the claim's end %s", err, tc.wantUntil)
				}
				return
			}
			if r.State != Claimed || r.Owner != "w2" || !r.LeaseUntil.Equal(c.LeaseUntil) {
				t.Errorf("record = %+v, want claimed by w2 until %s", r, c.LeaseUntil)
			}
			if tc.old != nil && len(r.Deliveries) != len(tc.old.Deliveries) {
				t.Errorf("deliveries %v, want those recorded before kept", r.Deliveries)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	claimed := Record{Recipient: r1, State: Claimed, Owner: "w1", LeaseUntil: t0.Add(time.Minute),
		Deliveries: []Entry{outcome(incident.Email, "", Sent), outcome(incident.Push, "d1", Pending)}}
	tests := []struct {
		name      string
		owner     string
		outcomes  []Entry
		wantState State
		wantN     int
		wantErr   error
	}{
		{"the pending push sent: done", "w1", []Entry{outcome(incident.Push, "d1", Sent)}, Done, 2, nil},
		{"still pending: open", "w1", []Entry{outcome(incident.Push, "d1", Pending)}, Open, 2, nil},
		{"a new device failed for good: done", "w1", []Entry{outcome(incident.Push, "d1", Skipped), outcome(incident.Push, "d2", Failed)}, Done, 3, nil},
		{"nothing new leaves it open", "w1", nil, Open, 2, nil},
		{"another owner", "w2", []Entry{outcome(incident.Push, "d1", Sent)}, "", 0, ErrNotOwner},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := claimed.Merge(tc.owner, tc.outcomes, t0.Add(time.Second))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if r.State != tc.wantState || len(r.Deliveries) != tc.wantN || r.Owner != "" || !r.LeaseUntil.IsZero() {
				t.Errorf("record = %+v, want %s with %d deliveries and no claim", r, tc.wantState, tc.wantN)
			}
		})
	}
	if claimed.Deliveries[1].Status != Pending {
		t.Error("Merge changed the claimed record's deliveries in place")
	}
}

func TestLeaseUntil(t *testing.T) {
	if got := LeaseUntil(t0, t0.Add(time.Minute), true); !got.Equal(t0.Add(time.Minute + LeaseMargin)) {
		t.Errorf("with a deadline: %s", got)
	}
	if got := LeaseUntil(t0, time.Time{}, false); !got.Equal(t0.Add(Lease)) {
		t.Errorf("without: %s", got)
	}
}
