// Command intake is the IntakeFunction: EventBridge incident events in,
// recorded incidents and planning tasks out.
package main

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"breachnotify/shared/awsconfig"
	"breachnotify/shared/dynamo"
	"breachnotify/shared/intake"
	"breachnotify/shared/notice"
	"breachnotify/shared/queue"
)

func main() {
	log := lambdacontext.NewLogger()
	cfg, env, err := awsconfig.ForFunction(context.Background(), "INCIDENTS_TABLE", "PLAN_QUEUE_URL", "AUTO_SEND_LIMIT")
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	num, err := awsconfig.Numbers(env, "AUTO_SEND_LIMIT")
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	db := dynamodb.NewFromConfig(cfg)
	h := &intake.Handler{
		Incidents:     &dynamo.Incidents{Client: db, Table: env["INCIDENTS_TABLE"]},
		Tasks:         &queue.Sender{Client: sqs.NewFromConfig(cfg), URL: env["PLAN_QUEUE_URL"], FIFO: true},
		Audit:         &dynamo.Audit{Client: db, Table: env["INCIDENTS_TABLE"]},
		KnownTemplate: notice.Has,
		AutoSendLimit: int(num["AUTO_SEND_LIMIT"]),
		Log:           log,
		Now:           time.Now,
	}
	// Invoke, not the typed Handle: the typed entry point decodes only the
	// first JSON value of the payload, so data after it would go unseen.
	lambda.Start(h)
}
