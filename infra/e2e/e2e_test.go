package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"breachnotify/infra/local"
	"breachnotify/infra/seed"
	"breachnotify/shared/audience"
	"breachnotify/shared/aws/push"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/incident"
	"breachnotify/shared/intake"
	"breachnotify/shared/ledger"
	"breachnotify/shared/version"
)

// The end-to-end tests run the functions' real bootstrap binaries under the
// Lambda emulator against moto and aws-ses-v2-local, as `make demo` does.
// `make test` installs the tools they need.

var stack *local.State

const root = "../.."

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	code, err := withStack(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func withStack(m *testing.M) (int, error) {
	tmp, err := os.MkdirTemp("", "breachnotify-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bin")
	tpl, err := local.ReadTemplate(filepath.Join(root, "template.yaml"))
	if err != nil {
		return 0, err
	}
	for id, r := range tpl.Resources {
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		fn := strings.ToLower(strings.TrimSuffix(id, "Function"))
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", filepath.Join(bin, id, "bootstrap"), "./functions/"+fn)
		cmd.Dir, cmd.Stderr = root, os.Stderr
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("build %s: %w", fn, err)
		}
	}
	tmpDir, binDir = tmp, bin
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(tmp, "stack")
	s, err := startStack(ctx, dir, local.Options{PushRefusals: true})
	if err != nil {
		return 0, err
	}
	defer local.Down(dir)
	stack = s
	code := m.Run()
	for _, d := range extraStacks {
		local.Down(d)
	}
	return code, nil
}

// extraStacks are the stacks tests and benchmarks start beside the main
// one; TestMain stops any still running.
var extraStacks []string

// tmpDir and binDir are set by TestMain: a scratch folder and the built
// bootstraps, for tests that start a stack of their own.
var tmpDir, binDir string

