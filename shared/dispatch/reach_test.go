package dispatch

import (
	"context"
	"slices"
	"testing"

	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

type addressSet map[string]bool

func (a addressSet) Unreachable(_ context.Context, hashes []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, h := range hashes {
		if a[h] {
			out[h] = true
		}
	}
	return out, nil
}

type reachCounts map[ledger.Reach]int

func (r reachCounts) CountReach(_ context.Context, _, _ string, delta map[ledger.Reach]int) error {
	for k, n := range delta {
		r[k] += n
	}
	return nil
}

// An address that bounced for good or complained in an earlier incident
// is not mailed again: its email is skipped as suppressed, and a user
// with no other way is counted unreachable; the push still goes.
func TestProcessSkipsUnreachableAddresses(t *testing.T) {
	e := newEnv(fake.NewUsers(testUsers...))
	reach := reachCounts{}
	e.worker.Addresses = addressSet{ledger.AddressHash(" Bo@Example.com"): true, ledger.AddressHash("nodev@example.com"): true}
	e.worker.Reach = reach
	if _, err := e.worker.Process(context.Background(), batch("account-accessed", emailPush, explicit("u-1", "u-2", "u-nodev"))); err != nil {
		t.Fatal(err)
	}
	if got := e.mailer.to(); !slices.Equal(got, []string{"ana@example.com"}) {
		t.Errorf("mailed %q, want only ana@example.com", got)
	}
	snap := snapshot(e.ledger)
	for _, user := range []string{"u-2", "u-nodev"} {
		k := ledger.Key{IncidentID: testIncident, NoticeID: incident.NoticeID(0, "account-accessed"), UserID: user, Channel: incident.Email}
		if d := snap[k.String()]; d.Status != ledger.Skipped || d.Reason != ledger.AddressSuppressed {
			t.Errorf("%s email: %s (%s), want skipped as %s", user, d.Status, d.Reason, ledger.AddressSuppressed)
		}
	}
	// u-1 and u-2 by push; u-nodev has none.
	if reach[ledger.Reached] != 2 || reach[ledger.Unreachable] != 1 {
		t.Errorf("reach counted %v, want 2 reached and 1 unreachable", reach)
	}
}
