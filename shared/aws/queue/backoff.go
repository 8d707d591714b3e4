package queue

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// VisibilityClient changes when a received message is delivered again.
type VisibilityClient interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Backoff delays the redelivery of a failed message: base × 2^(n-1) for the
// n-th receive, with ±20% jitter so messages that failed together (a
// throttling burst) do not return together, capped at maxBackoff.
type Backoff struct {
	Client   VisibilityClient
	QueueURL string
	Base     time.Duration
}

// maxBackoff stays under SQS's 12-hour visibility limit and well inside
// the 24-hour notification deadline.
const maxBackoff = 15 * time.Minute

// maxVisibility is SQS's limit on a visibility timeout.
const maxVisibility = 12 * time.Hour

// Delay is the wait before the next delivery of a message received
// receiveCount times.
func (b *Backoff) Delay(receiveCount int) time.Duration {
	d := b.Base
	for i := 1; i < receiveCount && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	jitter := time.Duration((rand.Float64()*0.4 - 0.2) * float64(d))
	return max(d+jitter, time.Second)
}

// Defer sets the message's visibility timeout to its backoff delay, or
// later if the retry cannot succeed before notBefore: waiting out another
// worker's claim this way spends one receive, not several of the queue's
// maxReceiveCount.
func (b *Backoff) Defer(ctx context.Context, receiptHandle, receiveCount string, notBefore time.Time) (time.Duration, error) {
	n, err := strconv.Atoi(receiveCount)
	if err != nil {
		n = 1
	}
	d := b.Delay(n)
	if wait := time.Until(notBefore) + time.Second; wait > d {
		d = min(wait, maxVisibility)
	}
	_, err = b.Client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &b.QueueURL, ReceiptHandle: &receiptHandle, VisibilityTimeout: int32(d.Seconds()),
	})
	return d, err
}

// soonMax bounds the wait of a deferred message: its members failed
// nothing, they only wait for a worker with time to spare.
const soonMax = 3 * time.Second

// Soon makes a message deferred for lack of time visible again in one to
// three seconds (jittered, so the deferred messages of one invocation do
// not return together), not after the backoff of a failure.
func (b *Backoff) Soon(ctx context.Context, receiptHandle string) (time.Duration, error) {
	d := time.Second + time.Duration(rand.Int64N(int64(soonMax-time.Second)))
	_, err := b.Client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &b.QueueURL, ReceiptHandle: &receiptHandle, VisibilityTimeout: int32(d.Round(time.Second).Seconds()),
	})
	return d, err
}
