package dispatch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"breachnotify/shared/audience"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

// countingLimiter counts Waits and can refuse them.
type countingLimiter struct {
	waits atomic.Int64
	err   error
}

func (l *countingLimiter) Wait(context.Context) error {
	l.waits.Add(1)
	return l.err
}

func TestLimitersArePaidOncePerSend(t *testing.T) {
	users := []audience.User{
		{ID: "u-1", Email: "one@example.com", Devices: []audience.Device{device("d-1", "android"), device("d-2", "ios")}},
		{ID: "u-2"}, // nothing to send to: no quota spent
	}
	e := newEnv(fake.NewUsers(users...))
	email, push := &countingLimiter{}, &countingLimiter{}
	e.worker.EmailLimiter, e.worker.PushLimiter = email, push
	b := batch("account-accessed", []incident.Channel{incident.Email, incident.Push}, explicit("u-1", "u-2"))
	for range 2 { // the second run finds everything done and must not pay again
		if _, err := e.worker.Process(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	if email.waits.Load() != 1 || push.waits.Load() != 2 {
		t.Errorf("email waits %d, push waits %d; want 1 and 2", email.waits.Load(), push.waits.Load())
	}
}

func TestLimiterRefusalLeavesTheRecordOpen(t *testing.T) {
	e := newEnv(fake.NewUsers(audience.User{ID: "u-1", Email: "one@example.com"}))
	e.worker.EmailLimiter = &countingLimiter{err: context.DeadlineExceeded}
	b := batch("account-accessed", []incident.Channel{incident.Email}, explicit("u-1"))
	_, err := e.worker.Process(context.Background(), b)
	if !errors.Is(err, ErrRetry) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrRetry wrapping the deadline", err)
	}
	if len(e.mailer.sent) != 0 {
		t.Error("sent although the limiter refused")
	}
	if st := recordState(e.ledger, "u-1"); st != ledger.Open {
		t.Errorf("record %s, want open: a redelivery must be able to take it at once", st)
	}
	if got := snapshot(e.ledger)[key("u-1", incident.Email, "").String()]; got.Status != ledger.Pending {
		t.Errorf("delivery %s, want pending", got.Status)
	}
}

// gateMailer blocks every send until want sends are in flight at once.
type gateMailer struct {
	mu       sync.Mutex
	inFlight int
	peak     int
	want     int
	release  chan struct{}
	open     sync.Once
}

func (g *gateMailer) Send(ctx context.Context, m Mail) (string, error) {
	g.mu.Lock()
	g.inFlight++
	g.peak = max(g.peak, g.inFlight)
	if g.inFlight == g.want {
		g.open.Do(func() { close(g.release) })
	}
	g.mu.Unlock()
	select {
	case <-g.release:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	g.mu.Lock()
	g.inFlight--
	g.mu.Unlock()
	return "id-" + m.To, nil
}

func TestParallelSendsWithinABatch(t *testing.T) {
	var users []audience.User
	var ids []string
	for _, id := range []string{"u-1", "u-2", "u-3", "u-4", "u-5", "u-6"} {
		users = append(users, audience.User{ID: id, Email: id + "@example.com"})
		ids = append(ids, id)
	}
	tests := []struct {
		parallel, wantPeak int
	}{{1, 1}, {4, 4}, {16, 6}}
	for _, tc := range tests {
		t.Run("", func(t *testing.T) {
			e := newEnv(fake.NewUsers(users...))
			g := &gateMailer{want: tc.wantPeak, release: make(chan struct{})}
			e.worker.Mailer, e.worker.Parallel = g, tc.parallel
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := e.worker.Process(ctx, batch("account-accessed", []incident.Channel{incident.Email}, explicit(ids...)))
			if err != nil || c.Sent != 6 {
				t.Fatalf("sent %d, err %v (a gate that never opened means fewer sends were in flight than Parallel)", c.Sent, err)
			}
			if g.peak > tc.parallel {
				t.Errorf("peak %d sends in flight, more than Parallel %d", g.peak, tc.parallel)
			}
			for _, en := range snapshot(e.ledger) {
				if en.Status != ledger.Sent {
					t.Errorf("%s is %s", en.Key, en.Status)
				}
			}
		})
	}
}

func TestRetryableSendsAreRetriedInProcessAndPaced(t *testing.T) {
	throttled := &SendError{Class: Retryable, Reason: "TooManyRequestsException", Err: errors.New("slow down")}
	rejected := &SendError{Class: Permanent, Reason: "MessageRejected", Err: errors.New("no")}
	tests := []struct {
		name                 string
		attempts             int
		failures             []error
		wantCalls, wantWaits int
		wantStatus           ledger.Status
		wantRetry            bool
	}{
		{"throttled twice, then sent", 4, []error{throttled, throttled}, 3, 3, ledger.Sent, false},
		{"throttled every time", 3, []error{throttled, throttled, throttled, throttled}, 3, 3, ledger.Pending, true},
		{"a permanent error is not retried", 4, []error{rejected}, 1, 1, ledger.Failed, false},
		{"no attempts configured means one", 0, []error{throttled}, 1, 1, ledger.Pending, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(fake.NewUsers(audience.User{ID: "u-1", Email: "one@example.com"}))
			lim := &countingLimiter{}
			e.worker.EmailLimiter, e.worker.SendAttempts = lim, tc.attempts
			calls := 0
			e.mailer.fail = func(Mail) error {
				calls++
				if calls <= len(tc.failures) {
					return tc.failures[calls-1]
				}
				return nil
			}
			_, err := e.worker.Process(context.Background(), batch("account-accessed", []incident.Channel{incident.Email}, explicit("u-1")))
			if errors.Is(err, ErrRetry) != tc.wantRetry {
				t.Errorf("err = %v, want retry %v", err, tc.wantRetry)
			}
			if calls != tc.wantCalls || int(lim.waits.Load()) != tc.wantWaits {
				t.Errorf("%d sends and %d limiter waits, want %d and %d", calls, lim.waits.Load(), tc.wantCalls, tc.wantWaits)
			}
			got := snapshot(e.ledger)[key("u-1", incident.Email, "").String()]
			if got.Status != tc.wantStatus {
				t.Errorf("ledger status %q, want %q", got.Status, tc.wantStatus)
			}
		})
	}
}

func TestClaimLeaseEndsSoonAfterTheDeadline(t *testing.T) {
	tests := []struct {
		name      string
		deadline  time.Duration // from the clock's now; 0 for none
		wantLease time.Duration
	}{
		{"invocation deadline", time.Minute, time.Minute + ledger.LeaseMargin},
		{"no deadline", 0, ledger.Lease},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(fake.NewUsers(audience.User{ID: "u-1", Email: "one@example.com"}))
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, e.clock.Now().Add(tc.deadline))
				defer cancel()
			}
			// The send never returns: the worker "dies" holding its claim.
			e.mailer.fail = func(Mail) error { return &SendError{Class: Retryable, Reason: "x", Err: errors.New("x")} }
			e.worker.Ledger = &leaseSpy{Ledger: e.ledger}
			if _, err := e.worker.Process(ctx, batch("account-accessed", []incident.Channel{incident.Email}, explicit("u-1"))); err == nil {
				t.Fatal("want a retry")
			}
			spy := e.worker.Ledger.(*leaseSpy)
			if got := spy.lease.Sub(e.clock.Now()); got != tc.wantLease {
				t.Errorf("claim lasts %s, want %s", got, tc.wantLease)
			}
		})
	}
}

