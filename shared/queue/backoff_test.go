package queue

import (
	"testing"
	"time"
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
