package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"breachnotify/infra/local"
	"breachnotify/shared/admin"
	"breachnotify/shared/audit"
	"breachnotify/shared/incident"
)

// An event intake fails on is not lost, as on AWS: Lambda runs intake three
// times (the first attempt and EventInvokeConfig's two retries), then sends
// an invocation record with the original event to IntakeFailureQueue. Once
// the cause is fixed, replay-intake (through the Function URL) plans it,
// and the audit trail says who did.
func TestIntakeFailureIsKeptAndReplayed(t *testing.T) {
	needStack(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(tmpDir, "intake-failure")
	s, err := startStack(ctx, dir, local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Down(dir)
	db := dynamodb.NewFromConfig(s.Config())
	q := sqs.NewFromConfig(s.Config())
	failures := s.Names["IntakeFailureQueue"]
	if failures == "" || s.Functions["IntakeFunction"].Async.OnFailureQueueURL != failures || s.Functions["IntakeFunction"].Async.MaximumRetryAttempts != 2 {
		t.Fatalf("intake's EventInvokeConfig as read from the template: %+v (queue %q)", s.Functions["IntakeFunction"].Async, failures)
	}

	// The cause: the incidents table is gone (as a throttled or missing
	// table would fail every write).
	table := s.Names["IncidentsTable"]
	if _, err := db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &table}); err != nil {
		t.Fatal(err)
	}
	const id = "INC-REPLAY-1"
	event := strings.ReplaceAll(string(readEvent(t, "incident-confirmed.json")), "INC-2014-0527", id)
	if err := s.PutEvent(ctx, []byte(event)); err != nil {
		t.Fatal(err)
	}

	var record struct {
		RequestContext struct {
			Condition              string `json:"condition"`
			ApproximateInvokeCount int    `json:"approximateInvokeCount"`
		} `json:"requestContext"`
		RequestPayload struct {
			Source string `json:"source"`
			Detail struct {
				ID string `json:"incidentId"`
			} `json:"detail"`
		} `json:"requestPayload"`
		ResponseContext struct {
			FunctionError string `json:"functionError"`
		} `json:"responseContext"`
		ResponsePayload struct {
			ErrorMessage string `json:"errorMessage"`
		} `json:"responsePayload"`
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &failures, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) > 0 {
			if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &record); err != nil {
				t.Fatal(err)
			}
			// Put it back in sight for the replay.
			if _, err := q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &failures,
				ReceiptHandle: out.Messages[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the failed event never reached IntakeFailureQueue")
		}
	}
	if record.RequestContext.Condition != "RetriesExhausted" || record.RequestContext.ApproximateInvokeCount != 3 ||
		record.ResponseContext.FunctionError != "Unhandled" || record.ResponsePayload.ErrorMessage == "" {
		t.Errorf("invocation record %+v, want RetriesExhausted after 3 attempts with intake's error", record)
	}
	if record.RequestPayload.Detail.ID != id || record.RequestPayload.Source != "acme.detection" {
		t.Errorf("the record does not carry the original event: %+v", record.RequestPayload)
	}
	// Nothing is left for the rule to retry: Lambda, not EventBridge, owned the event.
	if n := queueDepth(t, q, s.Names["IntakeDeadLetterQueue"]); n != 0 {
		t.Errorf("%d messages in the rule's dead-letter queue: the rule handed the event over", n)
	}

	// The fix: the table is back (empty, as a restore would leave it).
	tpl, err := local.ReadTemplate(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTable(ctx, tpl, "IncidentsTable"); err != nil {
		t.Fatal(err)
	}
	a := &adminClient{t: t, s: s}
	resp := a.signed(admin.Request{Operation: "replay-intake"})
	if resp.Replay == nil || resp.Replay.Replayed != 1 || resp.Replay.Failed != 0 || len(resp.Replay.Events) != 1 ||
		resp.Replay.Events[0].IncidentID != id {
		t.Fatalf("replay = %+v", resp.Replay)
	}
	if err := s.Drain(ctx, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	rec, found, err := s.Incident(ctx, id)
	if err != nil || !found || (rec.State != incident.StateSending && rec.State != incident.StateCompleted) {
		t.Fatalf("after the replay the incident is %q (found %v, %v), want sending or completed", rec.State, found, err)
	}
	entries, err := s.Deliveries(ctx, id)
	if err != nil || len(entries) == 0 {
		t.Fatalf("nothing delivered after the replay (%v)", err)
	}
	trail, err := s.AuditTrail(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	replayed := 0
	for _, e := range trail {
		if e.Kind == audit.IntakeReplayed {
			replayed++
			if e.Actor != "local" || e.Detail["door"] != "url" || !strings.HasSuffix(e.Detail["principal"], ":user/local") || e.Detail["attempts"] != "3" {
				t.Errorf("replay entry %+v: want the signed caller's person and principal, and 3 attempts", e)
			}
		}
	}
	if replayed != 1 {
		t.Errorf("%d intake-replayed audit entries, want 1", replayed)
	}
	if n := queueDepth(t, q, failures); n != 0 {
		t.Errorf("%d records left in IntakeFailureQueue after the replay", n)
	}
}

func queueDepth(t testing.TB, q *sqs.Client, url string) int {
	t.Helper()
	out, err := q.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: &url,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range out.Attributes {
		c, _ := strconv.Atoi(v)
		n += c
	}
	return n
}
