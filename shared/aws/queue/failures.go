package queue

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"breachnotify/shared/intake"
)

// FailuresClient is the part of the SQS API Failures calls.
type FailuresClient interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// Failures reads intake's on-failure destination: the invocation records
// Lambda writes after intake failed on an event for good.
type Failures struct {
	Client FailuresClient
	URL    string
	// Hold is how long a received record stays invisible to other readers
	// while it is replayed; one that fails again reappears after it.
	Hold int32
}

// Receive takes up to n records (at most 10, SQS's limit per call)
// without waiting. A message that is not an invocation record comes back
// with its error, so the caller can report it and leave it.
func (f *Failures) Receive(ctx context.Context, n int) ([]intake.Failure, []error, error) {
	out, err := f.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: &f.URL, MaxNumberOfMessages: int32(min(max(n, 1), 10)), VisibilityTimeout: f.Hold,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("receive from %s: %w", f.URL, err)
	}
	var got []intake.Failure
	var bad []error
	for _, m := range out.Messages {
		fl, err := intake.ParseFailure(aws.ToString(m.ReceiptHandle), []byte(aws.ToString(m.Body)))
		if err != nil {
			bad = append(bad, fmt.Errorf("message %s: %w", aws.ToString(m.MessageId), err))
			continue
		}
		got = append(got, fl)
	}
	return got, bad, nil
}

// Delete removes a replayed record.
func (f *Failures) Delete(ctx context.Context, handle string) error {
	if _, err := f.Client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &f.URL, ReceiptHandle: &handle}); err != nil {
		return fmt.Errorf("delete from %s: %w", f.URL, err)
	}
	return nil
}
