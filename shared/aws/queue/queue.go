// Package queue is the SQS adapter: it sends recipient batches to the queue
// and turns the Lambda SQS event into calls to the dispatcher, answering
// with a partial batch response.
package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"breachnotify/shared/incident"
)

// Client is the part of the SQS API this package calls.
type Client interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Sender sends message bodies to one queue.
type Sender struct {
	Client Client
	URL    string
	// FIFO: the queue is a FIFO queue. Each body is its own message group
	// and its own deduplication id (a hash of the body): the same task is
	// never worked on twice at once, and a copy sent again within SQS's
	// five-minute deduplication window is dropped.
	FIFO bool
}

// sendBatchMax is SendMessageBatch's limit on entries per call.
const sendBatchMax = 10

// Send enqueues bodies, up to ten per call and never more bytes per call
// than SQS takes (incident.MaxBatchCallBytes), re-sending entries SQS
// reports as failed so that no batch is silently dropped. A body larger
// than incident.MaxMessageBytes is refused before anything is sent.
func (s *Sender) Send(ctx context.Context, bodies [][]byte) error {
	for _, b := range bodies {
		if len(b) > incident.MaxMessageBytes {
			return fmt.Errorf("send to %s: a message of %d bytes, more than %d", s.URL, len(b), incident.MaxMessageBytes)
		}
	}
	for start := 0; start < len(bodies); {
		end, size := start, 0
		for end < len(bodies) && end-start < sendBatchMax && size+len(bodies[end]) <= incident.MaxBatchCallBytes {
			size += len(bodies[end])
			end++
		}
		chunk := bodies[start:end]
		start = end
		entries := make([]types.SendMessageBatchRequestEntry, len(chunk))
		for i, b := range chunk {
			entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(b))}
			if s.FIFO {
				sum := sha256.Sum256(b)
				id := hex.EncodeToString(sum[:])
				entries[i].MessageGroupId, entries[i].MessageDeduplicationId = &id, &id
			}
		}
		for attempt := 0; len(entries) > 0; attempt++ {
			if attempt > 0 {
				if attempt > 5 {
					return fmt.Errorf("send to %s: %d messages still failing after %d attempts", s.URL, len(entries), attempt)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Duration(1<<attempt) * 50 * time.Millisecond):
				}
			}
			out, err := s.Client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &s.URL, Entries: entries})
			if err != nil {
				return fmt.Errorf("send to %s: %w", s.URL, err)
			}
			var retry []types.SendMessageBatchRequestEntry
			for _, f := range out.Failed {
				if f.SenderFault {
					return fmt.Errorf("send to %s: entry rejected: %s: %s", s.URL, aws.ToString(f.Code), aws.ToString(f.Message))
				}
				for _, e := range entries {
					if aws.ToString(e.Id) == aws.ToString(f.Id) {
						retry = append(retry, e)
					}
				}
			}
			entries = retry
		}
	}
	return nil
}

// maxDelay is the longest SQS delays a message.
const maxDelay = 15 * time.Minute

// SendLater enqueues body to be received at at, or after SQS's longest
// delay (15 minutes) when at is further: the receiver sends it on again
// if it is still early.
func (s *Sender) SendLater(ctx context.Context, body []byte, at time.Time) error {
	delay := min(max(time.Until(at), 0), maxDelay)
	entry := types.SendMessageBatchRequestEntry{Id: aws.String("0"), MessageBody: aws.String(string(body)),
		DelaySeconds: int32(delay.Seconds())}
	out, err := s.Client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &s.URL, Entries: []types.SendMessageBatchRequestEntry{entry}})
	if err != nil {
		return fmt.Errorf("send to %s in %s: %w", s.URL, delay, err)
	}
	if len(out.Failed) > 0 {
		return fmt.Errorf("send to %s in %s: %s", s.URL, delay, aws.ToString(out.Failed[0].Message))
	}
	return nil
}
