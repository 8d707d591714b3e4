package ledger_test

import (
	"testing"
	"time"

	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

// Feedback moves a delivery forward only, whatever order and however often
// the provider's events arrive.
func TestFeedbackMovesForwardOnly(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	sent := ledger.Entry{Key: ledger.Key{IncidentID: "i", NoticeID: "n", UserID: "u", Channel: incident.Email}, Status: ledger.Sent, UpdatedAt: t0}
	fb := func(st ledger.Status, why string, min int) ledger.Feedback {
		return ledger.Feedback{Key: sent.Key, Status: st, Reason: why, At: t0.Add(time.Duration(min) * time.Minute)}
	}
	for _, tc := range []struct {
		name   string
		events []ledger.Feedback
		want   ledger.Status
		reason string
	}{
		{"delivered", []ledger.Feedback{fb(ledger.Delivered, "", 1)}, ledger.Delivered, ""},
		{"delayed then delivered", []ledger.Feedback{fb(ledger.Delayed, "", 1), fb(ledger.Delivered, "", 2)}, ledger.Delivered, ""},
		{"delivered then a late delay", []ledger.Feedback{fb(ledger.Delivered, "", 2), fb(ledger.Delayed, "", 1)}, ledger.Delivered, ""},
		{"delivered then complained", []ledger.Feedback{fb(ledger.Delivered, "", 1), fb(ledger.Complained, "abuse", 5)}, ledger.Complained, "abuse"},
		{"complaint before its delivery", []ledger.Feedback{fb(ledger.Complained, "abuse", 5), fb(ledger.Delivered, "", 1)}, ledger.Complained, "abuse"},
		{"bounce twice", []ledger.Feedback{fb(ledger.Bounced, "Permanent/General", 1), fb(ledger.Bounced, "Permanent/General", 1)}, ledger.Bounced, "Permanent/General"},
		{"the first end stays", []ledger.Feedback{fb(ledger.Suppressed, "OnAccountSuppressionList", 1), fb(ledger.Rejected, "Bad content", 2)}, ledger.Suppressed, "OnAccountSuppressionList"},
		{"a sent event changes nothing", []ledger.Feedback{fb(ledger.Sent, "", 1)}, ledger.Sent, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := sent
			for _, f := range tc.events {
				e, _ = e.Apply(f)
			}
			if e.Status != tc.want || e.Reason != tc.reason {
				t.Errorf("status %s (%s), want %s (%s)", e.Status, e.Reason, tc.want, tc.reason)
			}
		})
	}
	t.Run("a failed send takes no feedback", func(t *testing.T) {
		failed := sent
		failed.Status = ledger.Failed
		if _, ok := failed.Apply(fb(ledger.Delivered, "", 1)); ok {
			t.Error("a delivery refused at the send was marked delivered")
		}
	})
}

func TestReachOf(t *testing.T) {
	d := func(ch incident.Channel, st ledger.Status, why string) ledger.Entry {
		return ledger.Entry{Key: ledger.Key{Channel: ch}, Status: st, Reason: why}
	}
	for _, tc := range []struct {
		name string
		ds   []ledger.Entry
		want ledger.Reach
		why  string
	}{
		{"email delivered", []ledger.Entry{d(incident.Email, ledger.Delivered, "")}, ledger.Reached, ""},
		{"complained was delivered", []ledger.Entry{d(incident.Email, ledger.Complained, "")}, ledger.Reached, ""},
		{"email sent, no report yet", []ledger.Entry{d(incident.Email, ledger.Sent, "")}, ledger.ReachPending, ""},
		{"email delayed", []ledger.Entry{d(incident.Email, ledger.Delayed, "")}, ledger.ReachPending, ""},
		{"push accepted", []ledger.Entry{d(incident.Email, ledger.Bounced, "Permanent/General"), d(incident.Push, ledger.Sent, "")}, ledger.Reached, ""},
		{"bounced and no device", []ledger.Entry{d(incident.Email, ledger.Bounced, "Permanent/General"), d(incident.Push, ledger.Skipped, ledger.NoDevice)},
			ledger.Unreachable, "email:bounced:Permanent/General; push:skipped:no-device"},
		{"endpoint disabled", []ledger.Entry{d(incident.Push, ledger.EndpointDisabled, "InvalidPlatformToken")}, ledger.Unreachable, "push:endpoint-disabled:InvalidPlatformToken"},
		{"suppressed, push still to send", []ledger.Entry{d(incident.Email, ledger.Suppressed, ""), d(incident.Push, ledger.Pending, "throttled")}, ledger.ReachPending, ""},
		{"no channel", []ledger.Entry{d(incident.Email, ledger.Skipped, ledger.NoEmail)}, ledger.Unreachable, "email:skipped:no-email"},
		{"no record yet", nil, ledger.ReachPending, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := ledger.ReachOf(tc.ds)
			if got != tc.want || why != tc.why {
				t.Errorf("ReachOf = %s %q, want %s %q", got, why, tc.want, tc.why)
			}
		})
	}
}

func TestReachMoves(t *testing.T) {
	for _, tc := range []struct {
		before, after ledger.Reach
		want          map[ledger.Reach]int
	}{
		{ledger.ReachPending, ledger.ReachPending, nil},
		{ledger.ReachPending, ledger.Reached, map[ledger.Reach]int{ledger.Reached: 1}},
		{ledger.ReachPending, ledger.Unreachable, map[ledger.Reach]int{ledger.Unreachable: 1}},
		{ledger.Reached, ledger.Unreachable, map[ledger.Reach]int{ledger.Reached: -1, ledger.Unreachable: 1}},
		{ledger.Unreachable, ledger.Unreachable, nil},
	} {
		got := ledger.ReachMoves(tc.before, tc.after)
		if len(got) != len(tc.want) {
			t.Errorf("%s -> %s: %v, want %v", tc.before, tc.after, got, tc.want)
		}
		for r, n := range tc.want {
			if got[r] != n {
				t.Errorf("%s -> %s: %v, want %v", tc.before, tc.after, got, tc.want)
			}
		}
	}
}
