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
	if err := s.ServeSES(ctx); err != nil {
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
			if _, err := s.Invoke(ctx, m.Function, []byte(aws.ToString(msg.Body))); err != nil {
				log.Warn("event left for retry", "function", m.Function, "messageId", aws.ToString(msg.MessageId), "error", err)
				continue
			}
			if err := s.delete(ctx, q, m.QueueURL, msg); err != nil {
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
