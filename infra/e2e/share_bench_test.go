package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"breachnotify/infra/faultserver"
	"breachnotify/infra/local"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

// shareTimeout is the worker's Timeout in this benchmark, lowered from the
// template's 60 s so that a small quota spans several invocations in a
// short run. It must exceed the worker's reserve and send timeout (8 s),
// which it keeps before its deadline.
const shareTimeout = 15

// BenchmarkWorkerShare sends one email notice, at a new account's small
// SES quotas (EmailMaxSendRate 4 and 14, split over the default 10 worker
// environments), to enough users to keep the worker busy for
// BENCH_SHARE_SECONDS at its share, through several invocations of a
// worker whose Timeout is lowered to shareTimeout. It reports the
// invocations the timeout killed, the emails sent twice (as the
// fault-injecting SES counts them per address), the batches dead-lettered,
// and the rate achieved as a fraction of the worker's share: the time
// the ideal pace takes over the time the sends took, first to last.
// Target: 0 killed, 0 duplicates, 0 dead-lettered, a fraction ≥ 0.95.
//
//	BENCH_SHARE_SECONDS=120 go test -run '^$' -bench WorkerShare -benchtime 1x -timeout 30m ./infra/e2e/
func BenchmarkWorkerShare(b *testing.B) {
	if stack == nil {
		b.Skip("needs the local stack")
	}
	seconds := 60
	if v := os.Getenv("BENCH_SHARE_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("BENCH_SHARE_SECONDS=%q: want a positive number of seconds", v)
		}
		seconds = n
	}
	for _, rate := range []int{4, 14} {
		b.Run(fmt.Sprintf("EmailMaxSendRate=%d", rate), func(b *testing.B) {
			var r shareRun
			for b.Loop() {
				r = runShare(b, rate, seconds)
			}
			b.ReportMetric(r.fraction, "share-fraction")
			b.ReportMetric(float64(r.killed), "killed")
			b.ReportMetric(float64(r.duplicates), "duplicates")
			b.ReportMetric(float64(r.deadLettered), "dead-lettered")
			b.ReportMetric(float64(r.invocations), "invocations")
			b.ReportMetric(float64(r.sent), "sent")
			b.Logf("rate %d/s, share %.2f/s: %d sent in %s (ideal %s): %.3f of the share; %d worker invocations, %d killed by the %d s timeout; %d duplicates; %d dead-lettered",
				rate, r.share, r.sent, r.took.Round(100*time.Millisecond), r.ideal.Round(100*time.Millisecond), r.fraction,
				r.invocations, r.killed, shareTimeout, r.duplicates, r.deadLettered)
			if r.killed > 0 || r.duplicates > 0 || r.deadLettered > 0 {
				b.Errorf("%d invocations killed, %d duplicates, %d dead-lettered; want none", r.killed, r.duplicates, r.deadLettered)
			}
		})
	}
}

type shareRun struct {
	share                                               float64
	sent, invocations, killed, duplicates, deadLettered int
	took, ideal                                         time.Duration
	fraction                                            float64
}

func runShare(b *testing.B, rate, seconds int) shareRun {
	const concurrency = 10 // the template's WorkerMaxConcurrency
	share := float64(rate) / concurrency
	users := max(int(share*float64(seconds)), 2)
	// SES answers in about 100 ms: a send paced just before the deadline
	// ends after it unless the worker keeps a margin.
	srv, err := faultserver.Start(faultserver.Config{EmailRate: float64(rate), Latency: 150 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(tmpDir, fmt.Sprintf("share-%d", rate))
	s, err := startStack(ctx, dir, local.Options{
		// Batches scaled with the timeout (50 members a minute: 12 in
		// 15 s), so that an invocation holds as many members, measured in
		// its own time, as a deployed worker does.
		Params: map[string]string{"EmailMaxSendRate": strconv.Itoa(rate), "WorkerMaxConcurrency": strconv.Itoa(concurrency),
			"AutoSendLimit": strconv.Itoa(users + 100), "RetryBaseSeconds": "1", "BatchSize": strconv.Itoa(50 * shareTimeout / 60)},
		Endpoints: map[string]string{"SESV2": srv.URL(), "SNS": srv.URL()},
		Timeouts:  map[string]int{"WorkerFunction": shareTimeout},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer local.Down(dir)
	// A batch of an invocation the timeout killed comes back after the
	// queue's visibility timeout (360 s in the template): here soon after
	// the shortened Timeout, so that a kill costs the run seconds.
	q := sqs.NewFromConfig(s.Config())
	if _, err := q.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl: aws.String(s.Names["RecipientsQueue"]), Attributes: map[string]string{"VisibilityTimeout": strconv.Itoa(shareTimeout + 5)},
	}); err != nil {
		b.Fatal(err)
	}
	if err := seedCohort(ctx, s, users); err != nil {
		b.Fatal(err)
	}
	id := fmt.Sprintf("INC-SHARE-%d", rate)
	// The seeded users run 8.1.0; so do two demo users, who are notified too.
	detail, _ := json.Marshal(incident.Incident{
		ID: id, Status: incident.Confirmed, Title: "share", DetectedAt: time.Now().Add(-time.Hour), ConfirmedAt: time.Now(), ConfirmedBy: "bench",
		Notices: []incident.Notice{{Template: "update-app", Channels: []incident.Channel{incident.Email}, FixedVersion: "8.1.1",
			Audience: incident.Audience{Platforms: []string{"android"}, AppVersionBelow: "8.1.1"}}},
	})
	ev, _ := json.Marshal(map[string]any{"source": "acme.detection", "detail-type": "Incident Confirmed", "detail": json.RawMessage(detail)})
	if err := s.PutEvent(ctx, ev); err != nil {
		b.Fatal(err)
	}
	// Wait for the sends to start, then for the queues to empty.
	for deadline := time.Now().Add(time.Minute); len(srv.Accepted()) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("no email accepted within a minute")
		}
	}
	if err := s.Drain(ctx, time.Duration(3*seconds)*time.Second+2*time.Minute); err != nil {
		b.Fatal(err)
	}

	entries, err := s.Deliveries(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	r := shareRun{share: share, deadLettered: queueDepth(b, q, s.Names["RecipientsDeadLetterQueue"])}
	for _, e := range entries {
		if e.Status == ledger.Sent {
			r.sent++
		} else if !e.Status.Terminal() {
			b.Errorf("%s is %s, not decided", e.Key, e.Status)
		}
	}
	perAddress := map[string]int{}
	var first, last time.Time
	for _, m := range srv.Accepted() {
		if m.Channel != "email" || m.EmailTags["incident"] != id {
			continue
		}
		if perAddress[m.To]++; perAddress[m.To] == 2 {
			r.duplicates++
		}
		if first.IsZero() || m.At.Before(first) {
			first = m.At
		}
		if m.At.After(last) {
			last = m.At
		}
	}
	if len(perAddress) != r.sent || r.sent < users {
		b.Errorf("%d addresses accepted, the ledger records %d sent, %d users seeded", len(perAddress), r.sent, users)
	}
	inv := s.InvocationsOf("WorkerFunction")
	r.invocations, r.killed = inv.All, inv.TimedOut
	// n sends at the share take (n-1)/share from first to last.
	r.ideal = time.Duration(float64(r.sent-1) / share * float64(time.Second))
	r.took = last.Sub(first)
	if r.took > 0 {
		r.fraction = r.ideal.Seconds() / r.took.Seconds()
	}
	return r
}
