// Command worker is the WorkerFunction: recipient batches from SQS in,
// emails and pushes out, each delivery recorded once in the ledger.
package main

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"breachnotify/shared/awsconfig"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/dynamo"
	"breachnotify/shared/email"
	"breachnotify/shared/push"
	"breachnotify/shared/queue"
)

func main() {
	log := lambdacontext.NewLogger()
	env, err := awsconfig.Env("USERS_TABLE", "DELIVERIES_TABLE", "SENDER_ADDRESS", "SES_CONFIGURATION_SET", "BRAND_NAME")
	if err != nil {
		log.Error("configuration", "error", err)
		os.Exit(1)
	}
	cfg, err := awsconfig.Load(context.Background())
	if err != nil {
		log.Error("configuration", "error", err)
		os.Exit(1)
	}
	db := dynamodb.NewFromConfig(cfg)
	w := &dispatch.Worker{
		Users:  &dynamo.Users{Client: db, Table: env["USERS_TABLE"]},
		Ledger: &dynamo.Ledger{Client: db, Table: env["DELIVERIES_TABLE"]},
		Mailer: &email.Sender{Client: sesv2.NewFromConfig(cfg), From: env["SENDER_ADDRESS"], ConfigurationSet: env["SES_CONFIGURATION_SET"]},
		Pusher: &push.Publisher{Client: sns.NewFromConfig(cfg)},
		Brand:  env["BRAND_NAME"],
		Log:    log,
		Now:    time.Now,
	}
	h := &queue.Handler{Processor: w, Log: log}
	lambda.StartHandlerFunc(h.Handle)
}
