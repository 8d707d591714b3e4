package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"breachnotify/infra/admincli"
	"breachnotify/infra/faultserver"
	"breachnotify/infra/local"
	"breachnotify/shared/admin"
	"breachnotify/shared/audit"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/evidence"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
	"breachnotify/shared/watch"
)

// The admin operations and the lifecycle through the real bootstraps, on a
// stack whose AutoSendLimit (3) is below the demo audience (7), with the
// fault server for SES and SNS so that what the providers accepted is
// counted exactly, and sends slow enough to cancel in the middle.
func TestAdminOperations(t *testing.T) {
	needStack(t)
	srv, err := faultserver.Start(faultserver.Config{EmailRate: 4, PushRate: 4, Latency: 150 * time.Millisecond, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(tmpDir, "admin")
	s, err := startStack(ctx, dir, local.Options{
		Params: map[string]string{"AutoSendLimit": "3", "RetryBaseSeconds": "1", "WorkerMaxConcurrency": "2",
			"PushMaxSendRate": "4", "EmailMaxSendRate": "4"},
		Endpoints: map[string]string{"SESV2": srv.URL(), "SNS": srv.URL()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Down(dir)
	a := &adminClient{t: t, s: s}
	event := func(t *testing.T, id string) {
		t.Helper()
		ev := strings.ReplaceAll(string(readEvent(t, "incident-confirmed.json")), "INC-2014-0527", id)
		if err := s.PutEvent(ctx, []byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	drain := func(t *testing.T) {
		t.Helper()
		if err := s.Drain(ctx, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	accepted := func(to string) int {
		n := 0
		for _, m := range srv.Accepted() {
			if m.To == to {
				n++
			}
		}
		return n
	}

	t.Run("a large automated incident waits for approval, and its confirmer cannot approve it", func(t *testing.T) {
		const id = "INC-A-APPROVE"
		event(t, id)
		drain(t)
		a.wantState(id, incident.StateAwaitingApproval)
		if n := len(srv.Accepted()); n != 0 {
			t.Fatalf("%d messages sent before approval", n)
		}
		p := a.direct(admin.Request{Operation: "preview", Actor: "secops:omar", IncidentID: id})
		if p.Preview == nil || p.Preview.Members != 7 || len(p.Preview.Samples) < 2 || len(p.Preview.Counts) == 0 {
			t.Errorf("preview = %+v, want 7 members counted by locale, with rendered samples", p.Preview)
		}
		// A direct invocation names any actor it likes: it may not approve.
		_, err := a.tryDirect(admin.Request{Operation: "approve", Actor: "secops:omar", IncidentID: id})
		if err == nil || !strings.Contains(err.Error(), "forbidden: approve is accepted only through the Function URL") {
			t.Fatalf("a direct approval: %v, want refused", err)
		}
		resp := a.signed(admin.Request{Operation: "approve", IncidentID: id})
		if resp.Actor != "local" || resp.Requeued == 0 {
			t.Errorf("approval = %+v, want the signed caller's person as actor and the held batches queued", resp)
		}
		drain(t)
		checkNoDuplicates(t, srv)
		if n := len(srv.Accepted()); n != wantSends {
			t.Errorf("%d messages sent after approval, want %d", n, wantSends)
		}
		st := a.direct(admin.Request{Operation: "status", Actor: "secops:omar", IncidentID: id}).Status
		if st == nil || st.Total.Planned != 14 || st.Total.Done != 14 || st.State != incident.StateSending {
			t.Errorf("status = %+v, want 14 of 14 recipient channels done", st)
		}
		a.wantAudit(id, audit.EventReceived, audit.Confirmed, audit.AudienceFrozen, audit.ApprovalRequested, audit.Approved, audit.BatchSent)
	})

	t.Run("the Function URL door rejects an unsigned request", func(t *testing.T) {
		tpl, err := local.ReadTemplate(filepath.Join(root, "template.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		urlConfig, _ := tpl.Resources["AdminFunction"].Properties["FunctionUrlConfig"].(map[string]any)
		if auth := urlConfig["AuthType"]; auth != "AWS_IAM" {
			t.Errorf("template's AdminFunction URL AuthType = %v, want AWS_IAM", auth)
		}
		url := s.FunctionURLs["AdminFunction"]
		resp, err := http.Post(url, "application/json", strings.NewReader(`{"operation":"cancel","incidentId":"INC-A-APPROVE","actor":"mallory"}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("unsigned request: %d %s, want 403", resp.StatusCode, body)
		}
		wrong := &admincli.FunctionURL{URL: url, Region: s.Region, Credentials: credentials.NewStaticCredentialsProvider("local", "not-the-secret", "")}
		var e *admincli.Error
		if _, err := wrong.Call(ctx, admin.Request{Operation: "cancel", IncidentID: "INC-A-APPROVE"}); !errors.As(err, &e) || e.Status != http.StatusForbidden {
			t.Errorf("request signed with a wrong secret: %v, want 403", err)
		}
		a.wantState("INC-A-APPROVE", incident.StateSending)
	})

	t.Run("a manual send to a user already notified sends nothing new", func(t *testing.T) {
		const id = "INC-A-APPROVE"
		before := accepted("ana@example.com")
		resp := a.direct(admin.Request{Operation: "send", Actor: "secops:omar", IncidentID: id, Template: "account-accessed",
			UserIDs: []string{"u-000123", "u-000205"}})
		if !slices.Equal(resp.AlreadyNotified, []string{"u-000123"}) {
			t.Errorf("already notified = %v, want u-000123 (notified by the automatic path)", resp.AlreadyNotified)
		}
		drain(t)
		if n := accepted("ana@example.com"); n != before {
			t.Errorf("ana got %d more emails", n-before)
		}
		if n := accepted("gala@example.com"); n != 1 {
			t.Errorf("gala got %d account-accessed emails, want 1 (she was only in the update-app cohort)", n)
		}
		// Gala is new to the notice, so planned grows by her; Ana was counted already.
		st := a.direct(admin.Request{Operation: "status", Actor: "secops:omar", IncidentID: id}).Status
		if st == nil || st.Total.Planned != 16 || st.Total.Done != 16 {
			t.Errorf("status after the manual send = %+v, want 16 of 16 recipient channels", st)
		}
		a.wantAudit(id, audit.ManualSend)
	})

	t.Run("cancel in the middle of a send stops it", func(t *testing.T) {
		const id = "INC-A-CANCEL"
		event(t, id)
		drain(t)
		a.wantState(id, incident.StateAwaitingApproval)
		base := len(srv.Accepted())
		a.signed(admin.Request{Operation: "approve", IncidentID: id})
		waitFor(t, time.Minute, "two sends", func() bool { return len(srv.Accepted()) >= base+2 })
		a.direct(admin.Request{Operation: "cancel", Actor: "secops:omar", IncidentID: id, Reason: "false positive"})
		cancelledAt := time.Now()
		atCancel := len(srv.Accepted())
		drain(t)
		a.wantState(id, incident.StateCancelled)
		entries, err := s.Deliveries(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		// A worker sees the cancel within dispatch.GateTTL; a recipient
		// already started then still finishes its email and push, each
		// paced (up to half a second here) and sent (150 ms).
		limit := cancelledAt.Add(dispatch.GateTTL + 3*time.Second)
		cancelled := 0
		for _, e := range entries {
			switch {
			case e.Status == ledger.Sent && e.UpdatedAt.After(limit):
				t.Errorf("%s sent at %s, after the cancel at %s", e.Key, e.UpdatedAt.Format(time.RFC3339Nano), cancelledAt.Format(time.RFC3339Nano))
			case e.Status == ledger.Skipped && e.Reason == dispatch.Cancelled:
				cancelled++
			case !e.Status.Terminal():
				t.Errorf("%s left %s", e.Key, e.Status)
			}
		}
		if cancelled == 0 || len(entries) != wantDeliveries {
			t.Errorf("%d deliveries, %d recorded cancelled; want %d, some cancelled", len(entries), cancelled, wantDeliveries)
		}
		t.Logf("%d sent before the cancel, %d after it (in flight), %d deliveries recorded cancelled",
			atCancel-base, len(srv.Accepted())-atCancel, cancelled)
		a.wantAudit(id, audit.Cancelled)
	})

	t.Run("resend-failed re-sends only the failed", func(t *testing.T) {
		const id = "INC-A-RESEND"
		users, err := s.Users().Get(ctx, []string{"u-000202"})
		if err != nil {
			t.Fatal(err)
		}
		disabled := users["u-000202"].Devices[0].EndpointARN
		cfg := srv.Config()
		cfg.FailRecipients = map[string]string{"gala@example.com": "ServiceUnavailable"}
		cfg.FailEndpoints = map[string]string{disabled: "EndpointDisabled"}
		srv.SetConfig(cfg)
		srv.Reset()
		a.direct(admin.Request{Operation: "send", Actor: "secops:omar", IncidentID: id, Title: "Manual notice",
			Template: "account-accessed", UserIDs: []string{"u-000200", "u-000202", "u-000205"}})
		// Gala's email fails until the batch reaches the dead-letter queue.
		drain(t)
		if accepted("gala@example.com") != 0 || accepted("ben@example.com") != 1 {
			t.Fatalf("before the resend: gala %d, ben %d", accepted("gala@example.com"), accepted("ben@example.com"))
		}
		cfg.FailRecipients = nil
		srv.SetConfig(cfg)
		resp := a.signed(admin.Request{Operation: "resend-failed", IncidentID: id})
		if resp.Requeued != 1 {
			t.Errorf("requeued %d batches, want gala's email alone", resp.Requeued)
		}
		drain(t)
		for addr, want := range map[string]int{"gala@example.com": 1, "ben@example.com": 1, "diego@example.com": 1} {
			if n := accepted(addr); n != want {
				t.Errorf("%s got %d emails, want %d", addr, n, want)
			}
		}
		if n := srv.Stats().Publish.Injected["EndpointDisabled"]; n != 1 {
			t.Errorf("the disabled endpoint was published to %d times, want 1: a permanent failure is not resent", n)
		}
		entries, err := s.Deliveries(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !e.Status.Terminal() {
				t.Errorf("%s left %s %s", e.Key, e.Status, e.Reason)
			}
		}
	})

	t.Run("the export's counts match the ledger", func(t *testing.T) {
		const id = "INC-A-APPROVE"
		resp := a.direct(admin.Request{Operation: "export", Actor: "secops:omar", IncidentID: id})
		if resp.Export == nil {
			t.Fatal("no export links")
		}
		var ex evidence.Export
		if err := json.Unmarshal(fetch(t, resp.Export.JSONURL), &ex); err != nil {
			t.Fatal(err)
		}
		entries, err := s.Deliveries(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ex.Totals(), ledger.Summarize(entries); !equalSummary(got, want) {
			t.Errorf("export counts %v, ledger %v", got, want)
		}
		if !ex.Audit.Verified || ex.Audience == nil || ex.Audience.Members != 7 || len(ex.Templates) != 2 {
			t.Errorf("export audit %+v, audience %+v, templates %v", ex.Audit, ex.Audience, ex.Templates)
		}
		csv := strings.Split(strings.TrimSpace(string(fetch(t, resp.Export.CSVURL))), "\n")
		if len(csv) != len(entries)+1 {
			t.Errorf("CSV has %d lines, want a header and %d outcomes", len(csv), len(entries))
		}
		a.wantAudit(id, audit.Exported)
	})

	t.Run("a tampered audit entry fails verify", func(t *testing.T) {
		const id = "INC-A-APPROVE"
		if v := a.direct(admin.Request{Operation: "verify", Actor: "auditor", IncidentID: id}).Verify; v == nil || !v.OK {
			t.Fatalf("untouched trail: %+v", v)
		}
		db := dynamodb.NewFromConfig(s.Config())
		if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.Names["IncidentsTable"]),
			Key:                       map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: id}, "sk": &ddbtypes.AttributeValueMemberS{Value: "audit#000000000002"}},
			UpdateExpression:          aws.String("SET actor = :a"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":a": &ddbtypes.AttributeValueMemberS{Value: "someone-else"}},
		}); err != nil {
			t.Fatal(err)
		}
		v := a.direct(admin.Request{Operation: "verify", Actor: "auditor", IncidentID: id}).Verify
		if v == nil || v.OK || !strings.Contains(v.Problem, "seq 2") {
			t.Errorf("tampered trail: %+v, want a failure at seq 2", v)
		}
	})

	t.Run("a missed deadline raises the alarm once", func(t *testing.T) {
		// The demo event was confirmed in 2014: an incident still waiting
		// for approval has missed the 24 h to notify users, and the 72 h
		// to tell the authority.
		const id = "INC-A-LATE"
		event(t, id)
		drain(t)
		a.wantState(id, incident.StateAwaitingApproval)
		r := a.watch()
		var got []string
		for _, al := range r.Alarms {
			if al.IncidentID == id {
				got = append(got, al.Rule+":"+string(al.State))
			}
		}
		slices.Sort(got)
		if want := []string{"authority:missed", "users:missed"}; !slices.Equal(got, want) {
			t.Errorf("alarms %v, want %v", got, want)
		}
		// SNS is the fault server here: the alarms are among what it accepted.
		var subjects []string
		for _, m := range srv.Accepted() {
			if m.TargetARN == s.Names["OpsTopic"] && strings.Contains(m.Subject, id) {
				subjects = append(subjects, m.Subject)
			}
		}
		if len(subjects) != 2 {
			t.Errorf("the ops topic got %q, want the two alarms of %s", subjects, id)
		}
		for _, al := range a.watch().Alarms {
			if al.IncidentID == id {
				t.Errorf("alarm %s raised again", al.Rule)
			}
		}
		a.wantAudit(id, audit.DeadlineAlarm)
	})

	t.Run("the two-person rule compares people, named by the admin directory", func(t *testing.T) {
		const id = "INC-A-PEOPLE"
		// A suspected incident whose audience (the cohort and four named
		// users) is above the AutoSendLimit of 3.
		ev := strings.ReplaceAll(string(readEvent(t, "incident-suspected.json")), "INC-2014-0601", id)
		ev = strings.Replace(ev, `"userIds": ["u-000123"]`, `"userIds": ["u-000123", "u-000200", "u-000202", "u-000205"]`, 1)
		if err := s.PutEvent(ctx, []byte(ev)); err != nil {
			t.Fatal(err)
		}
		drain(t)
		a.wantState(id, incident.StateSuspected)
		forbidden := func(t *testing.T, what string, err error) {
			t.Helper()
			var e *admincli.Error
			if !errors.As(err, &e) || e.Status != http.StatusForbidden {
				t.Errorf("%s: %v, want 403", what, err)
			}
		}

		_, err := a.tryDirect(admin.Request{Operation: "confirm", Actor: "alice", IncidentID: id})
		if err == nil || !strings.Contains(err.Error(), "forbidden: confirm is accepted only through the Function URL") {
			t.Errorf("a direct confirm: %v, want refused", err)
		}
		_, err = a.signedAs("mallory", admin.Request{Operation: "confirm", IncidentID: id})
		forbidden(t, "a confirm by a principal outside the directory", err)

		// Direct invocations shaped like Function URL events, which Lambda
		// did not build: refused before any operation runs.
		forged := func(arn, userID string) []byte {
			body, _ := json.Marshal(admin.Request{Operation: "confirm", IncidentID: id})
			raw, _ := json.Marshal(map[string]any{"version": "2.0", "body": string(body), "requestContext": map[string]any{
				"requestId": "forged", "http": map[string]any{"method": "POST"},
				"authorizer": map[string]any{"iam": map[string]any{"userArn": arn, "userId": userID}}}})
			return raw
		}
		for name, payload := range map[string][]byte{
			"an ARN and user id that disagree":   forged("arn:aws:sts::123456789012:assumed-role/BreachAdmin/alice", "AROABREACHADMIN00001:mallory"),
			"a principal outside the directory":  forged("arn:aws:iam::123456789012:user/mallory", "AIDAMALLORYUSER00001"),
			"a request context without a caller": []byte(`{"operation":"confirm","incidentId":"` + id + `","actor":"alice","requestContext":{}}`),
		} {
			out, err := s.Invoke(ctx, "AdminFunction", payload)
			var resp struct{ StatusCode int }
			if err != nil || json.Unmarshal(out, &resp) != nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("forged URL event, %s: %s %v, want a 403", name, out, err)
			}
		}
		a.wantState(id, incident.StateSuspected)

		if resp, err := a.signedAs("alice", admin.Request{Operation: "confirm", IncidentID: id}); err != nil || resp.Actor != "alice" {
			t.Fatalf("alice's confirm: %+v %v", resp, err)
		}
		drain(t)
		a.wantState(id, incident.StateAwaitingApproval)
		// The same role under another session name is the same person.
		_, err = a.signedAs("alice-again", admin.Request{Operation: "approve", IncidentID: id})
		var e *admincli.Error
		if !errors.As(err, &e) || e.Status != http.StatusConflict || !strings.Contains(e.Message, "two-person rule") {
			t.Errorf("alice approving as alice-2: %v, want a two-person rule refusal", err)
		}
		a.wantState(id, incident.StateAwaitingApproval)
		resp, err := a.signedAs("sso-carol", admin.Request{Operation: "approve", IncidentID: id})
		if err != nil || resp.Actor != "carol" {
			t.Fatalf("carol's approval: %+v %v", resp, err)
		}
		a.wantState(id, incident.StateSending)
		// The kill switch stays open to a direct invocation, which the
		// trail records as such.
		a.direct(admin.Request{Operation: "cancel", Actor: "secops:omar", IncidentID: id, Reason: "test over"})
		drain(t)
		a.wantState(id, incident.StateCancelled)

		entries, err := s.AuditTrail(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		type who struct{ actor, door, principal string }
		got := map[audit.Kind]who{}
		for _, e := range entries {
			got[e.Kind] = who{e.Actor, e.Detail["door"], e.Detail["principal"]}
		}
		want := map[audit.Kind]who{
			audit.Confirmed: {"alice", "url", "arn:aws:sts::123456789012:assumed-role/BreachAdmin/alice"},
			audit.Approved:  {"carol", "url", "arn:aws:sts::123456789012:assumed-role/" + local.SSORole + "/carol"},
			audit.Cancelled: {"secops:omar", "invoke", ""},
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s entry by %+v, want %+v", k, got[k], w)
			}
		}
	})
}

// adminClient calls the admin function through both doors.
type adminClient struct {
	t *testing.T
	s *local.State
}

func (a *adminClient) tryDirect(r admin.Request) (admin.Response, error) {
	payload, err := json.Marshal(r)
	if err != nil {
		return admin.Response{}, err
	}
	out, err := a.s.Invoke(context.Background(), "AdminFunction", payload)
	if err != nil {
		return admin.Response{}, err
	}
	var resp admin.Response
	return resp, json.Unmarshal(out, &resp)
}

func (a *adminClient) direct(r admin.Request) admin.Response {
	a.t.Helper()
	resp, err := a.tryDirect(r)
	if err != nil {
		a.t.Fatalf("%s: %v", r.Operation, err)
	}
	return resp
}

// signed calls through the Function URL as the SDK's own local user.
func (a *adminClient) signed(r admin.Request) admin.Response {
	a.t.Helper()
	resp, err := a.signedAs("local", r)
	if err != nil {
		a.t.Fatalf("%s through the URL: %v", r.Operation, err)
	}
	return resp
}

// signedAs calls through the Function URL as the local principal whose
// access key is key.
func (a *adminClient) signedAs(key string, r admin.Request) (admin.Response, error) {
	creds, err := local.CredentialsOf(key)
	if err != nil {
		return admin.Response{}, err
	}
	door := &admincli.FunctionURL{URL: a.s.FunctionURLs["AdminFunction"], Region: a.s.Region, Credentials: creds}
	out, err := door.Call(context.Background(), r)
	if err != nil {
		return admin.Response{}, err
	}
	var resp admin.Response
	return resp, json.Unmarshal(out, &resp)
}

func (a *adminClient) wantState(id string, want incident.State) {
	a.t.Helper()
	rec, found, err := a.s.Incident(context.Background(), id)
	if err != nil || !found || rec.State != want {
		a.t.Fatalf("%s is %q (found %v, %v), want %s", id, rec.State, found, err, want)
	}
}

// wantAudit checks the incident's trail holds the kinds, in that order
// (others may come between).
func (a *adminClient) wantAudit(id string, kinds ...audit.Kind) {
	a.t.Helper()
	entries, err := a.s.AuditTrail(context.Background(), id)
	if err != nil {
		a.t.Fatal(err)
	}
	i := 0
	var got []audit.Kind
	for _, e := range entries {
		got = append(got, e.Kind)
		if i < len(kinds) && e.Kind == kinds[i] {
			i++
		}
	}
	if i < len(kinds) {
		a.t.Errorf("audit trail of %s = %q, want %q in order", id, got, kinds)
	}
}

func (a *adminClient) watch() watch.Report {
	a.t.Helper()
	out, err := a.s.Invoke(context.Background(), "DeadlineWatchFunction", []byte(`{}`))
	if err != nil {
		a.t.Fatal(err)
	}
	var r watch.Report
	if err := json.Unmarshal(out, &r); err != nil {
		a.t.Fatal(err)
	}
	return r
}

func fetch(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", url, resp.StatusCode, body, err)
	}
	return body
}

func equalSummary(a, b ledger.Summary) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
