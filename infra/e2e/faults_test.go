package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"breachnotify/infra/faultserver"
	"breachnotify/infra/local"
	"breachnotify/shared/admin"
	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
	"breachnotify/shared/preflight"
)

// The fault matrix: the real bootstraps under the emulator, against moto for
// DynamoDB, SQS and EventBridge, and the fault-injecting server for SES and
// SNS. Each case checks that every audience member ends in exactly one
// terminal state, that nobody is sent the same notice twice, and that
// nobody is lost.

// The demo audience of events/incident-confirmed.json: 14 deliveries, of
// which 12 are sends (6 emails, 6 pushes) and 2 are skips.
const (
	wantDeliveries = 14
	wantSends      = 12
)

func TestFaultMatrix(t *testing.T) {
	needStack(t)
	srv, err := faultserver.Start(faultserver.Config{EmailRate: 500, PushRate: 500, Latency: 5 * time.Millisecond, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(tmpDir, "faults")
	// Retries back off from one second, so a case with faults drains in
	// seconds; the worker reads the send rate from the fault server's
	// GetAccount (EmailMaxSendRate stays 0).
	s, err := startStack(ctx, dir, local.Options{
		Params:    map[string]string{"RetryBaseSeconds": "1"},
		Endpoints: map[string]string{"SESV2": srv.URL(), "SNS": srv.URL()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Down(dir)

	run := func(t *testing.T, id string, cfg faultserver.Config, times int) []ledger.Entry {
		t.Helper()
		srv.Reset()
		srv.SetConfig(cfg)
		ev := strings.ReplaceAll(string(readEvent(t, "incident-confirmed.json")), "INC-2014-0527", id)
		for range times {
			if err := s.PutEvent(ctx, []byte(ev)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Drain(ctx, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		entries, err := s.Deliveries(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return entries
	}
	base := faultserver.Config{EmailRate: 500, PushRate: 500, Latency: 5 * time.Millisecond, Seed: 7}

	t.Run("the same event five times", func(t *testing.T) {
		entries := run(t, "INC-F-DUP", base, 5)
		checkOnce(t, srv, entries, wantSends)
	})

	t.Run("SES throttles 20% and fails 5%, SNS too", func(t *testing.T) {
		cfg := base
		cfg.EmailThrottlePercent, cfg.EmailServerErrorPercent = 20, 5
		cfg.PushThrottlePercent, cfg.PushServerErrorPercent = 20, 5
		entries := run(t, "INC-F-FLAKY", cfg, 1)
		checkOnce(t, srv, entries, wantSends)
		st := srv.Stats()
		if st.SendEmail.Requests == st.SendEmail.Accepted {
			t.Errorf("no email fault was injected: %+v", st.SendEmail)
		}
	})

	t.Run("EndpointDisabled for one device", func(t *testing.T) {
		users, err := s.Users().Get(ctx, []string{"u-000202"})
		if err != nil {
			t.Fatal(err)
		}
		cfg := base
		cfg.FailEndpoints = map[string]string{users["u-000202"].Devices[0].EndpointARN: "EndpointDisabled"}
		entries := run(t, "INC-F-DISABLED", cfg, 1)
		for _, e := range entries {
			if e.UserID == "u-000202" && e.Channel == incident.Push && (e.Status != ledger.Failed || e.Reason != "EndpointDisabled") {
				t.Errorf("disabled endpoint recorded as %s %s", e.Status, e.Reason)
			}
		}
		checkOnce(t, srv, entries, wantSends-1)
		if got := srv.Stats().Publish.Injected["EndpointDisabled"]; got != 1 {
			t.Errorf("disabled endpoint published to %d times, want 1 (never retried)", got)
		}
	})

	t.Run("SES pauses sending mid-run, then an admin resumes", func(t *testing.T) {
		const id = "INC-F-PAUSED"
		cfg := base
		cfg.FailRecipients = map[string]string{"emma@example.com": "SendingPausedException"}
		entries := run(t, id, cfg, 1)
		inc := &dynamo.Incidents{Client: dynamodb.NewFromConfig(s.Config()), Table: s.Names["IncidentsTable"]}
		paused, err := inc.Paused(ctx, id)
		if err != nil || paused[incident.Email] != "SendingPaused" {
			t.Fatalf("paused = %v (%v)", paused, err)
		}
		parked, err := inc.Parked(ctx, id, incident.Email)
		if err != nil || len(parked) == 0 {
			t.Fatalf("parked = %d (%v)", len(parked), err)
		}
		if calls := srv.Stats().SendEmail.Injected["SendingPausedException"]; calls > 2 {
			t.Errorf("SES asked %d times while paused: a retry storm", calls)
		}
		emailsBefore := countSent(entries, incident.Email)
		if emailsBefore >= 6 {
			t.Fatalf("%d emails sent although SES paused", emailsBefore)
		}

		srv.SetConfig(base) // the account is back
		entries = resumeEmail(t, s, id, len(parked))
		checkDeliveries(t, entries)
		if got := countSent(entries, incident.Email); got != 6 {
			t.Errorf("%d emails sent after resume, want 6", got)
		}
		checkNoDuplicates(t, srv)
	})

	t.Run("SES rejects unverified identities (the sandbox), then an admin resumes", func(t *testing.T) {
		const id = "INC-F-SANDBOX"
		cfg := base
		cfg.Sandbox = true
		entries := run(t, id, cfg, 1)
		inc := &dynamo.Incidents{Client: dynamodb.NewFromConfig(s.Config()), Table: s.Names["IncidentsTable"]}
		paused, err := inc.Paused(ctx, id)
		if err != nil || paused[incident.Email] != "IdentityNotVerified" {
			t.Fatalf("paused = %v (%v), want email paused for IdentityNotVerified", paused, err)
		}
		parked, err := inc.Parked(ctx, id, incident.Email)
		if err != nil || len(parked) == 0 {
			t.Fatalf("parked = %d (%v)", len(parked), err)
		}
		for _, e := range entries {
			if e.Status == ledger.Failed {
				t.Errorf("%s recorded failed (%s): a configuration fault failed a recipient", e.Key, e.Reason)
			}
		}
		if calls := srv.Stats().SendEmail.Injected["MessageRejected"]; calls > 2 {
			t.Errorf("SES asked %d times after rejecting the identity: a retry storm", calls)
		}
		// SES's message named the recipients: no address may be logged.
		log, err := os.ReadFile(filepath.Join(dir, "logs", "WorkerFunction.log"))
		if err != nil {
			t.Fatal(err)
		}
		if addr := regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+`).Find(log); addr != nil {
			t.Errorf("the worker logged the address %s", addr)
		}
		sesChecks := func() map[string]preflight.Check {
			t.Helper()
			body, err := s.Invoke(ctx, "AdminFunction", []byte(`{"operation":"preflight","actor":"secops:omar"}`))
			if err != nil {
				t.Fatal(err)
			}
			var r admin.Response
			if err := json.Unmarshal(body, &r); err != nil || r.Preflight == nil {
				t.Fatalf("preflight answered %s (%v)", body, err)
			}
			out := map[string]preflight.Check{}
			for _, c := range r.Preflight.Checks {
				out[c.Name] = c
			}
			return out
		}
		if c := sesChecks()["ses-account"]; c.Status != preflight.Fail || !strings.Contains(c.Reason, "sandbox") {
			t.Errorf("preflight in the sandbox: ses-account = %+v, want fail naming the sandbox", c)
		}

		srv.SetConfig(base) // production access granted
		for name, c := range sesChecks() {
			if strings.HasPrefix(name, "ses-") && c.Status != preflight.OK {
				t.Errorf("preflight after the fix: %s = %+v, want ok", name, c)
			}
		}
		entries = resumeEmail(t, s, id, len(parked))
		checkOnce(t, srv, entries, wantSends) // the six pushes during the run, the six emails after resume
		if got := countSent(entries, incident.Email); got != 6 {
			t.Errorf("%d emails sent after resume, want 6", got)
		}
	})

	t.Run("a poison message ends in the dead-letter queue", func(t *testing.T) {
		q := sqs.NewFromConfig(s.Config())
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.Names["RecipientsQueue"]), MessageBody: aws.String(`{"incidentId":"INC#poison"}`)}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(90 * time.Second)
		for {
			out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.Names["RecipientsDeadLetterQueue"]), WaitTimeSeconds: 1,
				MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Messages) == 1 && strings.Contains(aws.ToString(out.Messages[0].Body), "INC#poison") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the poison message did not reach the dead-letter queue")
			}
		}
		log, err := os.ReadFile(filepath.Join(dir, "logs", "WorkerFunction.log"))
		if err != nil || !strings.Contains(string(log), "malformed message") || !strings.Contains(string(log), "INC#poison") {
			t.Errorf("the worker's log does not give the reason (%v)", err)
		}
	})
}

// checkOnce: every delivery decided once, and wantAccepted messages
// accepted by the providers, none twice.
func checkOnce(t *testing.T, srv *faultserver.Server, entries []ledger.Entry, wantAccepted int) {
	t.Helper()
	checkDeliveries(t, entries)
	checkNoDuplicates(t, srv)
	if got := len(srv.Accepted()); got != wantAccepted {
		t.Errorf("providers accepted %d messages, want %d (lost or duplicated)", got, wantAccepted)
	}
}

func checkDeliveries(t *testing.T, entries []ledger.Entry) {
	t.Helper()
	if len(entries) != wantDeliveries {
		t.Errorf("ledger has %d deliveries, want %d", len(entries), wantDeliveries)
	}
	for _, e := range entries {
		if !e.Status.Terminal() {
			t.Errorf("%s is %s, not decided", e.Key, e.Status)
		}
	}
}

// checkNoDuplicates: no address got the same notice's email twice (by the
// notice tag). Pushes carry no tag; their exact count in checkOnce, with the
// ledger's one entry per device, stands for them.
func checkNoDuplicates(t *testing.T, srv *faultserver.Server) {
	t.Helper()
	seen := map[string]int{}
	for _, m := range srv.Accepted() {
		if m.Channel == "email" {
			seen[m.To+" "+m.EmailTags["notice"]]++
		}
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("email %s accepted %d times", k, n)
		}
	}
}

func countSent(entries []ledger.Entry, ch incident.Channel) int {
	n := 0
	for _, e := range entries {
		if e.Channel == ch && e.Status == ledger.Sent {
			n++
		}
	}
	return n
}

// resumeEmail resumes an incident's paused email channel as an admin does,
// through the Function URL, checks that it re-queued the parked batches,
// and returns the deliveries once the queues drained.
func resumeEmail(t *testing.T, s *local.State, id string, parked int) []ledger.Entry {
	t.Helper()
	resp := (&adminClient{t: t, s: s}).signed(admin.Request{Operation: "resume", IncidentID: id, Channel: "email"})
	if resp.Resumed["email"] != parked {
		t.Errorf("resume answered %+v, want %d email batches", resp.Resumed, parked)
	}
	ctx := context.Background()
	if err := s.Drain(ctx, drainWait); err != nil {
		t.Fatal(err)
	}
	entries, err := s.Deliveries(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}
