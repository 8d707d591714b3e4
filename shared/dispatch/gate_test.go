package dispatch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"breachnotify/shared/audience"
	"breachnotify/shared/audit"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

func threeUsers() Users {
	return fake.NewUsers(
		audience.User{ID: "u-1", Email: "one@example.com", Locale: "en"},
		audience.User{ID: "u-2", Email: "two@example.com", Locale: "en"},
		audience.User{ID: "u-3", Email: "three@example.com", Locale: "en"},
	)
}

func TestBatchesWaitUntilTheIncidentMaySend(t *testing.T) {
	tests := []struct {
		state    incident.State
		wantHeld bool
	}{
		{incident.StateSuspected, true},
		{incident.StateConfirmed, true},
		{incident.StateAwaitingApproval, true},
		{incident.StateSending, false},
	}
	for _, tc := range tests {
		t.Run(string(tc.state), func(t *testing.T) {
			e := newEnv(threeUsers())
			e.control.setState(tc.state)
			c, err := e.worker.Process(context.Background(), batch("account-accessed", []incident.Channel{incident.Email}, explicit("u-1", "u-2", "u-3")))
			if err != nil {
				t.Fatal(err)
			}
			if held := len(e.control.held) == 1 && c.Held == 3; held != tc.wantHeld {
				t.Errorf("held %d batches, counts %+v; want held %v", len(e.control.held), c, tc.wantHeld)
			}
			if sent := len(e.mailer.sent) > 0; sent == tc.wantHeld {
				t.Errorf("%d emails sent in state %s", len(e.mailer.sent), tc.state)
			}
		})
	}
}

// raceControl lets a batch's hold fail as if the incident had been released
// between the worker's read and its hold.
type raceControl struct{ *memControl }

func (r raceControl) Hold(context.Context, Batch) error {
	r.setState(incident.StateSending)
	return ErrNotHeld
}

func TestABatchReleasedWhileBeingHeldIsSent(t *testing.T) {
	e := newEnv(threeUsers())
	e.control.setState(incident.StateConfirmed)
	e.worker.Control = raceControl{e.control}
	c, err := e.worker.Process(context.Background(), batch("account-accessed", []incident.Channel{incident.Email}, explicit("u-1", "u-2", "u-3")))
	if err != nil || c.Sent != 3 {
		t.Fatalf("counts %+v, err %v; want the three sent", c, err)
	}
}

func TestCancelledIncidentDrainsWithoutSending(t *testing.T) {
	e := newEnv(threeUsers())
	e.control.setState(incident.StateCancelled)
	c, err := e.worker.Process(context.Background(), batch("account-accessed", []incident.Channel{incident.Email, incident.Push}, explicit("u-1", "u-2")))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.mailer.sent)+len(e.pusher.sent) != 0 || c.Skipped != 4 {
		t.Errorf("counts %+v, %d sent; want 4 deliveries skipped, none sent", c, len(e.mailer.sent)+len(e.pusher.sent))
	}
	for k, en := range snapshot(e.ledger) {
		if en.Status != ledger.Skipped || en.Reason != Cancelled {
			t.Errorf("%s = %s %s, want skipped: cancelled", k, en.Status, en.Reason)
		}
	}
}

// A cancel in the middle of a batch stops it once the worker's view of the
// incident is older than GateTTL: here the second send cancels the
// incident and time moves past the TTL, so the third member is not sent.
func TestCancelStopsABatchInTheMiddle(t *testing.T) {
	e := newEnv(threeUsers())
	e.worker.Parallel = 1
	var mu sync.Mutex
	e.mailer.fail = func(m Mail) error {
		mu.Lock()
		defer mu.Unlock()
		if len(e.mailer.sent) == 1 {
			e.control.setState(incident.StateCancelled)
			e.clock.Advance(GateTTL + time.Millisecond)
		}
		return nil
	}
	c, err := e.worker.Process(context.Background(), batch("account-accessed", []incident.Channel{incident.Email}, explicit("u-1", "u-2", "u-3")))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sent != 2 || c.Skipped != 1 {
		t.Errorf("counts %+v, want 2 sent before the cancel was seen and 1 skipped", c)
	}
	if got := snapshot(e.ledger)[key("u-3", incident.Email, "").String()]; got.Reason != Cancelled {
		t.Errorf("u-3 = %s %s, want skipped: cancelled", got.Status, got.Reason)
	}
}

type memCounter struct {
	done        map[incident.Channel]map[ledger.Status]int
	first, last time.Time
}

func (m *memCounter) Count(_ context.Context, _, _ string, done map[incident.Channel]map[ledger.Status]int, first, last time.Time) error {
	m.done, m.first, m.last = done, first, last
	return nil
}

func TestABatchIsCountedAndAudited(t *testing.T) {
	e := newEnv(fake.NewUsers(
		audience.User{ID: "u-1", Email: "one@example.com", Devices: []audience.Device{{ID: "d1", Platform: "android", EndpointARN: arn("d1")}, {ID: "d2", Platform: "ios", EndpointARN: arn("d2")}}},
		audience.User{ID: "u-2"},
	))
	cnt, aud := &memCounter{}, &fake.Audit{}
	e.worker.Progress, e.worker.Audit = cnt, aud
	e.pusher.fail = failOn(error(&SendError{Class: Permanent, Reason: "EndpointDisabled", Err: errors.New("x")}), endpoint, arn("d2"))
	b := batch("account-accessed", []incident.Channel{incident.Email, incident.Push}, explicit("u-1", "u-2"))
	if _, err := e.worker.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	// By recipient and channel: u-1's email sent, its push sent (d1 sent,
	// d2 failed); u-2 has neither address nor device.
	want := map[incident.Channel]map[ledger.Status]int{
		incident.Email: {ledger.Sent: 1, ledger.Skipped: 1},
		incident.Push:  {ledger.Sent: 1, ledger.Skipped: 1},
	}
	for ch, m := range want {
		for st, n := range m {
			if cnt.done[ch][st] != n {
				t.Errorf("counted %v, want %v", cnt.done, want)
			}
		}
	}
	if !cnt.first.Equal(t0) || !cnt.last.Equal(t0) {
		t.Errorf("first %s last %s, want the sends' time", cnt.first, cnt.last)
	}
	entries := aud.Entries()
	if len(entries) != 1 || entries[0].Kind != audit.BatchSent || entries[0].Detail["sent"] != "2" || entries[0].Detail["failed"] != "1" {
		t.Errorf("audit %+v, want one batch summary with 2 sent and 1 failed", entries)
	}

	// A redelivery decides nothing new: nothing is counted or audited.
	cnt.done = nil
	if _, err := e.worker.Process(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(cnt.done) != 0 || len(aud.Entries()) != len(entries) {
		t.Errorf("redelivery counted %v and audited %v", cnt.done, aud.Entries()[len(entries):])
	}
}
