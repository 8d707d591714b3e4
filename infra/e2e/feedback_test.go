package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sns"

	"breachnotify/infra/local"
	"breachnotify/infra/seed"
	"breachnotify/shared/admin"
	"breachnotify/shared/aws/push"
	"breachnotify/shared/evidence"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
	"breachnotify/shared/status"
)

// One incident to users at each SES mailbox simulator address, one with
// only a device and one with no channel at all: SES's reports come back
// through the default bus to FeedbackFunction and move each delivery to
// what the simulator does, and each recipient is reached or unreachable
// accordingly. Nobody gets a notice twice.
func TestDeliveryFeedback(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	// Named by id, on versions past the samples' cohort (android below
	// 8.9.0), so a sample sent later on the shared stack never reaches them.
	users := []string{
		`{"userId":"u-fb-success","email":"success@simulator.amazonses.com","name":"Sam","locale":"en-GB"}`,
		`{"userId":"u-fb-bounce","email":"bounce@simulator.amazonses.com","name":"Bo","locale":"en-GB","devices":[{"deviceId":"d-1","platform":"android","appVersion":"9.0.1","pushToken":"fcm-token-fb-bounce"}]}`,
		`{"userId":"u-fb-complaint","email":"complaint@simulator.amazonses.com","name":"Cy","locale":"en-GB"}`,
		`{"userId":"u-fb-suppressed","email":"suppressionlist@simulator.amazonses.com","name":"Su","locale":"en-GB"}`,
		`{"userId":"u-fb-none","name":"Ned","locale":"en-GB"}`,
		`{"userId":"u-fb-refused","name":"Ray","locale":"en-GB","devices":[{"deviceId":"d-1","platform":"android","appVersion":"9.0.1","pushToken":"` + local.RefusedTokenPrefix + `fcm-token-fb"}]}`,
		`{"userId":"u-fb-fallback","email":"bounce+fallback@simulator.amazonses.com","name":"Fa","locale":"en-GB","devices":[{"deviceId":"d-1","platform":"android","appVersion":"9.0.1","pushToken":"fcm-token-fb-fallback"}]}`,
	}
	reg := &push.Registrar{Client: sns.NewFromConfig(s.Config()), Applications: s.Platforms}
	if rep, err := seed.Import(ctx, strings.NewReader(strings.Join(users, "\n")+"\n"), s.Users(), reg); err != nil || len(rep.Bad) > 0 {
		t.Fatalf("seed: %v %v", err, rep.Bad)
	}
	before := settledOutbox(t, s)
	const id = "INC-FEEDBACK-1"
	event := fmt.Sprintf(`{"version":"0","id":"fb-1","detail-type":"Incident Confirmed","source":"acme.detection","account":"123456789012",
"time":"2026-11-30T10:00:00Z","region":"us-east-1","resources":[],"detail":{"incidentId":%q,"status":"confirmed",
"title":"Unauthorised access","summary":"A stolen credential was used to read account records.","detectedAt":"2026-11-30T08:00:00Z",
"confirmedAt":"2026-11-30T09:00:00Z","confirmedBy":"secops:jane","notices":[{"template":"account-accessed","channels":["email","push"],
"audience":{"userIds":["u-fb-success","u-fb-bounce","u-fb-complaint","u-fb-suppressed","u-fb-none","u-fb-refused"]}},
{"template":"account-accessed","fallback":["email","push"],"audience":{"userIds":["u-fb-fallback"]}}]}}`, id)
	if err := s.PutEvent(ctx, []byte(event)); err != nil {
		t.Fatal(err)
	}
	if err := s.Drain(ctx, drainWait); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		email ledger.Status
		reach ledger.Reach
	}{
		"u-fb-success":    {ledger.Delivered, ledger.Reached},
		"u-fb-bounce":     {ledger.Bounced, ledger.Reached}, // by push
		"u-fb-complaint":  {ledger.Complained, ledger.Reached},
		"u-fb-suppressed": {ledger.Suppressed, ledger.Unreachable},
		"u-fb-none":       {ledger.Skipped, ledger.Unreachable},
		// The push service refused the token: SNS disabled the endpoint.
		"u-fb-refused": {ledger.Skipped, ledger.Unreachable},
	}
	got := map[string]string{}
	// SES reports after it accepts: the events follow the sends.
	for deadline := time.Now().Add(30 * time.Second); ; {
		records, err := s.Records(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range records {
			if r.NoticeID != "n0-account-accessed" {
				continue
			}
			reach, why := ledger.ReachOf(r.Deliveries)
			email := ledger.Status("none")
			for _, d := range r.Deliveries {
				if d.Channel == incident.Email {
					email = d.Status
				}
			}
			got[r.UserID] = fmt.Sprintf("%s %s %s", email, reach, why)
		}
		done := len(got) == len(want)
		for u, w := range want {
			done = done && strings.HasPrefix(got[u], fmt.Sprintf("%s %s", w.email, w.reach))
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, u := range slices.Sorted(maps.Keys(want)) {
		w := want[u]
		if !strings.HasPrefix(got[u], fmt.Sprintf("%s %s", w.email, w.reach)) {
			t.Errorf("%s: %q, want email %s and %s", u, got[u], w.email, w.reach)
		}
	}
	if g, w := got["u-fb-suppressed"], "unreachable email:suppressed:Permanent/OnAccountSuppressionList"; !strings.Contains(g, w) {
		t.Errorf("u-fb-suppressed: %q, want the reason %q", g, w)
	}
	if g, w := got["u-fb-refused"], "push:endpoint-disabled:InvalidPlatformToken"; !strings.Contains(g, w) {
		t.Errorf("u-fb-refused: %q, want the reason %q", g, w)
	}
	// status counts each recipient once, as the records say.
	a := &adminClient{t: t, s: s}
	var n status.Notice
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		resp := a.direct(admin.Request{Operation: "status", Actor: "secops:omar", IncidentID: id})
		if resp.Status == nil || len(resp.Status.Notices) != 2 {
			t.Fatalf("status %+v", resp)
		}
		n = resp.Status.Notices[0]
		if (n.Reached == 3 && n.Unreachable == 3) || time.Now().After(deadline) {
			break
		}
	}
	if n.Reached != 3 || n.Pending != 0 || n.Unreachable != 3 {
		t.Errorf("status reached/pending/unreachable %d/%d/%d, want 3/0/3", n.Reached, n.Pending, n.Unreachable)
	}
	// The export names the unreachable users and why.
	resp := a.direct(admin.Request{Operation: "export", Actor: "secops:omar", IncidentID: id})
	var ex evidence.Export
	if err := json.Unmarshal(fetch(t, resp.Export.JSONURL), &ex); err != nil {
		t.Fatal(err)
	}
	unreachable := map[string]string{}
	for _, u := range ex.Unreachable {
		unreachable[u.UserID] = u.Reason
	}
	if len(unreachable) != 3 || !strings.Contains(unreachable["u-fb-suppressed"], "email:suppressed") ||
		!strings.Contains(unreachable["u-fb-none"], "email:skipped:no-email") || !strings.Contains(unreachable["u-fb-refused"], "push:endpoint-disabled") {
		t.Errorf("export lists unreachable %v, want u-fb-suppressed, u-fb-none and u-fb-refused with reasons", unreachable)
	}
	outcomes := map[string]ledger.Status{}
	for _, o := range ex.Outcomes {
		outcomes[o.UserID+" "+string(o.Channel)] = o.Status
	}
	for k, st := range map[string]ledger.Status{"u-fb-success email": ledger.Delivered, "u-fb-bounce email": ledger.Bounced,
		"u-fb-bounce push": ledger.Sent, "u-fb-complaint email": ledger.Complained, "u-fb-suppressed email": ledger.Suppressed,
		"u-fb-refused push": ledger.EndpointDisabled} {
		if outcomes[k] != st {
			t.Errorf("export: %s %s, want %s", k, outcomes[k], st)
		}
	}
	// The fallback notice: email first; the push once the email bounced,
	// not before.
	var email, push ledger.Entry
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		records, err := s.Records(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range records {
			if r.NoticeID != "n1-account-accessed" {
				continue
			}
			for _, d := range r.Deliveries {
				if d.Channel == incident.Email {
					email = d
				} else {
					push = d
				}
			}
		}
		if push.Status == ledger.Sent || time.Now().After(deadline) {
			break
		}
	}
	if email.Status != ledger.Bounced || push.Status != ledger.Sent || push.UpdatedAt.Before(email.UpdatedAt) {
		t.Errorf("fallback: email %s at %s, push %s (%s) at %s; want the push sent after the bounce",
			email.Status, email.UpdatedAt, push.Status, push.Reason, push.UpdatedAt)
	}
	// Nobody twice: one email per address with one, one push per device.
	per := map[string]int{}
	for _, m := range since(before, settledOutbox(t, s)) {
		per[m.Channel+" "+m.To+m.Token]++
	}
	for k, n := range per {
		if n != 1 {
			t.Errorf("%s: %d messages, want 1", k, n)
		}
	}
	if len(per) != 8 {
		t.Errorf("%d messages sent (%v), want 5 emails and 3 pushes", len(per), per)
	}
}

// The FeedbackFunction's samples run as `sam local invoke -e` would run
// them: reports on deliveries this stack never made are kept aside, not
// failed and not dropped.
func TestFeedbackSampleEvents(t *testing.T) {
	s := needStack(t)
	for _, name := range []string{"ses-bounce.json", "push-delivery-failure.json"} {
		t.Run(name, func(t *testing.T) {
			event := strings.ReplaceAll(string(readEvent(t, name)), "INC-2014-0527", "INC-FEEDBACK-SAMPLE")
			out, err := s.Invoke(context.Background(), "FeedbackFunction", []byte(event))
			if err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			if !strings.Contains(string(out), `"reports":1`) {
				t.Errorf("result %s, want one report", out)
			}
		})
	}
}

// settledOutbox reads the outbox, again if moto's state dump fails: it
// walks moto's state while the functions still write to it (delivery
// reports, fallback checks), which it sometimes cannot do at once.
func settledOutbox(t *testing.T, s *local.State) []local.Sent {
	t.Helper()
	var err error
	for range 5 {
		var sent []local.Sent
		if sent, err = s.Outbox(context.Background()); err == nil {
			return sent
		}
		time.Sleep(time.Second)
	}
	t.Fatal(err)
	return nil
}
