package feedback_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"breachnotify/shared/feedback"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

type fakeLedger struct {
	known   map[ledger.Recipient]bool
	applied []ledger.Feedback
	after   ledger.Reach
	record  ledger.Record
}

func (f *fakeLedger) Apply(_ context.Context, fb ledger.Feedback) (feedback.Applied, error) {
	if !f.known[fb.Recipient()] {
		return feedback.Applied{}, feedback.ErrUnknown
	}
	f.applied = append(f.applied, fb)
	return feedback.Applied{Moved: true, Before: ledger.ReachPending, After: f.after, Record: f.record}, nil
}

type fakeQueue struct{ sent []string }

func (q *fakeQueue) Send(_ context.Context, bodies [][]byte) error {
	for _, b := range bodies {
		q.sent = append(q.sent, string(b))
	}
	return nil
}

type fakeReach map[ledger.Reach]int

func (f fakeReach) CountReach(_ context.Context, _, _ string, delta map[ledger.Reach]int) error {
	for r, n := range delta {
		f[r] += n
	}
	return nil
}

type fakeAside struct{ kept []feedback.Unmatched }

func (f *fakeAside) KeepAside(_ context.Context, u feedback.Unmatched) error {
	f.kept = append(f.kept, u)
	return nil
}

type fakeAddresses struct{ marked map[string]string }

func (f *fakeAddresses) MarkUnreachable(_ context.Context, hash, reason string, _ time.Time) error {
	f.marked[hash] = reason
	return nil
}

func sesEvent(t *testing.T, detailType string, detail map[string]any) events.EventBridgeEvent {
	t.Helper()
	b, err := json.Marshal(detail)
	if err != nil {
		t.Fatal(err)
	}
	return events.EventBridgeEvent{Source: "aws.ses", DetailType: detailType, Detail: b}
}

func TestSESReports(t *testing.T) {
	r := ledger.Recipient{IncidentID: "INC-1", NoticeID: "n0-account-accessed", UserID: "u-1"}
	mail := map[string]any{"messageId": "m-1", "timestamp": "2026-11-30T10:00:00Z", "destination": []string{"a@example.com"},
		"tags": map[string][]string{"incident": {"INC-1"}, "notice": {"n0-account-accessed"}, "user": {"u-1"}}}
	for _, tc := range []struct {
		name       string
		detailType string
		detail     map[string]any
		want       ledger.Status
		reason     string
		unreach    bool
	}{
		{"delivered", feedback.EmailDelivered, map[string]any{"mail": mail, "delivery": map[string]any{"timestamp": "2026-11-30T10:00:01Z"}}, ledger.Delivered, "", false},
		{"delayed", feedback.EmailDeliveryDelayed, map[string]any{"mail": mail, "deliveryDelay": map[string]any{"delayType": "MailboxFull"}}, ledger.Delayed, "MailboxFull", false},
		{"permanent bounce", feedback.EmailBounced, map[string]any{"mail": mail, "bounce": map[string]any{"bounceType": "Permanent", "bounceSubType": "General",
			"bouncedRecipients": []map[string]string{{"emailAddress": "a@example.com"}}}}, ledger.Bounced, "Permanent/General", true},
		{"transient bounce", feedback.EmailBounced, map[string]any{"mail": mail, "bounce": map[string]any{"bounceType": "Transient", "bounceSubType": "MailboxFull",
			"bouncedRecipients": []map[string]string{{"emailAddress": "a@example.com"}}}}, ledger.Bounced, "Transient/MailboxFull", false},
		{"suppressed as a bounce", feedback.EmailBounced, map[string]any{"mail": mail, "bounce": map[string]any{"bounceType": "Permanent", "bounceSubType": "OnAccountSuppressionList",
			"bouncedRecipients": []map[string]string{{"emailAddress": "a@example.com"}}}}, ledger.Suppressed, "Permanent/OnAccountSuppressionList", false},
		{"suppressed as a reject", feedback.EmailRejected, map[string]any{"mail": mail, "reject": map[string]any{"reason": "Address is on the account suppression list"}}, ledger.Suppressed, "OnAccountSuppressionList", false},
		{"rejected", feedback.EmailRejected, map[string]any{"mail": mail, "reject": map[string]any{"reason": "Bad content"}}, ledger.Rejected, "Bad content", false},
		{"complaint", feedback.EmailComplaint, map[string]any{"mail": mail, "complaint": map[string]any{"complaintFeedbackType": "abuse",
			"complainedRecipients": []map[string]string{{"emailAddress": "a@example.com"}}}}, ledger.Complained, "abuse", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, aside, addrs := &fakeLedger{known: map[ledger.Recipient]bool{r: true}, after: ledger.Reached}, &fakeAside{}, &fakeAddresses{marked: map[string]string{}}
			reach := fakeReach{}
			h := &feedback.Handler{Ledger: l, Aside: aside, Addresses: addrs, Reach: reach, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			if _, err := h.Handle(context.Background(), feedback.Event{EventBridgeEvent: sesEvent(t, tc.detailType, tc.detail)}); err != nil {
				t.Fatal(err)
			}
			if len(l.applied) != 1 || len(aside.kept) != 0 {
				t.Fatalf("applied %v, kept aside %v", l.applied, aside.kept)
			}
			f := l.applied[0]
			want := ledger.Key{IncidentID: r.IncidentID, NoticeID: r.NoticeID, UserID: r.UserID, Channel: incident.Email}
			if f.Key != want || f.Status != tc.want || f.Reason != tc.reason || f.MessageID != "m-1" {
				t.Errorf("applied %+v, want %s %s (%s)", f, want, tc.want, tc.reason)
			}
			_, marked := addrs.marked[ledger.AddressHash(" A@Example.com")]
			if marked != tc.unreach || (len(addrs.marked) > 0) != tc.unreach {
				t.Errorf("address marked unreachable: %v, want %v", addrs.marked, tc.unreach)
			}
			if len(reach) != 1 || reach[ledger.Reached] != 1 {
				t.Errorf("reach counted %v, want one more reached", reach)
			}
		})
	}
}

