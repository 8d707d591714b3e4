// Command worker is the WorkerFunction: recipient batches from SQS in,
// emails and pushes out, each delivery recorded once in the ledger, paced
// to the worker's share of the SES and push quotas.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"golang.org/x/time/rate"

	"breachnotify/shared/aws/awsconfig"
	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/aws/email"
	"breachnotify/shared/aws/push"
	"breachnotify/shared/aws/queue"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/incident"
	"breachnotify/shared/metrics"
	"breachnotify/shared/publicpage"
)

// sendLatency is the provider latency the worker's parallelism is sized
// for; SES and SNS answer in tens of milliseconds.
const sendLatency = 100 * time.Millisecond

// reserve is what an invocation keeps before its deadline for its closing
// writes (the last ledger records, progress, audit, the requeue or
// visibility change): a few calls, each tens of milliseconds.
const reserve = 5 * time.Second

// sendTimeout bounds one send: no send starts later than deadline −
// reserve − sendTimeout. Only the margin is spent, not the time: an
// invocation with nothing left to start returns at once.
const sendTimeout = 3 * time.Second

func main() {
	log := lambdacontext.NewLogger()
	if err := run(context.Background(), log); err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
}

// run builds the function from its configuration and serves it; it
// returns only when the configuration is wrong.
func run(ctx context.Context, log *slog.Logger) error {
	cfg, env, err := awsconfig.ForFunction(ctx, "USERS_TABLE", "DELIVERIES_TABLE", "INCIDENTS_TABLE", "RECIPIENTS_QUEUE_URL", "SENDER_ADDRESS",
		"SES_CONFIGURATION_SET", "BRAND_NAME", "EMAIL_MAX_SEND_RATE", "PUSH_MAX_SEND_RATE",
		"WORKER_MAX_CONCURRENCY", "RETRY_BASE_SECONDS")
	if err != nil {
		return err
	}
	num, err := awsconfig.Numbers(env, "EMAIL_MAX_SEND_RATE", "PUSH_MAX_SEND_RATE", "WORKER_MAX_CONCURRENCY", "RETRY_BASE_SECONDS")
	if err != nil {
		return err
	}
	// Optional: without it, notices name no public page.
	publicURL, err := publicpage.ParseBase(os.Getenv("PUBLIC_NOTICE_URL"))
	if err != nil {
		return fmt.Errorf("PUBLIC_NOTICE_URL: %w", err)
	}
	// The worker owns retries of sends: paced, in-process, then through the
	// queue (dispatch.Worker.SendAttempts). SDK retries would bypass the
	// limiter and hold a batch for seconds.
	ses := sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.RetryMaxAttempts = 1 })
	emailRate := num["EMAIL_MAX_SEND_RATE"]
	if emailRate == 0 {
		// Read once per environment: the quota changes rarely, and only
		// upwards during a send once AWS raises it.
		if emailRate, err = email.MaxSendRate(ctx, ses); err != nil {
			return err
		}
	}
	concurrency := int(num["WORKER_MAX_CONCURRENCY"])
	emailShare := dispatch.Share(emailRate, concurrency)
	pushShare := dispatch.Share(num["PUSH_MAX_SEND_RATE"], concurrency)
	log.Info("pacing", "emailRate", emailRate, "emailShare", emailShare, "pushShare", pushShare, "concurrency", concurrency)
	db := dynamodb.NewFromConfig(cfg)
	progress := &dynamo.Progress{Client: db, Table: env["INCIDENTS_TABLE"]}
	w := &dispatch.Worker{
		Users:  &dynamo.Users{Client: db, Table: env["USERS_TABLE"]},
		Ledger: &dynamo.Ledger{Client: db, Table: env["DELIVERIES_TABLE"]},
		Mailer: &email.Sender{Client: ses, From: env["SENDER_ADDRESS"], ConfigurationSet: env["SES_CONFIGURATION_SET"]},
		Pusher: &push.Publisher{Client: sns.NewFromConfig(cfg, func(o *sns.Options) { o.RetryMaxAttempts = 1 })},
		// Batches of an incident that may not send yet are held beside it;
		// a channel the provider stops is paused for the incident and its
		// batches parked until an admin resumes it.
		Control:  &dynamo.Incidents{Client: db, Table: env["INCIDENTS_TABLE"]},
		Progress: progress,
		Reach:    progress,
		// Addresses that bounced for good or complained, kept by the
		// feedback function in the ledger table.
		Addresses: &dynamo.Feedback{Client: db, Table: env["DELIVERIES_TABLE"]},
		Audit:     &dynamo.Audit{Client: db, Table: env["INCIDENTS_TABLE"]},
		// A burst of one: the worker never sends faster than its share,
		// even right after an idle spell.
		EmailLimiter: rate.NewLimiter(rate.Limit(emailShare), 1),
		PushLimiter:  rate.NewLimiter(rate.Limit(pushShare), 1),
		Parallel:     dispatch.Parallelism(emailShare+pushShare, sendLatency),
		SendAttempts: 4,
		Reserve:      reserve,
		SendTimeout:  sendTimeout,
		Brand:        env["BRAND_NAME"],
		PublicURL:    publicURL,
		Metrics:      &metrics.Emitter{W: os.Stdout},
		Quota:        map[incident.Channel]float64{incident.Email: emailShare, incident.Push: pushShare},
		Log:          log,
		Now:          time.Now,
	}
	q := sqs.NewFromConfig(cfg)
	requeue := &queue.Sender{Client: q, URL: env["RECIPIENTS_QUEUE_URL"]}
	// A fallback notice's member comes back when its channel has had its time.
	w.Later = requeue
	h := &queue.Handler[dispatch.Batch]{
		Parse: dispatch.ParseBatch,
		Process: func(ctx context.Context, b dispatch.Batch) error {
			_, err := w.Process(ctx, b)
			return err
		},
		Backoff: &queue.Backoff{Client: q, QueueURL: env["RECIPIENTS_QUEUE_URL"],
			Base: time.Duration(num["RETRY_BASE_SECONDS"] * float64(time.Second))},
		// Members the invocation had no time for go back as a new batch.
		Requeue: requeue,
		Closing: reserve,
		Log:     w.Log,
	}
	lambda.StartHandlerFunc(h.Handle)
	return nil
}
