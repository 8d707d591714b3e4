// Command intake is the IntakeFunction: EventBridge incident events in,
// recorded incidents and planning tasks out.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"breachnotify/functions/internal/wire"
	"breachnotify/shared/aws/awsconfig"
)

func main() {
	log := lambdacontext.NewLogger()
	cfg, env, err := awsconfig.ForFunction(context.Background(), wire.IntakeEnv...)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	h, err := wire.Intake(cfg, env, log)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	// Invoke, not the typed Handle: the typed entry point decodes only the
	// first JSON value of the payload, so data after it would go unseen.
	lambda.StartHandler(h)
}