// startStack starts a stack in dir with o's parameter and endpoint
// overrides, runs its mapper until ctx ends, and seeds the demo users.
func startStack(ctx context.Context, dir string, o local.Options) (*local.State, error) {
	o.Dir, o.Template, o.BinDir = dir, filepath.Join(root, "template.yaml"), binDir
	o.RIE = filepath.Join(root, ".local/tools/aws-lambda-rie")
	o.SESServer = filepath.Join(root, "infra/node_modules/aws-ses-v2-local/dist/cli.js")
	o.Python = "python3"
	s, err := local.Up(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("%w\n(run 'make tools build-local' first, or 'go test -short' for unit tests only)", err)
	}
	extraStacks = append(extraStacks, dir)
	go s.RunMapper(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f, err := os.Open(filepath.Join(root, "infra/seed/demo-users.jsonl"))
	if err != nil {
		local.Down(dir)
		return nil, err
	}
	defer f.Close()
	reg := &push.Registrar{Client: sns.NewFromConfig(s.Config()), Applications: s.Platforms}
	rep, err := seed.Import(ctx, f, s.Users(), reg)
	if err != nil || len(rep.Bad) > 0 {
		local.Down(dir)
		return nil, fmt.Errorf("seed demo users: %v %v", err, rep.Bad)
	}
	return s, nil
}

func needStack(t *testing.T) *local.State {
	t.Helper()
	if stack == nil {
		t.Skip("end-to-end tests need the local stack (not with -short)")
	}
	return stack
}

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// trigger puts an event on the bus and waits for everything it caused.
func trigger(t *testing.T, s *local.State, name string) {
	t.Helper()
	ctx := context.Background()
	if err := s.PutEvent(ctx, readEvent(t, name)); err != nil {
		t.Fatal(err)
	}
	if err := s.Drain(ctx, drainWait); err != nil {
		t.Fatal(err)
	}
}

func outbox(t *testing.T, s *local.State) []local.Sent {
	t.Helper()
	sent, err := s.Outbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

// notices summarises sent notices as "email ana@example.com update-app-ish subject"
// keys: for emails the address and the template (told apart by subject
// wording), for pushes the token.
func sentKeys(sent []local.Sent) []string {
	var keys []string
	for _, m := range sent {
		if m.Channel == "email" {
			keys = append(keys, "email "+m.To+" "+kind(m.Subject+m.Text))
		} else {
			keys = append(keys, "push "+m.Token+" "+kind(m.Title+m.Body))
		}
	}
	slices.Sort(keys)
	return keys
}

// kind tells the two templates apart: only update-app names the fixed version.
func kind(text string) string {
	if strings.Contains(text, "8.9.0") {
		return "update-app"
	}
	return "account-accessed"
}

func TestConfirmedIncident(t *testing.T) {
	s := needStack(t)
	before := outbox(t, s)
	trigger(t, s, "incident-confirmed.json")
	sent := since(before, outbox(t, s))

	want := []string{
		// account-accessed: the explicit user, on every channel and device.
		"email ana@example.com account-accessed",
		"push fcm-token-ana-1 account-accessed",
		// update-app: Android devices below 8.9.0, and the unparseable version.
		"email ana@example.com update-app",
		"push fcm-token-ana-1 update-app",
		"email diego@example.com update-app",
		"push fcm-token-diego-1 update-app", // not his iOS device
		"email emma@example.com update-app", // "8.9.0-beta": unparsed, treated as affected
		"push fcm-token-emma-1 update-app",
		"push fcm-token-farid-1 update-app", // no email address
		"email gus@example.com update-app",  // no push token
		"email hana@example.com update-app",
		"push fcm-token-hana-1 update-app", // 8.5.0; her 8.9.1 device is not notified
	}
	slices.Sort(want)
	if got := sentKeys(sent); !slices.Equal(got, want) {
		t.Errorf("sent:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for _, m := range sent {
		for _, who := range []string{"ben@", "chloe@", "gala@", "ivo@", "fcm-token-ben", "fcm-token-chloe", "apns-token", "fcm-token-hana-2"} {
			if strings.Contains(m.To+m.Token, who) {
				t.Errorf("%s was notified: on the fixed version, not below it (8.10.0), or not in the cohort", who)
			}
		}
	}
	t.Run("ledger records every delivery once", func(t *testing.T) {
		entries, err := s.Deliveries(context.Background(), "INC-2014-0527")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, e := range entries {
			k := e.Key.String()
			if _, dup := got[k]; dup {
				t.Errorf("%s recorded twice", k)
			}
			got[k] = string(e.Status) + " " + e.Reason
			if e.Status == ledger.Sent && (e.ProviderMessageID == "" || e.TemplateVersion == "" || e.Locale == "") {
				t.Errorf("%s: sent without message id, template version or locale: %+v", k, e)
			}
		}
		wantLedger := map[string]string{
			"INC-2014-0527/n0-account-accessed/u-000123/email":    "sent ",
			"INC-2014-0527/n0-account-accessed/u-000123/push/d-1": "sent ",
			"INC-2014-0527/n1-update-app/u-000123/email":          "sent ",
			"INC-2014-0527/n1-update-app/u-000123/push/d-1":       "sent ",
			"INC-2014-0527/n1-update-app/u-000202/email":          "sent ",
			"INC-2014-0527/n1-update-app/u-000202/push/d-1":       "sent ",
			"INC-2014-0527/n1-update-app/u-000203/email":          "sent ",
			"INC-2014-0527/n1-update-app/u-000203/push/d-1":       "sent ",
			"INC-2014-0527/n1-update-app/u-000204/email":          "skipped no-email",
			"INC-2014-0527/n1-update-app/u-000204/push/d-1":       "sent ",
			"INC-2014-0527/n1-update-app/u-000206/email":          "sent ",
			"INC-2014-0527/n1-update-app/u-000206/push/d-1":       "skipped no-endpoint",
			"INC-2014-0527/n1-update-app/u-000207/email":          "sent ",
			"INC-2014-0527/n1-update-app/u-000207/push/d-1":       "sent ",
		}
		for k, v := range wantLedger {
			if got[k] != v {
				t.Errorf("%s: %q, want %q", k, got[k], v)
			}
		}
		if len(got) != len(wantLedger) {
			t.Errorf("ledger has %d deliveries, want %d: %v", len(got), len(wantLedger), got)
		}
	})
	t.Run("the audience is frozen with counts and a hash", func(t *testing.T) {
		rec, found, err := s.Incident(context.Background(), "INC-2014-0527")
		if err != nil || !found {
			t.Fatalf("incident not recorded: %v", err)
		}
		a := rec.Audience
		if rec.State != incident.StateSending || a == nil || rec.PlannedAt.IsZero() || rec.TasksDone < rec.Tasks {
			t.Fatalf("incident = %+v", rec)
		}
		if len(a.Notices) != 2 || a.Notices[1].UnparsedVersions != 1 || a.Notices[1].Members != 6 || a.Notices[0].Members != 1 || a.Members != 7 || len(a.Hash) != 16 {
			t.Errorf("audience = %+v", a)
		}
	})
	t.Run("the same event again sends nothing new", func(t *testing.T) {
		n := len(outbox(t, s))
		trigger(t, s, "incident-confirmed.json")
		if got := len(outbox(t, s)); got != n {
			t.Errorf("a duplicate event sent %d more notices", got-n)
		}
		receipts, err := s.Receipts(context.Background(), "INC-2014-0527")
		if err != nil {
			t.Fatal(err)
		}
		if len(receipts) != 2 || receipts[1].Outcome != intake.Duplicate {
			t.Errorf("receipts = %+v, want the second one duplicate", receipts)
		}
	})
	t.Run("a redelivered planning task queues nothing", func(t *testing.T) {
		n := len(outbox(t, s))
		body, err := s.Invoke(context.Background(), "PlannerFunction", readEvent(t, "planner-task.json"))
		if err != nil {
			t.Fatal(err)
		}
		var resp events.SQSEventResponse
		if err := json.Unmarshal(body, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Errorf("planner response %s: %v", body, err)
		}
		if err := s.Drain(context.Background(), time.Minute); err != nil {
			t.Fatal(err)
		}
		if got := len(outbox(t, s)); got != n {
			t.Errorf("a finished task planned again: %d more notices", got-n)
		}
	})
	t.Run("resume with nothing paused re-queues nothing", func(t *testing.T) {
		// The sample is a Function URL event signed by omar, as Lambda
		// builds one: resume is accepted only through the URL.
		out, err := s.Invoke(context.Background(), "AdminFunction", readEvent(t, "admin-resume.json"))
		if err != nil {
			t.Fatal(err)
		}
		var url events.LambdaFunctionURLResponse
		var resp struct {
			Actor   string         `json:"actor"`
			Resumed map[string]int `json:"resumed"`
		}
		if err := json.Unmarshal(out, &url); err != nil || url.StatusCode != 200 {
			t.Fatalf("admin response %s: %v", out, err)
		}
		if err := json.Unmarshal([]byte(url.Body), &resp); err != nil || resp.Actor != "omar" || resp.Resumed["email"] != 0 {
			t.Errorf("admin response %s: %v", url.Body, err)
		}
	})
	t.Run("a redelivered worker batch sends nothing new", func(t *testing.T) {
		n := len(outbox(t, s))
		body, err := s.Invoke(context.Background(), "WorkerFunction", readEvent(t, "worker-batch.json"))
		if err != nil {
			t.Fatal(err)
		}
		var resp events.SQSEventResponse
		if err := json.Unmarshal(body, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Errorf("worker response %s: %v", body, err)
		}
		if got := len(outbox(t, s)); got != n {
			t.Errorf("a redelivered batch sent %d more notices", got-n)
		}
	})
}

func TestUnconfirmedIncidentsSendNothing(t *testing.T) {
	s := needStack(t)
	tests := []struct {
		event, incident string
	}{
		{"incident-suspected.json", "INC-2014-0601"},
		{"incident-mislabelled.json", "INC-2014-0602"},
	}
	for _, tc := range tests {
		t.Run(tc.event, func(t *testing.T) {
			n := len(outbox(t, s))
			trigger(t, s, tc.event)
			if got := len(outbox(t, s)); got != n {
				t.Errorf("%d notices sent for an unconfirmed incident", got-n)
			}
			rec, found, err := s.Incident(context.Background(), tc.incident)
			if err != nil || !found {
				t.Fatalf("incident not recorded: %v", err)
			}
			if rec.State != "suspected" || !rec.PlannedAt.IsZero() {
				t.Errorf("recorded as %s, planned at %v", rec.State, rec.PlannedAt)
			}
			entries, err := s.Deliveries(context.Background(), tc.incident)
			if err != nil || len(entries) != 0 {
				t.Errorf("ledger has %d entries (%v)", len(entries), err)
			}
		})
	}
}

func TestInvalidEventIsRejectedAndRecorded(t *testing.T) {
	s := needStack(t)
	n := len(outbox(t, s))
	body, err := s.Invoke(context.Background(), "IntakeFunction", readEvent(t, "incident-invalid.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res intake.Result
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != intake.Rejected || !strings.Contains(res.Reason, "title") || !strings.Contains(res.Reason, "reset-password") {
		t.Errorf("result = %+v, want rejected naming the missing title and the unknown template", res)
	}
	receipts, err := s.Receipts(context.Background(), res.IncidentID)
	if err != nil || len(receipts) == 0 || receipts[len(receipts)-1].Outcome != intake.Rejected || receipts[len(receipts)-1].Raw == "" {
		t.Errorf("rejection not recorded with the raw event: %+v (%v)", receipts, err)
	}
	if got := len(outbox(t, s)); got != n {
		t.Errorf("%d notices sent for an invalid event", got-n)
	}
}

func TestReimportUpdatesTheCohortIndex(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	below, err := version.Parse("8.9.0")
	if err != nil {
		t.Fatal(err)
	}
	cohort := func() []string {
		var got []string
		err := s.Users().Cohort(ctx, "android", audience.UserShard("u-900"), below, func(m audience.Match) error {
			if m.UserID == "u-900" {
				got = append(got, m.DeviceID)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		return got
	}
	steps := []struct {
		name, line string
		want       []string
	}{
		{"two old devices", `{"userId":"u-900","devices":[{"deviceId":"d-1","platform":"android","appVersion":"8.0"},{"deviceId":"d-2","platform":"android","appVersion":"8.1"}]}`, []string{"d-1", "d-2"}},
		{"one updated", `{"userId":"u-900","devices":[{"deviceId":"d-1","platform":"android","appVersion":"8.10.0"},{"deviceId":"d-2","platform":"android","appVersion":"8.1"}]}`, []string{"d-2"}},
		{"one removed", `{"userId":"u-900","devices":[{"deviceId":"d-1","platform":"android","appVersion":"8.10.0"}]}`, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			rep, err := seed.Import(ctx, strings.NewReader(st.line), s.Users(), nil)
			if err != nil || rep.Imported != 1 {
				t.Fatalf("import: %v %+v", err, rep)
			}
			if got := cohort(); !slices.Equal(got, st.want) {
				t.Errorf("cohort devices %v, want %v", got, st.want)
			}
		})
	}
}

func TestPoisonMessageIsFailedTowardsTheDeadLetterQueue(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	// The fine message is a batch of an incident of this test's own, sent
	// already: it must be answered as done, not failed beside the poison.
	const id = "INC-POISON-1"
	if _, err := notifyOne(ctx, s, id); err != nil {
		t.Fatal(err)
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "poison", Body: `{"incidentId":"INC#bad"}`, EventSource: "aws:sqs"},
		{MessageId: "fine", Body: string(mustJSON(t, dispatchBatch(id))), EventSource: "aws:sqs"},
	}}
	body, err := s.Invoke(ctx, "WorkerFunction", mustJSON(t, ev))
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "poison" {
		t.Errorf("batch item failures = %+v, want only the poison message", resp.BatchItemFailures)
	}
	// SQS, not the worker, moves it on: the queue's redrive policy must be the template's.
	out, err := sqs.NewFromConfig(s.Config()).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(s.Names["RecipientsQueue"]), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameRedrivePolicy},
	})
	if err != nil {
		t.Fatal(err)
	}
	var redrive struct {
		Target string `json:"deadLetterTargetArn"`
		Max    int    `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(out.Attributes["RedrivePolicy"]), &redrive); err != nil {
		t.Fatal(err)
	}
	if redrive.Target != s.QueueARNs["RecipientsDeadLetterQueue"] || redrive.Max != 5 {
		t.Errorf("redrive policy = %+v", redrive)
	}
}

// dispatchBatch is a worker batch of incident id's first notice for the
// demo user u-000123, by email.
func dispatchBatch(id string) dispatch.Batch {
	return dispatch.Batch{IncidentID: id, NoticeID: "n0-account-accessed", Template: "account-accessed",
		Channels: []incident.Channel{incident.Email}, Members: []audience.Member{{UserID: "u-000123", AllDevices: true}}}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// drainWait is how long a test waits for the stack's queues to empty. It
// returns as soon as they do; the bound is generous because a loaded
// 2-core machine (CI, or several runs at once) takes far longer than an
// idle one.
const drainWait = 3 * time.Minute

// since is what after holds beyond before: the outbox lists emails, then
// pushes, so what a test sent is not a suffix of it once another test has
// pushed anything.
func since(before, after []local.Sent) []local.Sent {
	seen := map[local.Sent]int{}
	for _, m := range before {
		seen[m]++
	}
	var out []local.Sent
	for _, m := range after {
		if seen[m] > 0 {
			seen[m]--
			continue
		}
		out = append(out, m)
	}
	return out
}