// A report on a delivery the ledger does not know, or with no tags, is
// kept aside without the address it names; an untracked event is ignored.
func TestUnmatchedReportsAreKeptAside(t *testing.T) {
	l, aside := &fakeLedger{known: map[ledger.Recipient]bool{}}, &fakeAside{}
	h := &feedback.Handler{Ledger: l, Aside: aside, Addresses: &fakeAddresses{marked: map[string]string{}}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx := context.Background()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "ses-bounce.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sample feedback.Event
	if err := json.Unmarshal(b, &sample); err != nil {
		t.Fatal(err)
	}
	untagged := sesEvent(t, feedback.EmailDelivered, map[string]any{"mail": map[string]any{"messageId": "m-2"}, "delivery": map[string]any{}})
	opened := sesEvent(t, "Email Opened", map[string]any{"mail": map[string]any{"messageId": "m-3"}})
	for _, ev := range []events.EventBridgeEvent{sample.EventBridgeEvent, untagged, opened} {
		if _, err := h.Handle(ctx, feedback.Event{EventBridgeEvent: ev}); err != nil {
			t.Fatal(err)
		}
	}
	if len(aside.kept) != 2 || aside.kept[0].MessageID != "0100018c-sample-message-000000" || aside.kept[1].MessageID != "m-2" {
		t.Fatalf("kept aside %+v, want the sample's and the untagged report", aside.kept)
	}
	for _, u := range aside.kept {
		if b, _ := json.Marshal(u); json.Valid(b) && containsAt(string(b)) {
			t.Errorf("kept aside with an address: %s", b)
		}
	}
}

func containsAt(s string) bool {
	for _, c := range s {
		if c == '@' {
			return true
		}
	}
	return false
}

// A fallback notice's next channel is queued when its recipient's delivery
// fails for good, and only then.
func TestFailureQueuesTheFallback(t *testing.T) {
	r := ledger.Recipient{IncidentID: "INC-1", NoticeID: "n1-account-accessed", UserID: "u-1"}
	waiting := ledger.Record{Recipient: r, State: ledger.Open, Next: `{"next":1}`, Deliveries: []ledger.Entry{
		{Key: ledger.Key{Channel: incident.Email}, Status: ledger.Sent},
		{Key: ledger.Key{Channel: incident.Push, DeviceID: "d-1"}, Status: ledger.Pending, Reason: ledger.Fallback},
	}}
	mail := map[string]any{"messageId": "m-1", "timestamp": "2026-11-30T10:00:00Z",
		"tags": map[string][]string{"incident": {"INC-1"}, "notice": {"n1-account-accessed"}, "user": {"u-1"}}}
	bounce := map[string]any{"mail": mail, "bounce": map[string]any{"bounceType": "Permanent", "bounceSubType": "General"}}
	delivered := map[string]any{"mail": mail, "delivery": map[string]any{"timestamp": "2026-11-30T10:00:01Z"}}
	for _, tc := range []struct {
		name       string
		detailType string
		detail     map[string]any
		record     ledger.Record
		want       int
	}{
		{"bounced, push waiting", feedback.EmailBounced, bounce, waiting, 1},
		{"delivered, push waiting", feedback.EmailDelivered, delivered, waiting, 0},
		{"bounced, not a fallback notice", feedback.EmailBounced, bounce, ledger.Record{Recipient: r, State: ledger.Done}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &fakeQueue{}
			h := &feedback.Handler{Ledger: &fakeLedger{known: map[ledger.Recipient]bool{r: true}, after: ledger.ReachPending, record: tc.record},
				Aside: &fakeAside{}, Addresses: &fakeAddresses{marked: map[string]string{}}, Reach: fakeReach{}, Queue: q,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			if _, err := h.Handle(context.Background(), feedback.Event{EventBridgeEvent: sesEvent(t, tc.detailType, tc.detail)}); err != nil {
				t.Fatal(err)
			}
			if len(q.sent) != tc.want || (tc.want == 1 && q.sent[0] != waiting.Next) {
				t.Errorf("queued %q, want %d of %q", q.sent, tc.want, waiting.Next)
			}
		})
	}
}
