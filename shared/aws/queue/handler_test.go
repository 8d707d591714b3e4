package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"breachnotify/shared/audience"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/incident"
)

// enqueueFunc is an Enqueuer made of a function.
type enqueueFunc func(ctx context.Context, bodies [][]byte) error

func (f enqueueFunc) Send(ctx context.Context, bodies [][]byte) error { return f(ctx, bodies) }

func TestDeferredMembersGoBackWithoutSpendingAReceive(t *testing.T) {
	rest := dispatch.Batch{IncidentID: "INC-1", NoticeID: "n0", Template: "t", Channels: []incident.Channel{incident.Email}, Members: []audience.Member{{UserID: "u-9"}}}
	deferred := &dispatch.DeferredError{Rest: rest}
	retry := fmt.Errorf("batch: %w: throttled", dispatch.ErrRetry)
	tests := []struct {
		name       string
		err        error
		requeueErr error
		// wantFailed: the message is reported as a batch item failure.
		wantFailed   bool
		wantRequeued int
		// visibility the message gets, in seconds (0: not changed).
		visLo, visHi int32
	}{
		{"deferred: the rest is a new message, this one is done", deferred, nil, false, 1, 0, 0},
		{"deferred, requeue failed: back in 1-3 s", deferred, errors.New("sqs down"), true, 1, 1, 3},
		{"a retry: backoff by receive count", retry, nil, true, 0, 8, 12},
		{"done", nil, nil, false, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var requeued [][]byte
			var vis int32
			var liveErr []error
			ctx, cancel := context.WithCancel(context.Background())
			h := &Handler[string]{
				Parse: func(b []byte) (string, error) { return string(b), nil },
				Process: func(context.Context, string) error {
					cancel() // the invocation's context ends as the batch does
					return tc.err
				},
				Requeue: enqueueFunc(func(ctx context.Context, bodies [][]byte) error {
					liveErr = append(liveErr, ctx.Err())
					requeued = append(requeued, bodies...)
					return tc.requeueErr
				}),
				Backoff: &Backoff{QueueURL: "q", Base: 10 * time.Second, Client: visibilityFunc(func(in *sqs.ChangeMessageVisibilityInput) error {
					vis = in.VisibilityTimeout
					return nil
				})},
				Closing: time.Second,
				Log:     slog.New(slog.DiscardHandler),
			}
			resp, err := h.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{
				MessageId: "m-1", ReceiptHandle: "rh", Body: "b", Attributes: map[string]string{"ApproximateReceiveCount": "1"},
			}}})
			if err != nil {
				t.Fatal(err)
			}
			if failed := len(resp.BatchItemFailures) == 1; failed != tc.wantFailed {
				t.Errorf("failures %v, want failed %v", resp.BatchItemFailures, tc.wantFailed)
			}
			if len(requeued) != tc.wantRequeued {
				t.Fatalf("%d requeued, want %d", len(requeued), tc.wantRequeued)
			}
			for _, e := range liveErr {
				if e != nil {
					t.Errorf("requeued on an ended context: %v", e)
				}
			}
			if tc.wantRequeued > 0 {
				got, err := dispatch.ParseBatch(requeued[0])
				if err != nil || len(got.Members) != 1 || got.Members[0].UserID != "u-9" {
					t.Errorf("requeued %s (%v), want the deferred member", requeued[0], err)
				}
			}
			if vis < tc.visLo || vis > tc.visHi {
				t.Errorf("visibility %d s, want %d-%d", vis, tc.visLo, tc.visHi)
			}
		})
	}
}
