// Command deadlinewatch is the DeadlineWatchFunction: run on a schedule, it
// checks every incident still on its way against the regulatory deadlines
// and raises an alarm on the ops topic for one missed or about to be.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"breachnotify/functions/internal/wire"
	"breachnotify/shared/awsconfig"
	"breachnotify/shared/deadline"
	"breachnotify/shared/dynamo"
	"breachnotify/shared/email"
	"breachnotify/shared/opsalarm"
	"breachnotify/shared/watch"
)

func main() {
	log := lambdacontext.NewLogger()
	w, err := setup(context.Background(), log)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	// The scheduled event carries nothing the watch needs.
	lambda.StartHandlerFunc(func(ctx context.Context, _ json.RawMessage) (watch.Report, error) { return w.Run(ctx) })
}

func setup(ctx context.Context, log *slog.Logger) (*watch.Watch, error) {
	cfg, env, err := awsconfig.ForFunction(ctx, append(wire.LifecycleEnv, "OPS_TOPIC_ARN",
		"EMAIL_MAX_SEND_RATE", "PUSH_MAX_SEND_RATE", "AUTO_SEND_LIMIT", "DEADLINE_POLICY")...)
	if err != nil {
		return nil, err
	}
	num, err := awsconfig.Numbers(env, "EMAIL_MAX_SEND_RATE", "PUSH_MAX_SEND_RATE", "AUTO_SEND_LIMIT")
	if err != nil {
		return nil, err
	}
	policy, err := deadline.ParsePolicy(env["DEADLINE_POLICY"])
	if err != nil {
		return nil, fmt.Errorf("DEADLINE_POLICY: %w", err)
	}
	db := dynamodb.NewFromConfig(cfg)
	incidents := &dynamo.Incidents{Client: db, Table: env["INCIDENTS_TABLE"]}
	audit := &dynamo.Audit{Client: db, Table: env["INCIDENTS_TABLE"]}
	progress := &dynamo.Progress{Client: db, Table: env["INCIDENTS_TABLE"]}
	return &watch.Watch{
		Incidents: incidents,
		Progress:  progress,
		Lifecycle: wire.Lifecycle(cfg, env, int(num["AUTO_SEND_LIMIT"]), log),
		Alarms:    &opsalarm.Topic{Client: sns.NewFromConfig(cfg), TopicARN: env["OPS_TOPIC_ARN"], Marks: incidents},
		Audit:     audit,
		Rates:     email.Rates(sesv2.NewFromConfig(cfg), num["EMAIL_MAX_SEND_RATE"], num["PUSH_MAX_SEND_RATE"]),
		Policy:    policy,
		Metrics:   os.Stdout,
		Now:       time.Now,
		Log:       log,
	}, nil
}
