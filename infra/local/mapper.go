package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// RunMapper plays the event source mappings, and serves the functions'
// URLs and the SES front (ServeSES), until ctx ends: it receives
// from each mapped queue and invokes the function as Lambda would. For an
// SQS mapping it sends events.SQSEvent batches, deletes what succeeded and
// leaves reported failures for redelivery (SQS moves a message to the
// dead-letter queue after maxReceiveCount). For a rule inbox it invokes once
// per event and deletes the event only when the function succeeded.
func (s *State) RunMapper(ctx context.Context, log *slog.Logger) error {
	s.log = log
	if err := s.ServeSES(ctx); err != nil {
		return err
	}
	if err := s.ServeSNS(ctx); err != nil {
		return err
	}
	for id := range s.FunctionURLs {
		if _, err := s.ServeFunctionURL(ctx, id); err != nil {
			return err
		}
	}
	q := sqs.NewFromConfig(s.Config())
	var wg sync.WaitGroup
	for _, m := range s.Mappings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := s.pollOnce(ctx, q, m, log); err != nil && ctx.Err() == nil {
					log.Error("mapping", "function", m.Function, "queue", m.QueueURL, "error", err)
					time.Sleep(500 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

func (s *State) pollOnce(ctx context.Context, q *sqs.Client, m Mapping, log *slog.Logger) error {
	out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    &m.QueueURL,
		MaxNumberOfMessages:         int32(min(m.BatchSize, 10)),
		WaitTimeSeconds:             1,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
	})
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	if len(out.Messages) == 0 {
		return nil
	}
	if m.Async {
		for _, msg := range out.Messages {
			if err := s.invokeAsync(ctx, q, m, msg, log); err != nil {
				return err
			}
		}
		return nil
	}
	ev := events.SQSEvent{}
	for _, msg := range out.Messages {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: aws.ToString(msg.MessageId), ReceiptHandle: aws.ToString(msg.ReceiptHandle),
			Body: aws.ToString(msg.Body), Md5OfBody: aws.ToString(msg.MD5OfBody),
			Attributes: msg.Attributes, EventSource: "aws:sqs",
			EventSourceARN: s.queueARN(m.QueueURL), AWSRegion: s.Region,
		})
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	body, err := s.Invoke(ctx, m.Function, payload)
	s.count(m.Function, err)
	if err != nil {
		// A failed invocation fails the whole batch: nothing is deleted.
		log.Warn("batch left for retry", "function", m.Function, "messages", len(ev.Records), "error", err)
		return nil
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		log.Warn("unreadable batch response; batch left for retry", "function", m.Function, "error", err)
		return nil
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	for _, msg := range out.Messages {
		if failed[aws.ToString(msg.MessageId)] {
			log.Info("message left for retry", "function", m.Function, "messageId", aws.ToString(msg.MessageId),
				"receiveCount", msg.Attributes["ApproximateReceiveCount"])
			continue
		}
		if err := s.delete(ctx, q, m.QueueURL, msg); err != nil {
			return err
		}
	}
	return nil
}

// AsyncRetryDelay is the wait before the n-th retry of a failed
// asynchronous invocation. Lambda waits 1 minute, then 2; the local stack
// keeps the order and the count but waits seconds, so a test need not wait
// three minutes.
func AsyncRetryDelay(n int) time.Duration { return time.Duration(n) * time.Second }

// invokeAsync plays one attempt of an asynchronous invocation, as Lambda
// does for an EventBridge target: the event is retried after a function
// error MaximumRetryAttempts times; then an invocation record goes to the
// on-failure destination, or the event is dropped when there is none.
// The attempt number is the message's receive count.
func (s *State) invokeAsync(ctx context.Context, q *sqs.Client, m Mapping, msg sqstypes.Message, log *slog.Logger) error {
	payload := []byte(aws.ToString(msg.Body))
	if m.SNS {
		var err error
		if payload, err = snsEvent(payload, s.Region); err != nil {
			log.Error("unreadable SNS notification dropped", "function", m.Function, "error", err)
			return s.delete(ctx, q, m.QueueURL, msg)
		}
	}
	resp, err := s.Invoke(ctx, m.Function, payload)
	if err == nil {
		return s.delete(ctx, q, m.QueueURL, msg)
	}
	attempt, _ := strconv.Atoi(msg.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
	cfg := s.Functions[m.Function].Async
	if attempt <= cfg.MaximumRetryAttempts {
		log.Warn("asynchronous invocation failed; Lambda retries it", "function", m.Function, "attempt", attempt, "error", err)
		_, verr := q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &m.QueueURL, ReceiptHandle: msg.ReceiptHandle,
			VisibilityTimeout: int32(AsyncRetryDelay(attempt).Seconds())})
		return verr
	}
	if cfg.OnFailureQueueURL == "" {
		log.Error("asynchronous invocation failed for good and dropped, as Lambda drops it without an on-failure destination",
			"function", m.Function, "attempts", attempt, "error", err)
		return s.delete(ctx, q, m.QueueURL, msg)
	}
	record, rerr := FailureRecord(s.functionARN(m.Function), aws.ToString(msg.MessageId), attempt, payload, resp, time.Now())
	if rerr != nil {
		return rerr
	}
	if _, serr := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &cfg.OnFailureQueueURL, MessageBody: aws.String(string(record))}); serr != nil {
		return fmt.Errorf("send to the on-failure destination: %w", serr)
	}
	log.Error("asynchronous invocation failed for good; sent to its on-failure destination", "function", m.Function, "attempts", attempt)
	return s.delete(ctx, q, m.QueueURL, msg)
}

