package bench

import (
	"context"
	"testing"

	"breachnotify/infra/faultserver"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

func TestAccount(t *testing.T) {
	users := SyntheticUsers(5)
	l := NewMemLedger()
	ctx := context.Background()
	record := func(i int, s ledger.Status) {
		e := ledger.Entry{Key: ledger.Key{IncidentID: "INC-1", NoticeID: NoticeID, UserID: users[i].ID, Channel: incident.Email}, Status: ledger.Claimed, UpdatedAt: t0}
		if err := l.Claim(ctx, e, t0.Add(ledger.Lease)); err != nil {
			t.Fatal(err)
		}
		if s != ledger.Claimed {
			e.Status = s
			if err := l.Finish(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	record(0, ledger.Sent)
	record(1, ledger.Sent)
	record(2, ledger.Failed)  // rejected for good: not lost
	record(4, ledger.Claimed) // accepted, never recorded
	mail := func(to string) faultserver.Message { return faultserver.Message{Channel: "email", To: to} }
	accepted := []faultserver.Message{
		mail(users[0].Email), mail(users[1].Email), mail(users[1].Email), mail(users[1].Email),
		mail("someone@example.org"), mail(users[4].Email),
		{Channel: "push", TargetARN: "arn:aws:sns:us-east-1:1:endpoint/GCM/app/x"},
	}
	// users[3] has nothing: lost.
	got := Account(users, accepted, l, "INC-1", NoticeID)
	want := Accounting{Recipients: 5, Accepted: 5, Delivered: 3, Duplicates: 1, Extra: 2, Failed: 1, Lost: 1, Unrecorded: 1, Strangers: 1}
	if got != want {
		t.Errorf("Account = %+v\nwant      %+v", got, want)
	}
}
