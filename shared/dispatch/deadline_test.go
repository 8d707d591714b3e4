package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"breachnotify/shared/audience"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

// clockLimiter paces on the test's clock as rate.Limiter does on the real
// one: one send per 1/r seconds, a wait that would end after the
// context's deadline refused at once, and the backlog visible as tokens.
type clockLimiter struct {
	mu    sync.Mutex
	clock *clock
	r     float64
	next  time.Time
}

func (l *clockLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := l.clock.Now()
	if l.next.After(at) {
		at = l.next
	}
	if d, ok := ctx.Deadline(); ok && at.After(d) {
		return fmt.Errorf("rate: Wait would exceed context deadline")
	}
	l.clock.t = at
	l.next = at.Add(time.Duration(float64(time.Second) / l.r))
	return nil
}

func (l *clockLimiter) TokensAt(t time.Time) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.next.After(t) {
		return 1
	}
	return 1 - l.next.Sub(t).Seconds()*l.r
}

func (l *clockLimiter) Limit() rate.Limit { return rate.Limit(l.r) }

func users(n int) []audience.User {
	out := make([]audience.User, n)
	for i := range out {
		out[i] = audience.User{ID: fmt.Sprintf("u-%02d", i), Email: fmt.Sprintf("u%02d@example.com", i)}
	}
	return out
}

func ids(us []audience.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

// A worker at 1 send/s with 6 s left, 1 s kept for its closing writes and
// 1 s for a send, paces its last send at 4 s: it takes the five members it
// can reach and returns the other five untouched, as the rest of the batch.
func TestWorkerTakesOnlyTheMembersItHasTimeFor(t *testing.T) {
	all := users(10)
	e := newEnv(fake.NewUsers(all...))
	e.clock.t = time.Now() // the context's deadline is on the real clock
	e.worker.Reserve, e.worker.SendTimeout = time.Second, time.Second
	e.worker.EmailLimiter = &clockLimiter{clock: e.clock, r: 1}
	ctx, cancel := context.WithDeadline(context.Background(), e.clock.Now().Add(6*time.Second))
	defer cancel()

	b := batch("account-accessed", []incident.Channel{incident.Email}, explicit(ids(all)...))
	c, err := e.worker.Process(ctx, b)
	var de *DeferredError
	if !errors.As(err, &de) || errors.Is(err, ErrRetry) {
		t.Fatalf("err = %v, want a DeferredError and no retry", err)
	}
	if len(e.mailer.sent) != 5 || c.Sent != 5 || c.Deferred != 5 || c.Retry != 0 {
		t.Errorf("sent %d (counts %+v), want 5 sent and 5 deferred", len(e.mailer.sent), c)
	}
	if got, want := ids2(de.Rest.Members), ids(all[5:]); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rest %v, want %v", got, want)
	}
	if de.Rest.IncidentID != b.IncidentID || de.Rest.NoticeID != b.NoticeID || de.Rest.Template != b.Template {
		t.Errorf("rest is of %s/%s/%s, want the batch's notice", de.Rest.IncidentID, de.Rest.NoticeID, de.Rest.Template)
	}
	for _, u := range all[5:] {
		if st := recordState(e.ledger, u.ID); st != "" {
			t.Errorf("%s deferred but its record is %s: a member it has no time for is not claimed", u.ID, st)
		}
	}
	body, err := de.Remainder()
	if err != nil {
		t.Fatal(err)
	}
	rest, err := ParseBatch(body)
	if err != nil || len(rest.Members) != 5 {
		t.Errorf("remainder parses to %d members (%v), want 5", len(rest.Members), err)
	}

	// Taken again in the same invocation, it goes back whole and unread.
	reads := 0
	e.worker.Users = usersFunc(func(ctx context.Context, ids []string) (map[string]audience.User, error) {
		reads++
		return fake.NewUsers(all...).Get(ctx, ids)
	})
	c, err = e.worker.Process(ctx, de.Rest)
	if !errors.As(err, &de) || len(de.Rest.Members) != 5 || c.Deferred != 5 || reads != 0 {
		t.Errorf("again past the cutoff: err %v, counts %+v, %d user reads; want the 5 deferred unread", err, c, reads)
	}

	// The rest, processed by an invocation with time, is sent once.
	ctx2, cancel2 := context.WithDeadline(context.Background(), e.clock.Now().Add(time.Minute))
	defer cancel2()
	if _, err := e.worker.Process(ctx2, de.Rest); err != nil {
		t.Fatal(err)
	}
	if len(e.mailer.sent) != 10 {
		t.Errorf("%d sent in all, want each of the 10 once", len(e.mailer.sent))
	}
}

func ids2(ms []audience.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.UserID
	}
	return out
}

