package dispatch

import (
	"context"
	"slices"
	"testing"
	"time"

	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

type laterQueue struct{ at []time.Time }

func (l *laterQueue) SendLater(_ context.Context, _ []byte, at time.Time) error {
	l.at = append(l.at, at)
	return nil
}

// report applies a delivery report to a user's email, as the feedback
// function does.
func report(l *fake.Ledger, user string, st ledger.Status, at time.Time) {
	r := ledger.Recipient{IncidentID: testIncident, NoticeID: incident.NoticeID(0, "account-accessed"), UserID: user}
	got, _ := l.Get(context.Background(), []ledger.Recipient{r}) // in memory: never fails
	rec := got[r]
	for i, d := range rec.Deliveries {
		if d.Channel == incident.Email {
			rec.Deliveries[i], _ = d.Apply(ledger.Feedback{Key: d.Key, Status: st, At: at})
		}
	}
	l.Put(rec)
}

// A fallback notice tries email first and sends the push only once the
// email has failed for good or has not been delivered in time; however
// often the batch comes back, nothing is sent twice.
func TestFallback(t *testing.T) {
	fallback := func(users ...string) Batch {
		b := batch("account-accessed", emailPush, explicit(users...))
		b.Fallback, b.FallbackAfterSeconds = true, 1800
		return b
	}
	process := func(t *testing.T, e *env, b Batch) {
		t.Helper()
		if _, err := e.worker.Process(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name      string
		between   func(e *env)
		wantPush  []string
		wantEmail ledger.Status
		wantPush0 ledger.Status
	}{
		{"bounced: push after the bounce", func(e *env) { report(e.ledger, "u-1", ledger.Bounced, e.clock.Now()) },
			[]string{arn("d1"), arn("d2")}, ledger.Bounced, ledger.Sent},
		{"not delivered in time: push", func(e *env) { e.clock.Advance(31 * time.Minute) },
			[]string{arn("d1"), arn("d2")}, ledger.Sent, ledger.Sent},
		{"delayed past the time: push", func(e *env) {
			report(e.ledger, "u-1", ledger.Delayed, e.clock.Now())
			e.clock.Advance(31 * time.Minute)
		}, []string{arn("d1"), arn("d2")}, ledger.Delayed, ledger.Sent},
		{"delivered: no push", func(e *env) { report(e.ledger, "u-1", ledger.Delivered, e.clock.Now()) },
			nil, ledger.Delivered, ledger.Skipped},
		{"still waiting: no push", func(e *env) { e.clock.Advance(10 * time.Minute) },
			nil, ledger.Sent, ledger.Pending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(fake.NewUsers(testUsers...))
			later := &laterQueue{}
			e.worker.Later = later
			b := fallback("u-1")
			process(t, e, b)
			process(t, e, b) // redelivered before any report: nothing more
			if len(e.pusher.sent) != 0 || len(e.mailer.sent) != 1 {
				t.Fatalf("before any report: %d mails, pushes to %v; want the email alone", len(e.mailer.sent), e.pusher.endpoints())
			}
			if len(later.at) == 0 || !later.at[0].Equal(t0.Add(30*time.Minute)) {
				t.Errorf("checks scheduled at %v, want one at %v", later.at, t0.Add(30*time.Minute))
			}
			tc.between(e)
			process(t, e, b)
			process(t, e, b)
			if got := e.pusher.endpoints(); !slices.Equal(got, tc.wantPush) || len(e.mailer.sent) != 1 {
				t.Errorf("pushed to %v and %d mails, want %v and 1", got, len(e.mailer.sent), tc.wantPush)
			}
			snap := snapshot(e.ledger)
			k := ledger.Key{IncidentID: testIncident, NoticeID: incident.NoticeID(0, "account-accessed"), UserID: "u-1", Channel: incident.Email}
			if st := snap[k.String()].Status; st != tc.wantEmail {
				t.Errorf("email %s, want %s", st, tc.wantEmail)
			}
			k.Channel, k.DeviceID = incident.Push, "d1"
			if st := snap[k.String()].Status; st != tc.wantPush0 {
				t.Errorf("push %s (%s), want %s", st, snap[k.String()].Reason, tc.wantPush0)
			}
		})
	}
}
