package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/metrics"
)

// Each batch writes one EMF document per channel it sends on, counting
// that channel's deliveries: what the template's dashboard and alarms read.
func TestProcessWritesMetricsPerChannel(t *testing.T) {
	e := newEnv(fake.NewUsers(testUsers...))
	var out bytes.Buffer
	e.worker.Metrics = &metrics.Emitter{W: &out}
	e.worker.Quota = map[incident.Channel]float64{incident.Email: 14, incident.Push: 500}
	// One attempt per send: a throttled email stays pending for the queue.
	e.worker.SendAttempts = 1
	e.mailer.fail = func(m Mail) error {
		// Each send takes time, so the batch has a rate.
		e.clock.Advance(100 * time.Millisecond)
		switch m.To {
		case "bo@example.com":
			return &SendError{Class: Retryable, Reason: "TooManyRequestsException", Throttled: true, Err: errors.New("429")}
		case "eva@example.com":
			return &SendError{Class: Permanent, Reason: "MessageRejected", Err: errors.New("rejected")}
		}
		return nil
	}
	e.pusher.fail = failOn(errProviderDown, endpoint, arn("d3"), arn("d4"))
	b := batch("account-accessed", emailPush, explicit("u-1", "u-2", "u-es"))
	if _, err := e.worker.Process(context.Background(), b); !errors.Is(err, ErrRetry) {
		t.Fatalf("err = %v, want a retry for the failed pushes and the throttled email", err)
	}
	got := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got[doc["Channel"].(string)] = doc
	}
	for _, tc := range []struct {
		channel                          string
		sent, failed, pending, throttled float64
		quota                            float64
	}{
		// Ana sent; Bo throttled on his one attempt (pending); Eva rejected.
		{"email", 1, 1, 1, 1, 14},
		// Ana's d1 and d2 and Eva's d8 sent; Bo's d3 and d4 down (pending).
		{"push", 3, 0, 2, 0, 500},
	} {
		doc := got[tc.channel]
		if doc == nil {
			t.Fatalf("no metrics for %s in %s", tc.channel, out.String())
		}
		for name, want := range map[string]float64{"Sent": tc.sent, "Failed": tc.failed, "Pending": tc.pending, "Throttled": tc.throttled, "QuotaRate": tc.quota} {
			if doc[name] != want {
				t.Errorf("%s %s = %v, want %v", tc.channel, name, doc[name], want)
			}
		}
		if rate, _ := doc["SendRate"].(float64); rate <= 0 {
			t.Errorf("%s SendRate = %v, want > 0", tc.channel, doc["SendRate"])
		}
	}
}
