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
	// Requeue, when set, takes the part of a message that Process had no
	// time for (an error with a Remainder) as a new message, and the
	// message itself is done: its receive count then counts failures,
	// not waits for the worker's share. Without it, or if it fails, the
	// message comes back soon (Backoff.Soon).
	Requeue Enqueuer
	// Closing is the budget of the writes that follow Process (the
	// requeue, the visibility change): they run detached from the
	// invocation's cancellation (dispatch.Closing).
	Closing time.Duration
	Log     *slog.Logger
}

// Enqueuer sends message bodies to a queue (Sender).
type Enqueuer interface {
	Send(ctx context.Context, bodies [][]byte) error
}

// remainder is implemented by errors that leave part of a message
// unprocessed, not failed (dispatch.DeferredError).
type remainder interface{ Remainder() ([]byte, error) }

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
				cctx, cancel := dispatch.Closing(ctx, h.Closing)
				defer cancel()
				if h.requeue(cctx, rec, err) {
					return
				}
				h.deferRetry(cctx, rec, err)
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
		switch {
		case errors.Is(err, dispatch.ErrRetry):
			level = slog.LevelWarn
		case errors.Is(err, dispatch.ErrDeferred):
			h.Log.InfoContext(ctx, "message partly deferred", "messageId", rec.MessageId, "detail", err.Error())
			return err
		}
		h.Log.Log(ctx, level, "message will be retried", "messageId", rec.MessageId, "error", err.Error())
		return err
	}
	return nil
}

// retryAt is implemented by errors that know when a retry can succeed
// (dispatch.RetryLaterError: another worker's claim ends then).
type retryAt interface{ RetryAt() time.Time }

// requeue sends the part of a message Process had no time for as a new
// message, and reports whether it did: the message is then done.
func (h *Handler[T]) requeue(ctx context.Context, rec events.SQSMessage, cause error) bool {
	var rest remainder
	if h.Requeue == nil || !errors.As(cause, &rest) || errors.Is(cause, dispatch.ErrRetry) {
		return false
	}
	body, err := rest.Remainder()
	if err == nil {
		err = h.Requeue.Send(ctx, [][]byte{body})
	}
	if err != nil {
		h.Log.WarnContext(ctx, "could not requeue the deferred rest; the message comes back", "messageId", rec.MessageId, "error", err.Error())
		return false
	}
	return true
}

func (h *Handler[T]) deferRetry(ctx context.Context, rec events.SQSMessage, cause error) {
	if h.Backoff == nil {
		return
	}
	if errors.Is(cause, dispatch.ErrDeferred) && !errors.Is(cause, dispatch.ErrRetry) {
		d, err := h.Backoff.Soon(ctx, rec.ReceiptHandle)
		if err != nil {
			h.Log.WarnContext(ctx, "could not shorten the visibility of a deferred message", "messageId", rec.MessageId, "error", err.Error())
			return
		}
		h.Log.InfoContext(ctx, "deferred message returns soon", "messageId", rec.MessageId, "delaySeconds", int(d.Seconds()))
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