// A member claimed in time whose send the limiter then refuses for the
// cutoff goes back with the rest, its record open, and is not a failure.
func TestPacingPastTheCutoffDefersAClaimedMember(t *testing.T) {
	e := newEnv(fake.NewUsers(audience.User{ID: "u-1", Email: "one@example.com"}))
	e.clock.t = time.Now()
	e.worker.Reserve = time.Second
	// No backlog to read: the member is claimed, then refused.
	e.worker.EmailLimiter = &countingLimiter{err: errors.New("rate: Wait would exceed context deadline")}
	ctx, cancel := context.WithDeadline(context.Background(), e.clock.Now().Add(time.Minute))
	defer cancel()
	c, err := e.worker.Process(ctx, batch("account-accessed", []incident.Channel{incident.Email}, explicit("u-1")))
	var de *DeferredError
	if !errors.As(err, &de) || errors.Is(err, ErrRetry) || len(de.Rest.Members) != 1 {
		t.Fatalf("err = %v, want u-1 deferred, not retried", err)
	}
	if c.Retry != 0 || c.Deferred != 1 {
		t.Errorf("counts %+v, want 1 deferred and no retry", c)
	}
	if st := recordState(e.ledger, "u-1"); st != ledger.Open {
		t.Errorf("record %s, want open: the next invocation takes it at once", st)
	}
}

// recordCtxLedger notes whether Record's context was still live.
type recordCtxLedger struct {
	*fake.Ledger
	mu      sync.Mutex
	liveErr []error
}

func (l *recordCtxLedger) Record(ctx context.Context, claimed ledger.Record, outcomes []ledger.Entry, at time.Time) error {
	l.mu.Lock()
	l.liveErr = append(l.liveErr, ctx.Err())
	l.mu.Unlock()
	return l.Ledger.Record(ctx, claimed, outcomes, at)
}

// The invocation's context ends right after a send: the send is still
// recorded, on a context of its own, and so are progress and audit.
func TestClosingWritesOutliveTheInvocationContext(t *testing.T) {
	e := newEnv(fake.NewUsers(audience.User{ID: "u-1", Email: "one@example.com"}))
	e.clock.t = time.Now()
	e.worker.Reserve = 5 * time.Second
	spy := &recordCtxLedger{Ledger: e.ledger}
	e.worker.Ledger = spy
	progress := &ctxCounter{}
	e.worker.Progress = progress
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.mailer.fail = func(Mail) error { cancel(); return nil } // accepted, then the context ends
	if _, err := e.worker.Process(ctx, batch("account-accessed", []incident.Channel{incident.Email}, explicit("u-1"))); err != nil {
		t.Fatal(err)
	}
	if len(spy.liveErr) != 1 || spy.liveErr[0] != nil {
		t.Errorf("Record saw context errors %v, want a live context", spy.liveErr)
	}
	if progress.err != nil || progress.calls != 1 {
		t.Errorf("progress counted %d times, context error %v; want once on a live context", progress.calls, progress.err)
	}
	if got := snapshot(e.ledger)[key("u-1", incident.Email, "").String()]; got.Status != ledger.Sent {
		t.Errorf("ledger status %q, want sent", got.Status)
	}
}

type ctxCounter struct {
	calls int
	err   error
}

func (c *ctxCounter) Count(ctx context.Context, _, _ string, _ map[incident.Channel]map[ledger.Status]int, _, _ time.Time) error {
	c.calls++
	c.err = ctx.Err()
	return c.err
}

func TestClosingIsBoundedByItsBudgetAndTheDeadline(t *testing.T) {
	tests := []struct {
		name     string
		deadline time.Duration // from now; 0 for none
		budget   time.Duration
		want     time.Duration
	}{
		{"budget first", time.Minute, 2 * time.Second, 2 * time.Second},
		{"deadline first", time.Second, 5 * time.Second, time.Second},
		{"no deadline", 0, 3 * time.Second, 3 * time.Second},
		{"no budget: the deadline", 2 * time.Second, 0, 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			if tc.deadline > 0 {
				ctx, cancel = context.WithTimeout(context.Background(), tc.deadline)
			}
			cancel() // the invocation's context is over
			closing, stop := Closing(ctx, tc.budget)
			defer stop()
			if closing.Err() != nil && tc.deadline == 0 {
				t.Fatalf("closing context ended with its parent: %v", closing.Err())
			}
			d, ok := closing.Deadline()
			if !ok {
				t.Fatal("closing context has no deadline")
			}
			if got := time.Until(d); got > tc.want || got < tc.want-time.Second {
				t.Errorf("closing budget %s, want about %s", got, tc.want)
			}
		})
	}
}
