// Command feedback is the FeedbackFunction: SES's delivery events (from
// the default event bus) and the push platform applications' events (from
// their topic) in, delivery statuses in the ledger out.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"breachnotify/shared/aws/awsconfig"
	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/aws/queue"
	"breachnotify/shared/feedback"
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
	cfg, env, err := awsconfig.ForFunction(ctx, "DELIVERIES_TABLE", "INCIDENTS_TABLE", "RECIPIENTS_QUEUE_URL")
	if err != nil {
		return err
	}
	db := dynamodb.NewFromConfig(cfg)
	fb := &dynamo.Feedback{Client: db, Table: env["DELIVERIES_TABLE"]}
	h := &feedback.Handler{Ledger: fb, Aside: fb, Addresses: fb, Devices: fb, Log: log,
		Reach: &dynamo.Progress{Client: db, Table: env["INCIDENTS_TABLE"]},
		Queue: &queue.Sender{Client: sqs.NewFromConfig(cfg), URL: env["RECIPIENTS_QUEUE_URL"]}}
	lambda.StartHandlerFunc(h.Handle)
	return nil
}
