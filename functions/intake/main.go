// Command intake is the IntakeFunction: EventBridge incident events in,
// recorded incidents and planning tasks out.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"breachnotify/functions/internal/wire"
	"breachnotify/shared/aws/awsconfig"
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
	cfg, env, err := awsconfig.ForFunction(ctx, wire.IntakeEnv...)
	if err != nil {
		return err
	}
	h, err := wire.Intake(cfg, env, log)
	if err != nil {
		return err
	}
	// Invoke, not the typed Handle: the typed entry point decodes only the
	// first JSON value of the payload, so data after it would go unseen.
	lambda.StartHandler(h)
	return nil
}
