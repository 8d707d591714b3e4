// Command intake is the IntakeFunction: EventBridge incident events in,
// recorded incidents and recipient batches out.
package main

import (
	"context"
	"os"
	"strconv"
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
	env, err := awsconfig.Env("USERS_TABLE", "INCIDENTS_TABLE", "RECIPIENTS_QUEUE_URL", "BATCH_SIZE")
	if err != nil {
		log.Error("configuration", "error", err)
		os.Exit(1)
	}
	batch, err := strconv.Atoi(env["BATCH_SIZE"])
	if err != nil || batch < 1 {
		log.Error("configuration", "error", "BATCH_SIZE must be a positive integer")
		os.Exit(1)
	}
	cfg, err := awsconfig.Load(context.Background())
	if err != nil {
		log.Error("configuration", "error", err)
		os.Exit(1)
	}
	db := dynamodb.NewFromConfig(cfg)
	h := &intake.Handler{
		Incidents:     &dynamo.Incidents{Client: db, Table: env["INCIDENTS_TABLE"]},
		Directory:     &dynamo.Users{Client: db, Table: env["USERS_TABLE"]},
		Queue:         &queue.Sender{Client: sqs.NewFromConfig(cfg), URL: env["RECIPIENTS_QUEUE_URL"]},
		BatchSize:     batch,
		KnownTemplate: notice.Has,
		Log:           log,
		Now:           time.Now,
	}
	lambda.StartHandlerFunc(h.Handle)
}