// FailureRecord is the invocation record Lambda sends to an on-failure
// destination after the last attempt: the original event as requestPayload,
// the function's error as responsePayload.
func FailureRecord(functionARN, requestID string, attempts int, payload, response []byte, at time.Time) ([]byte, error) {
	if !json.Valid(payload) {
		payload, _ = json.Marshal(string(payload))
	}
	if !json.Valid(response) {
		response, _ = json.Marshal(map[string]string{"errorMessage": string(response), "errorType": "Unknown"})
	}
	return json.Marshal(map[string]any{
		"version":   "1.0",
		"timestamp": at.UTC().Format("2006-01-02T15:04:05.000Z"),
		"requestContext": map[string]any{
			"requestId": requestID, "functionArn": functionARN + ":$LATEST",
			"condition": "RetriesExhausted", "approximateInvokeCount": attempts,
		},
		"requestPayload":  json.RawMessage(payload),
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
		"responsePayload": json.RawMessage(response),
	})
}

func (s *State) functionARN(id string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", s.Region, accountID, physical(id))
}

func (s *State) delete(ctx context.Context, q *sqs.Client, url string, msg sqstypes.Message) error {
	if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: msg.ReceiptHandle}); err != nil {
		return fmt.Errorf("delete message: %w", err)
	}
	return nil
}

func (s *State) queueARN(url string) string {
	for id, arn := range s.QueueARNs {
		if s.Names[id] == url {
			return arn
		}
	}
	return ""
}

// ErrNotDrained: messages were still queued or in flight when Drain gave up.
var ErrNotDrained = errors.New("queues not drained")

// Drain waits until every mapped queue is empty, nothing is in flight, and
// that has held for a moment (a message being processed can enqueue more).
func (s *State) Drain(ctx context.Context, limit time.Duration) error {
	q := sqs.NewFromConfig(s.Config())
	deadline := time.Now().Add(limit)
	quiet := 0
	for {
		pending, err := s.pending(ctx, q)
		if err != nil {
			return err
		}
		if pending == 0 {
			quiet++
			if quiet >= 3 {
				return nil
			}
		} else {
			quiet = 0
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %s: %d messages left", ErrNotDrained, limit, pending)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (s *State) pending(ctx context.Context, q *sqs.Client) (int, error) {
	total := 0
	for _, m := range s.Mappings {
		out, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: &m.QueueURL,
			AttributeNames: []sqstypes.QueueAttributeName{
				sqstypes.QueueAttributeNameApproximateNumberOfMessages,
				sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			},
		})
		if err != nil {
			return 0, fmt.Errorf("read queue %s: %w", m.QueueURL, err)
		}
		for _, v := range out.Attributes {
			n, _ := strconv.Atoi(v)
			total += n
		}
	}
	return total, nil
}

// Invocations are what the mapper's invocations of one function came to.
type Invocations struct {
	// All counts the invocations; TimedOut those the emulator ended at
	// the function's timeout ("Task timed out after …").
	All, TimedOut int
}

// count notes one invocation of function and how it ended.
func (s *State) count(function string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.invocations == nil {
		s.invocations = map[string]Invocations{}
	}
	n := s.invocations[function]
	n.All++
	var fe *FunctionError
	if errors.As(err, &fe) && fe.TimedOut {
		n.TimedOut++
	}
	s.invocations[function] = n
}

// InvocationsOf returns what this process's mapper invoked of function.
func (s *State) InvocationsOf(function string) Invocations {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.invocations[function]
}

// snsEvent is the SNS event Lambda builds for a topic's notification,
// from the notification as the topic delivered it to an SQS queue.
func snsEvent(notification []byte, region string) ([]byte, error) {
	var n struct {
		Type, MessageId, TopicArn, Subject, Message string
		Timestamp                                   time.Time
	}
	if err := json.Unmarshal(notification, &n); err != nil {
		return nil, fmt.Errorf("decode SNS notification: %w", err)
	}
	ev := events.SNSEvent{Records: []events.SNSEventRecord{{
		EventVersion: "1.0", EventSource: "aws:sns",
		EventSubscriptionArn: n.TopicArn + ":local",
		SNS: events.SNSEntity{Type: n.Type, MessageID: n.MessageId, TopicArn: n.TopicArn, Subject: n.Subject,
			Message: n.Message, Timestamp: n.Timestamp},
	}}}
	return json.Marshal(ev)
}
