package fake

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

// LedgerStore is what LedgerContract exercises: the methods dynamo.Ledger
// and Ledger share.
type LedgerStore interface {
	Claim(ctx context.Context, c ledger.Claim) (ledger.Record, error)
	Record(ctx context.Context, claimed ledger.Record, outcomes []ledger.Entry, at time.Time) error
	Get(ctx context.Context, rs []ledger.Recipient) (map[ledger.Recipient]ledger.Record, error)
	Each(ctx context.Context, incidentID string, fn func(ledger.Record) error) error
	List(ctx context.Context, incidentID string) ([]ledger.Entry, error)
}

// LedgerContract checks the rules every ledger store keeps (claim once,
// take over an expired claim, never claim a done recipient, return an open
// record's outcomes, read in (notice, user) order) against l, writing
// only records of incidentID, which must hold none yet. It runs against
// Ledger in this package's tests and against dynamo.Ledger on moto in
// infra/e2e, so the fake the unit tests trust is the store deployed.
func LedgerContract(t *testing.T, l LedgerStore, incidentID string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	recipient := func(notice, user string) ledger.Recipient {
		return ledger.Recipient{IncidentID: incidentID, NoticeID: notice, UserID: user}
	}
	claim := func(user, owner string, at time.Time) ledger.Claim {
		return ledger.Claim{Recipient: recipient("n0-x", user), Template: "account-accessed", Owner: owner, At: at, LeaseUntil: at.Add(time.Minute)}
	}
	email := func(user string, s ledger.Status) ledger.Entry {
		return ledger.Entry{Key: ledger.Key{IncidentID: incidentID, NoticeID: "n0-x", UserID: user, Channel: incident.Email},
			Template: "account-accessed", Status: s, UpdatedAt: now}
	}
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"a new recipient is claimed once", func(t *testing.T) {
			if _, err := l.Claim(ctx, claim("u-1", "w1", now)); err != nil {
				t.Fatal(err)
			}
			var inflight *ledger.InFlightError
			if _, err := l.Claim(ctx, claim("u-1", "w2", now)); !errors.As(err, &inflight) || !inflight.Until.Equal(now.Add(time.Minute)) {
				t.Errorf("second claim: %v, want ErrInFlight until %s", err, now.Add(time.Minute))
			}
		}},
		{"an expired claim is taken over, and its owner can no longer record", func(t *testing.T) {
			first, err := l.Claim(ctx, claim("u-2", "w1", now))
			if err != nil {
				t.Fatal(err)
			}
			later := now.Add(2 * time.Minute)
			second, err := l.Claim(ctx, claim("u-2", "w2", later))
			if err != nil {
				t.Fatalf("claim after the lease: %v", err)
			}
			if err := l.Record(ctx, first, []ledger.Entry{email("u-2", ledger.Sent)}, later); !errors.Is(err, ledger.ErrNotOwner) {
				t.Errorf("record by the dead claim's owner: %v, want ErrNotOwner", err)
			}
			if err := l.Record(ctx, second, []ledger.Entry{email("u-2", ledger.Sent)}, later); err != nil {
				t.Errorf("record by the live owner: %v", err)
			}
		}},
		{"a done recipient is never claimed again", func(t *testing.T) {
			rec, err := l.Claim(ctx, claim("u-3", "w1", now))
			if err != nil {
				t.Fatal(err)
			}
			e := email("u-3", ledger.Sent)
			e.ProviderMessageID, e.TemplateVersion, e.Locale = "m-1", "v1", "en"
			if err := l.Record(ctx, rec, []ledger.Entry{e}, now); err != nil {
				t.Fatal(err)
			}
			later := now.Add(time.Hour)
			old, err := l.Claim(ctx, claim("u-3", "w2", later))
			if !errors.Is(err, ledger.ErrDone) {
				t.Fatalf("claim of a notified recipient: %v, want ErrDone", err)
			}
			if got, ok := old.Outcome(e.Key); !ok || got != e {
				t.Errorf("record as it stands: %+v, want %+v", got, e)
			}
		}},
		{"an open record returns its outcomes to the next claim", func(t *testing.T) {
			rec, err := l.Claim(ctx, claim("u-4", "w1", now))
			if err != nil {
				t.Fatal(err)
			}
			p := email("u-4", ledger.Pending)
			p.Channel, p.DeviceID, p.Reason = incident.Push, "d1", "Throttling"
			if err := l.Record(ctx, rec, []ledger.Entry{email("u-4", ledger.Sent), p}, now); err != nil {
				t.Fatal(err)
			}
			again, err := l.Claim(ctx, claim("u-4", "w2", now))
			if err != nil {
				t.Fatalf("claim of an open record: %v", err)
			}
			if got, _ := again.Outcome(p.Key); got.Status != ledger.Pending || got.Reason != "Throttling" || len(again.Deliveries) != 2 {
				t.Errorf("claimed record %+v, want the sent email and the pending push", again)
			}
			p.Status, p.Reason = ledger.Sent, ""
			if err := l.Record(ctx, again, []ledger.Entry{p}, now); err != nil {
				t.Fatal(err)
			}
			entries, err := l.List(ctx, incidentID)
			if err != nil {
				t.Fatal(err)
			}
			sum := ledger.Summarize(entries)
			if sum["n0-x"][incident.Push][ledger.Sent] != 1 {
				t.Errorf("summary %v, want u-4's push sent", sum)
			}
		}},
		{"Get returns the records that exist, as they stand", func(t *testing.T) {
			got, err := l.Get(ctx, []ledger.Recipient{recipient("n0-x", "u-1"), recipient("n0-x", "u-3"), recipient("n0-x", "u-none")})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[recipient("n0-x", "u-1")].State != ledger.Claimed || got[recipient("n0-x", "u-3")].State != ledger.Done {
				t.Errorf("got %+v, want u-1 claimed and u-3 done", got)
			}
		}},
		{"Each reads the incident's records in (notice, user) order", func(t *testing.T) {
			for _, user := range []string{"u-9", "u-0"} {
				c := claim(user, "w1", now)
				c.NoticeID = "n1-y"
				if _, err := l.Claim(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			err := l.Each(ctx, incidentID, func(r ledger.Record) error {
				got = append(got, r.NoticeID+"/"+r.UserID)
				return nil
			})
			want := []string{"n0-x/u-1", "n0-x/u-2", "n0-x/u-3", "n0-x/u-4", "n1-y/u-0", "n1-y/u-9"}
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("Each read %v (%v), want %v", got, err, want)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}
