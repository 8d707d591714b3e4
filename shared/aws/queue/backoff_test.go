package queue

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

func TestBackoffDoublesWithJitterAndCap(t *testing.T) {
	b := &Backoff{Base: 30 * time.Second}
	tests := []struct {
		receive int
		want    time.Duration
	}{
		{1, 30 * time.Second},
		{2, time.Minute},
		{3, 2 * time.Minute},
		{5, 8 * time.Minute},
		{6, 15 * time.Minute}, // 16 min capped
		{40, 15 * time.Minute},
	}
	for _, tc := range tests {
		for range 50 {
			got := b.Delay(tc.receive)
			if lo, hi := tc.want*8/10, tc.want*12/10; got < lo || got > hi {
				t.Fatalf("receive %d: delay %s outside [%s, %s]", tc.receive, got, lo, hi)
			}
		}
	}
	if got := (&Backoff{Base: time.Millisecond}).Delay(1); got < time.Second {
		t.Errorf("delay %s below SQS's one-second granularity", got)
	}
}

type visibilityFunc func(*sqs.ChangeMessageVisibilityInput) error

func (f visibilityFunc) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	return &sqs.ChangeMessageVisibilityOutput{}, f(in)
}

func TestDeferWaitsOutAnotherWorkersClaim(t *testing.T) {
	var got int32
	b := &Backoff{Base: time.Second, QueueURL: "q", Client: visibilityFunc(func(in *sqs.ChangeMessageVisibilityInput) error {
		got = in.VisibilityTimeout
		return nil
	})}
	tests := []struct {
		name      string
		notBefore time.Time
		lo, hi    int32
	}{
		{"no claim: the backoff", time.Time{}, 1, 2},
		{"a claim ending in 90 s", time.Now().Add(90 * time.Second), 90, 92},
		{"a claim already over: the backoff", time.Now().Add(-time.Minute), 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := b.Defer(context.Background(), "rh", "1", tc.notBefore); err != nil {
				t.Fatal(err)
			}
			if got < tc.lo || got > tc.hi {
				t.Errorf("visibility %d s, want %d-%d", got, tc.lo, tc.hi)
			}
		})
	}
}
