package bench

import (
	"context"
	"testing"
	"time"

	"breachnotify/infra/faultserver"
)

func startServer(t *testing.T, cfg faultserver.Config) *faultserver.Server {
	t.Helper()
	srv, err := faultserver.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func runFleet(t *testing.T, srv *faultserver.Server, f Fleet) FleetResult {
	t.Helper()
	f.Server = srv
	f.SES, f.Dials = SESClient(srv.URL(), 256)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := f.Run(ctx)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return r
}

// A small fleet at the quota: everyone once, permanent rejections recorded
// rather than lost, no 429 from the rate limit.
func TestFleetSmall(t *testing.T) {
	users := SyntheticUsers(500)
	srv := startServer(t, faultserver.Config{EmailRate: 1000, Latency: 30 * time.Millisecond,
		FailRecipients: map[string]string{users[7].Email: "MessageRejected", users[300].Email: "MessageRejected"}})
	// Two messages per invocation: several workers share the ten batches,
	// and each processes more than one message per invocation.
	r := runFleet(t, srv, Fleet{Users: users, Rate: 1000, Workers: 10, PerReceive: 2})
	a := r.Acct
	if a.Lost != 0 || a.Duplicates != 0 || a.Failed != 2 || a.Delivered != 498 || a.Unrecorded != 0 || a.Strangers != 0 {
		t.Errorf("accounting %+v", a)
	}
	if r.Stats.Throttled != 0 {
		t.Errorf("%d calls throttled by the rate limit; the fleet's pacing should stay within it", r.Stats.Throttled)
	}
	if r.Batches != 10 || r.Parallel != 20 || r.Share != 100 {
		t.Errorf("batches %d, parallel %d, share %v", r.Batches, r.Parallel, r.Share)
	}
	// claim + record per recipient; the two rejected are recorded as failed.
	if r.Ledger.Writes() != 1000 || r.Ledger.Claims != 500 {
		t.Errorf("ledger ops %+v", r.Ledger)
	}
	if r.Dials < 1 || r.Dials > 200 {
		t.Errorf("%d connections dialled; at most Workers × Parallel are ever needed", r.Dials)
	}
	if r.Rate <= 0 || r.Rate > 1000*1.05 {
		t.Errorf("rate %.0f/s", r.Rate)
	}
}

// With random throttling and 5xx the batches are retried until everyone is
// reached, once. One message per invocation spreads ten batches over the ten
// workers; with ten per invocation one worker would take them all and the
// SDK's throttling backoff would make the test slow.
func TestFleetFaults(t *testing.T) {
	users := SyntheticUsers(500)
	srv := startServer(t, faultserver.Config{EmailRate: 1000, Latency: 10 * time.Millisecond,
		EmailThrottlePercent: 20, EmailServerErrorPercent: 5, Seed: 7})
	r := runFleet(t, srv, Fleet{Users: users, Rate: 1000, Workers: 10, PerReceive: 1, RetryBase: 50 * time.Millisecond})
	if a := r.Acct; a.Lost != 0 || a.Duplicates != 0 || a.Delivered != 500 || a.Unrecorded != 0 {
		t.Errorf("accounting %+v", a)
	}
	if len(r.Stats.Injected) == 0 || r.Stats.Requests <= 500 {
		t.Errorf("no faults injected? %+v", r.Stats)
	}
}

// A provider that never recovers: every batch ends in the dead-letter
// queue, and the accounting calls its recipients lost.
func TestFleetDeadLetterIsLost(t *testing.T) {
	users := SyntheticUsers(100)
	srv := startServer(t, faultserver.Config{EmailServerErrorPercent: 100})
	r := runFleet(t, srv, Fleet{Users: users, Rate: 1000, Workers: 2, MaxReceives: 2, RetryBase: 10 * time.Millisecond})
	if r.DeadLettered != 2 || r.Retried != 2 || r.Receives != 4 {
		t.Errorf("dead-lettered %d, retried %d, receives %d", r.DeadLettered, r.Retried, r.Receives)
	}
	if a := r.Acct; a.Lost != 100 || a.Delivered != 0 {
		t.Errorf("accounting %+v", a)
	}
	// 4 attempts per send by the worker (the SDK makes one), two receives.
	if r.Stats.Requests != 800 {
		t.Errorf("requests %d, want 800", r.Stats.Requests)
	}
}

func TestBaseline(t *testing.T) {
	srv := startServer(t, faultserver.Config{EmailRate: 1000, Latency: 5 * time.Millisecond})
	ses, _ := SESClient(srv.URL(), 16)
	r, err := Baseline(context.Background(), srv, ses, SyntheticUsers(20))
	if err != nil {
		t.Fatal(err)
	}
	if r.Accepted != 20 || r.Errors != 0 || r.Rate <= 0 || r.Rate > 200 {
		t.Errorf("baseline %+v", r)
	}
}
