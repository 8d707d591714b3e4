// Command admin is the AdminFunction: operations on an incident, invoked
// directly (aws lambda invoke, make invoke) by people allowed to.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"breachnotify/shared/admin"
	"breachnotify/shared/awsconfig"
	"breachnotify/shared/dynamo"
	"breachnotify/shared/queue"
)

func main() {
	log := lambdacontext.NewLogger()
	cfg, env, err := awsconfig.ForFunction(context.Background(), "INCIDENTS_TABLE", "RECIPIENTS_QUEUE_URL")
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	h := &admin.Handler{
		Lot:   &dynamo.Incidents{Client: dynamodb.NewFromConfig(cfg), Table: env["INCIDENTS_TABLE"]},
		Queue: &queue.Sender{Client: sqs.NewFromConfig(cfg), URL: env["RECIPIENTS_QUEUE_URL"]},
		Log:   log,
	}
	lambda.StartHandlerFunc(h.Handle)
}
