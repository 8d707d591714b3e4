package queue

import (
	"bytes"
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"breachnotify/shared/incident"
)

type callSizes struct{ calls [][]int }

func (c *callSizes) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	var sizes []int
	for _, e := range in.Entries {
		sizes = append(sizes, len(aws.ToString(e.MessageBody)))
	}
	c.calls = append(c.calls, sizes)
	return &sqs.SendMessageBatchOutput{}, nil
}

func TestSendKeepsEachCallWithinSQSLimits(t *testing.T) {
	body := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }
	tests := []struct {
		name      string
		bodies    [][]byte
		wantCalls int
		wantErr   bool
	}{
		{"25 small messages: ten per call", repeat(body(100), 25), 3, false},
		{"ten messages of 200 KB: five per call", repeat(body(200<<10), 10), 2, false},
		{"one message over the limit is refused", [][]byte{body(10), body(incident.MaxMessageBytes + 1)}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &callSizes{}
			err := (&Sender{Client: c, URL: "q"}).Send(context.Background(), tc.bodies)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Send = %v, want error %v", err, tc.wantErr)
			}
			if len(c.calls) != tc.wantCalls {
				t.Errorf("%d calls %v, want %d", len(c.calls), c.calls, tc.wantCalls)
			}
			sent := 0
			for _, sizes := range c.calls {
				total := 0
				for _, n := range sizes {
					total += n
				}
				if len(sizes) > sendBatchMax || total > incident.MaxBatchCallBytes {
					t.Errorf("a call of %d messages, %d bytes", len(sizes), total)
				}
				sent += len(sizes)
			}
			if !tc.wantErr && sent != len(tc.bodies) {
				t.Errorf("sent %d of %d messages", sent, len(tc.bodies))
			}
		})
	}
}

func repeat(b []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}