// leaseSpy records the lease of the last claim.
type leaseSpy struct {
	*fake.Ledger
	lease time.Time
}

func (s *leaseSpy) Claim(ctx context.Context, c ledger.Claim) (ledger.Record, error) {
	s.lease = c.LeaseUntil
	return s.Ledger.Claim(ctx, c)
}

// inFlightLedger reports every claim as held by another worker until until.
type inFlightLedger struct {
	*fake.Ledger
	until time.Time
}

func (l *inFlightLedger) Claim(context.Context, ledger.Claim) (ledger.Record, error) {
	return ledger.Record{}, &ledger.InFlightError{Until: l.until}
}

func TestAClaimHeldElsewhereSaysWhenToRetry(t *testing.T) {
	e := newEnv(fake.NewUsers(audience.User{ID: "u-1", Email: "one@example.com"}))
	until := t0.Add(80 * time.Second)
	e.worker.Ledger = &inFlightLedger{Ledger: e.ledger, until: until}
	_, err := e.worker.Process(context.Background(), batch("account-accessed", []incident.Channel{incident.Email}, explicit("u-1")))
	var ra interface{ RetryAt() time.Time }
	if !errors.Is(err, ErrRetry) || !errors.As(err, &ra) || !ra.RetryAt().Equal(until) {
		t.Fatalf("err = %v, want ErrRetry with RetryAt %s", err, until)
	}
	if len(e.mailer.sent) != 0 {
		t.Error("sent a delivery another worker holds")
	}
}
