// Command planner is the PlannerFunction: planning tasks (one notice, one
// shard of users or one range of an audience file) from the FIFO planning
// queue in, recipient batches out, with checkpoints so that a task resumes
// where it stopped.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"breachnotify/functions/internal/wire"
	"breachnotify/shared/aws/awsconfig"
	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/aws/objstore"
	"breachnotify/shared/aws/queue"
	"breachnotify/shared/plan"
)

// lookupWorkers is how many BatchGetItem calls a file range has in flight:
// at 10 ms a call, 8 look up a range's 1.6 million ids in about 20 s. Many
// ranges at once are bounded by the users table's read capacity, not by
// this: throttled keys come back unprocessed and are retried, and a range
// that still fails is retried by the queue from its checkpoint.
const lookupWorkers = 8

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
	cfg, env, err := awsconfig.ForFunction(ctx, append(wire.LifecycleEnv, "USERS_TABLE", "BATCH_SIZE", "RETRY_BASE_SECONDS", "AUDIENCE_BUCKET")...)
	if err != nil {
		return err
	}
	batch, err := strconv.Atoi(env["BATCH_SIZE"])
	if err != nil || batch < 1 {
		return errors.New("BATCH_SIZE must be a positive integer")
	}
	// Once the audience is frozen, sending starts, or waits for an
	// admin's approval above the auto-send limit.
	releaser, err := wire.Lifecycle(cfg, env, log)
	if err != nil {
		return err
	}
	retryBase, err := strconv.Atoi(env["RETRY_BASE_SECONDS"])
	if err != nil || retryBase < 1 {
		return errors.New("RETRY_BASE_SECONDS must be a positive integer")
	}
	db := dynamodb.NewFromConfig(cfg)
	q := sqs.NewFromConfig(cfg)
	plans := &dynamo.Plans{Client: db, Table: env["INCIDENTS_TABLE"]}
	// Path-style addressing works on AWS and on local S3 servers alike
	// (as the admin function's exports do), so no local-only setting.
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	p := &plan.Planner{
		Store:     plans,
		Directory: &dynamo.Users{Client: db, Table: env["USERS_TABLE"]},
		Queue:     &queue.Sender{Client: q, URL: env["RECIPIENTS_QUEUE_URL"]},
		Releaser:  releaser,
		BatchSize: batch,
		Log:       log,
		Files:     &objstore.Files{Client: s3c, Bucket: env["AUDIENCE_BUCKET"]},
		Expander:  plans,
		Tasks:     &queue.Sender{Client: q, URL: env["PLAN_QUEUE_URL"], FIFO: true},
		Lookup:    &dynamo.UserLookup{Client: db, Table: env["USERS_TABLE"], Workers: lookupWorkers},
	}
	h := &queue.Handler[plan.Task]{
		Parse: plan.ParseTask,
		Process: func(ctx context.Context, t plan.Task) error {
			_, err := p.Run(ctx, t)
			return err
		},
		// A failed task comes back after a jittered exponential delay, as
		// a worker's batch does, not after the queue's 90-minute
		// visibility timeout: five receives then span about half an hour
		// at the default base, not six hours of a 24-hour deadline. The
		// planning queue is FIFO; each task is its own message group, so
		// holding one back delays no other.
		Backoff: &queue.Backoff{Client: q, QueueURL: env["PLAN_QUEUE_URL"], Base: time.Duration(retryBase) * time.Second},
		Closing: 5 * time.Second,
		Log:     log,
	}
	lambda.StartHandlerFunc(h.Handle)
	return nil
}
