// Command deadlinewatch is the DeadlineWatchFunction: run on a schedule, it
// checks every incident still on its way against the regulatory deadlines
// and raises an alarm on the ops topic for one missed or about to be.
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"breachnotify/functions/internal/wire"
	"breachnotify/shared/aws/awsconfig"
	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/aws/opsalarm"
	"breachnotify/shared/metrics"
	"breachnotify/shared/watch"
)

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
	w, err := setup(ctx, log)
	if err != nil {
		return err
	}
	// The scheduled event carries nothing the watch needs.
	lambda.StartHandlerFunc(func(ctx context.Context, _ json.RawMessage) (watch.Report, error) { return w.Run(ctx) })
	return nil
}

func setup(ctx context.Context, log *slog.Logger) (*watch.Watch, error) {
	cfg, env, err := awsconfig.ForFunction(ctx, slices.Concat(wire.LifecycleEnv, wire.DeadlineEnv, []string{"OPS_TOPIC_ARN"})...)
	if err != nil {
		return nil, err
	}
	lc, err := wire.Lifecycle(cfg, env, log)
	if err != nil {
		return nil, err
	}
	policy, rates, err := wire.Deadlines(cfg, env)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(cfg)
	incidents := &dynamo.Incidents{Client: db, Table: env["INCIDENTS_TABLE"]}
	audit := &dynamo.Audit{Client: db, Table: env["INCIDENTS_TABLE"]}
	progress := &dynamo.Progress{Client: db, Table: env["INCIDENTS_TABLE"]}
	return &watch.Watch{
		Incidents: incidents,
		Progress:  progress,
		Lifecycle: lc,
		Alarms:    &opsalarm.Topic{Client: sns.NewFromConfig(cfg), TopicARN: env["OPS_TOPIC_ARN"], Marks: incidents},
		Audit:     audit,
		Rates:     rates,
		Policy:    policy,
		Metrics:   &metrics.Emitter{W: os.Stdout},
		Now:       time.Now,
		Log:       log,
	}, nil
}
