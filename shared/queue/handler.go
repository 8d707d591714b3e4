package queue

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"breachnotify/shared/dispatch"
)

// Handler is an SQS-triggered function (the worker, the planner): every
// message that is not fully done is reported as a batch item failure, so
// SQS redelivers it and, after the queue's maxReceiveCount, moves it to the
// dead-letter queue. Nothing is dropped: a malformed message is logged with
// its reason and also ends in the dead-letter queue.
type Handler[T any] struct {
	// Parse decodes and checks a message body; its errors wrap
	// dispatch.ErrMalformed.
	Parse   func([]byte) (T, error)
	Process func(context.Context, T) error
	// Backoff, when set, delays a failed message's redelivery instead of
	// leaving it to the queue's visibility timeout.
	Backoff *Backoff
	Log     *slog.Logger
}

// Handle processes an SQS event.
func (h *Handler[T]) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	// An empty list, not null, says "all succeeded" unambiguously.
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	// The messages are processed together, so that the worker's send slots
	// stay busy across them; the order of the failures does not matter.
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for _, rec := range ev.Records {
		wg.Go(func() {
			if err := h.one(ctx, rec); err != nil {
				h.deferRetry(ctx, rec, err)
				mu.Lock()
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return resp, nil
}

func (h *Handler[T]) one(ctx context.Context, rec events.SQSMessage) error {
	v, err := h.Parse([]byte(rec.Body))
	if err != nil {
		h.Log.ErrorContext(ctx, "malformed message, left for the dead-letter queue",
			"messageId", rec.MessageId, "receiveCount", rec.Attributes["ApproximateReceiveCount"], "reason", err.Error())
		return err
	}
	if err := h.Process(ctx, v); err != nil {
		level := slog.LevelError
		if errors.Is(err, dispatch.ErrRetry) {
			level = slog.LevelWarn
		}
		h.Log.Log(ctx, level, "message will be retried", "messageId", rec.MessageId, "error", err.Error())
		return err
	}
	return nil
}

// retryAt is implemented by errors that know when a retry can succeed
// (dispatch.RetryLaterError: another worker's claim ends then).
type retryAt interface{ RetryAt() time.Time }

func (h *Handler[T]) deferRetry(ctx context.Context, rec events.SQSMessage, cause error) {
	if h.Backoff == nil {
		return
	}
	var notBefore time.Time
	var ra retryAt
	if errors.As(cause, &ra) {
		notBefore = ra.RetryAt()
	}
	d, err := h.Backoff.Defer(ctx, rec.ReceiptHandle, rec.Attributes["ApproximateReceiveCount"], notBefore)
	if err != nil {
		// The message still comes back, after the queue's own timeout.
		h.Log.WarnContext(ctx, "could not set retry backoff", "messageId", rec.MessageId, "error", err.Error())
		return
	}
	h.Log.InfoContext(ctx, "retry deferred", "messageId", rec.MessageId, "delaySeconds", int(d.Seconds()))
}
