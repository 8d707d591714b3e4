package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"breachnotify/infra/faultserver"
	"breachnotify/infra/local"
	"breachnotify/shared/ledger"
)

// The worker's emulator (and the bootstrap under it) killed in the middle
// of a batch, then started again. The batch comes back after the queue's
// visibility timeout; the recipients the dead worker had claimed wait for
// their claims' lease (its deadline + ledger.LeaseMargin) and are then
// taken over. Nobody is lost; only deliveries of records claimed at the
// kill may be sent twice: the documented in-flight window.
func TestWorkerKilledMidBatch(t *testing.T) {
	needStack(t)
	const id = "INC-F-KILL"
	// Slow sends, one in flight per worker (rates of 4/s split over two
	// workers, at most one send in flight at 2/s with 100 ms assumed
	// latency), so that the kill lands mid-batch.
	cfg := faultserver.Config{EmailRate: 4, PushRate: 4, Latency: 300 * time.Millisecond, Seed: 11}
	srv, err := faultserver.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(tmpDir, "kill")
	const timeout = 20
	s, err := startStack(ctx, dir, local.Options{
		Params:    map[string]string{"RetryBaseSeconds": "1", "WorkerMaxConcurrency": "2", "PushMaxSendRate": "4"},
		Endpoints: map[string]string{"SESV2": srv.URL(), "SNS": srv.URL()},
		Timeouts:  map[string]int{"WorkerFunction": timeout},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Down(dir)
	// A batch of a crashed invocation comes back after the visibility
	// timeout (360 s in the template); a short one keeps the test short.
	// It applies to messages received after it is set.
	q := sqs.NewFromConfig(s.Config())
	if _, err := q.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl: aws.String(s.Names["RecipientsQueue"]), Attributes: map[string]string{"VisibilityTimeout": "3"},
	}); err != nil {
		t.Fatal(err)
	}

	ev := strings.ReplaceAll(string(readEvent(t, "incident-confirmed.json")), "INC-2014-0527", id)
	if err := s.PutEvent(ctx, []byte(ev)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "3 messages accepted before the kill", func() bool { return len(srv.Accepted()) >= 3 })
	killedAt := time.Now()
	if err := s.Kill("WorkerFunction"); err != nil {
		t.Fatal(err)
	}
	acceptedAtKill := len(srv.Accepted())
	records, err := s.Records(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	claimed := map[ledger.Recipient]bool{}
	for _, r := range records {
		if r.State == ledger.Claimed {
			claimed[r.Recipient] = true
		}
	}
	if acceptedAtKill >= wantSends {
		t.Fatalf("all %d messages were accepted before the kill: it did not land mid-batch", acceptedAtKill)
	}
	if err := s.Restart(ctx, "WorkerFunction"); err != nil {
		t.Fatal(err)
	}
	if err := s.Drain(ctx, 3*time.Minute); err != nil {
		t.Fatal(err)
	}

	entries, err := s.Deliveries(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	checkDeliveries(t, entries)
	sent := 0
	window := 0
	for _, e := range entries {
		if e.Status != ledger.Sent {
			continue
		}
		sent++
		if claimed[e.Recipient()] {
			window++
		}
	}
	extra := len(srv.Accepted()) - sent
	if extra < 0 {
		t.Errorf("%d messages accepted, fewer than the %d the ledger records sent", len(srv.Accepted()), sent)
	}
	if extra > window {
		t.Errorf("%d messages sent twice, more than the %d deliveries of the %d records claimed at the kill", extra, window, len(claimed))
	}
	t.Logf("killed after %d of %d sends; %d records claimed at the kill (%d deliveries: the window); %d sent twice; drained %s after the kill",
		acceptedAtKill, wantSends, len(claimed), window, extra, time.Since(killedAt).Round(time.Second))
}

// waitFor polls cond until it holds or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
