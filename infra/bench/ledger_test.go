package bench

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

var t0 = time.Date(2014, 5, 27, 10, 0, 0, 0, time.UTC)

func entry(user string, s ledger.Status, at time.Time) ledger.Entry {
	return ledger.Entry{Key: ledger.Key{IncidentID: "INC-1", NoticeID: "n0", UserID: user, Channel: incident.Email},
		Template: "account-accessed", Status: s, UpdatedAt: at}
}

func TestMemLedgerContract(t *testing.T) {
	ctx := context.Background()
	l := NewMemLedger()
	e := entry("u-1", ledger.Claimed, t0)
	if err := l.Claim(ctx, e, t0.Add(ledger.Lease)); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	if err := l.Claim(ctx, entry("u-1", ledger.Claimed, t0.Add(time.Minute)), t0.Add(time.Minute+ledger.Lease)); !errors.Is(err, ledger.ErrInFlight) {
		t.Fatalf("claim during the lease: %v, want ErrInFlight", err)
	}
	// The lease has ended: the claim of a dead worker is taken over.
	late := t0.Add(ledger.Lease + time.Second)
	if err := l.Claim(ctx, entry("u-1", ledger.Claimed, late), late.Add(ledger.Lease)); err != nil {
		t.Fatalf("claim after the lease: %v", err)
	}
	if err := l.Finish(ctx, entry("u-1", ledger.Claimed, late)); err == nil {
		t.Fatal("Finish with a non-terminal status succeeded")
	}
	sent := entry("u-1", ledger.Sent, late)
	sent.ProviderMessageID = "m-1"
	if err := l.Finish(ctx, sent); err != nil {
		t.Fatalf("finish: %v", err)
	}
	if got, _ := l.Entry(sent.Key); got.Status != ledger.Sent || got.ProviderMessageID != "m-1" {
		t.Fatalf("entry = %+v", got)
	}
	far := t0.Add(24 * time.Hour)
	if err := l.Claim(ctx, entry("u-1", ledger.Claimed, far), far.Add(ledger.Lease)); !errors.Is(err, ledger.ErrDone) {
		t.Fatalf("claim of a sent delivery: %v, want ErrDone", err)
	}
	if err := l.Finish(ctx, sent); err == nil {
		t.Fatal("Finish of a finished delivery succeeded")
	}
	if err := l.Release(ctx, sent.Key); err == nil {
		t.Fatal("Release of a finished delivery succeeded")
	}

	// Release gives a claim up at once; a release of nothing fails.
	if err := l.Release(ctx, entry("u-2", "", t0).Key); err == nil {
		t.Fatal("Release of an unknown delivery succeeded")
	}
	if err := l.Claim(ctx, entry("u-2", ledger.Claimed, t0), t0.Add(ledger.Lease)); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx, entry("u-2", "", t0).Key); err != nil {
		t.Fatalf("release: %v", err)
	}
	if err := l.Claim(ctx, entry("u-2", ledger.Claimed, t0), t0.Add(ledger.Lease)); err != nil {
		t.Fatalf("claim after release: %v", err)
	}

	// A terminal claim decides a delivery in one write.
	if err := l.Claim(ctx, entry("u-3", ledger.Skipped, t0), t0); err != nil {
		t.Fatal(err)
	}
	if err := l.Claim(ctx, entry("u-3", ledger.Claimed, far), far.Add(ledger.Lease)); !errors.Is(err, ledger.ErrDone) {
		t.Fatalf("claim of a skipped delivery: %v, want ErrDone", err)
	}

	ops := l.Ops()
	want := LedgerOps{Claims: 8, ClaimsWon: 5, Finishes: 3, Releases: 3}
	if ops != want {
		t.Errorf("ops = %+v, want %+v", ops, want)
	}
	if ops.Writes() != 14 {
		t.Errorf("writes = %d, want 14", ops.Writes())
	}
}

func TestMemLedgerOneClaimWinsUnderContention(t *testing.T) {
	l := NewMemLedger()
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, inFlight := 0, 0
	for range 64 {
		wg.Go(func() {
			err := l.Claim(context.Background(), entry("u-1", ledger.Claimed, t0), t0.Add(ledger.Lease))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, ledger.ErrInFlight):
				inFlight++
			default:
				t.Errorf("claim: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 || inFlight != 63 {
		t.Errorf("won %d, in flight %d; want 1 and 63", won, inFlight)
	}
}
