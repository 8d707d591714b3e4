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
	// record claims a user's record and, unless s is "", records the email
	// as s.
	record := func(i int, s ledger.Status) {
		k := ledger.Key{IncidentID: "INC-1", NoticeID: NoticeID, UserID: users[i].ID, Channel: incident.Email}
		rec, err := l.Claim(ctx, ledger.Claim{Recipient: k.Recipient(), Owner: "w", At: t0, LeaseUntil: t0.Add(ledger.Lease)})
		if err != nil {
			t.Fatal(err)
		}
		if s != "" {
			if err := l.Record(ctx, rec, []ledger.Entry{{Key: k, Status: s, UpdatedAt: t0}}, t0); err != nil {
				t.Fatal(err)
			}
		}
	}
	record(0, ledger.Sent)
	record(1, ledger.Sent)
	record(2, ledger.Failed) // rejected for good: not lost
	record(4, "")            // accepted, never recorded
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
