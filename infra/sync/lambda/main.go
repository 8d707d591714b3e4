// Command lambda is the user sync example's Lambda function (see package
// usersync and docs): an EventBridge rule on "user.updated" and
// "user.deleted" events invokes it. Configuration: USERS_TABLE,
// ANDROID_PLATFORM_APPLICATION_ARN, IOS_PLATFORM_APPLICATION_ARN.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	usersync "breachnotify/infra/sync"
	"breachnotify/shared/aws/awsconfig"
	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/aws/push"
)

func main() {
	log := lambdacontext.NewLogger()
	if err := run(context.Background(), log); err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg, env, err := awsconfig.ForFunction(ctx, "USERS_TABLE", "ANDROID_PLATFORM_APPLICATION_ARN", "IOS_PLATFORM_APPLICATION_ARN")
	if err != nil {
		return err
	}
	snsc := sns.NewFromConfig(cfg)
	h := &usersync.Handler{
		Store: &dynamo.Users{Client: dynamodb.NewFromConfig(cfg), Table: env["USERS_TABLE"]},
		Registrar: &push.Registrar{Client: snsc, Applications: map[string]string{
			"android": env["ANDROID_PLATFORM_APPLICATION_ARN"], "ios": env["IOS_PLATFORM_APPLICATION_ARN"]}},
		Deregistrar: &push.Deregistrar{Client: snsc},
		Log:         log,
	}
	lambda.StartHandlerFunc(h.Handle)
	return nil
}
