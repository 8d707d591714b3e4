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

func claim(user string, at time.Time) ledger.Claim {
	return ledger.Claim{Recipient: ledger.Recipient{IncidentID: "INC-1", NoticeID: "n0", UserID: user},
		Template: "account-accessed", Owner: user + at.String(), At: at, LeaseUntil: at.Add(ledger.Lease)}
}

// The rules are package ledger's (tested there); this checks MemLedger
// applies them and counts what DynamoDB would bill.
func TestMemLedgerCountsEveryWrite(t *testing.T) {
	ctx := context.Background()
	l := NewMemLedger()
	rec, err := l.Claim(ctx, claim("u-1", t0))
	if err != nil {
		t.Fatalf("first claim: %v", err)
	}
	if _, err := l.Claim(ctx, claim("u-1", t0.Add(time.Minute))); !errors.Is(err, ledger.ErrInFlight) {
		t.Fatalf("claim during the lease: %v, want ErrInFlight", err)
	}
	k := ledger.Key{IncidentID: "INC-1", NoticeID: "n0", UserID: "u-1", Channel: incident.Email}
	if err := l.Record(ctx, rec, []ledger.Entry{{Key: k, Status: ledger.Sent, ProviderMessageID: "m-1", UpdatedAt: t0}}, t0); err != nil {
		t.Fatalf("record: %v", err)
	}
	if got, _ := l.Entry(k); got.Status != ledger.Sent || got.ProviderMessageID != "m-1" {
		t.Fatalf("entry = %+v", got)
	}
	if _, err := l.Claim(ctx, claim("u-1", t0.Add(24*time.Hour))); !errors.Is(err, ledger.ErrDone) {
		t.Fatalf("claim of a notified recipient: %v, want ErrDone", err)
	}
	if err := l.Record(ctx, rec, nil, t0); !errors.Is(err, ledger.ErrNotOwner) {
		t.Fatalf("second record: %v, want ErrNotOwner", err)
	}
	want := LedgerOps{Claims: 3, ClaimsWon: 1, Records: 2}
	if ops := l.Ops(); ops != want || ops.Writes() != 5 {
		t.Errorf("ops = %+v (writes %d), want %+v (5)", ops, ops.Writes(), want)
	}
}

func TestMemLedgerOneClaimWinsUnderContention(t *testing.T) {
	l := NewMemLedger()
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, inFlight := 0, 0
	for range 64 {
		wg.Go(func() {
			_, err := l.Claim(context.Background(), claim("u-1", t0))
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
