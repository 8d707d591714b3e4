// Command seed imports users from a JSON Lines file (or - for standard
// input) into the users table. Configuration is the usual AWS environment
// plus USERS_TABLE and, to register push tokens, ANDROID_PLATFORM_APPLICATION_ARN
// and IOS_PLATFORM_APPLICATION_ARN.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"breachnotify/infra/seed"
	"breachnotify/shared/aws/awsconfig"
	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/aws/push"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: seed FILE.jsonl (or - for standard input)")
	}
	env, err := awsconfig.Env("USERS_TABLE")
	if err != nil {
		return err
	}
	var in io.Reader = os.Stdin
	if os.Args[1] != "-" {
		f, err := os.Open(os.Args[1])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	ctx := context.Background()
	cfg, err := awsconfig.Load(ctx)
	if err != nil {
		return err
	}
	apps := map[string]string{
		"android": os.Getenv("ANDROID_PLATFORM_APPLICATION_ARN"),
		"ios":     os.Getenv("IOS_PLATFORM_APPLICATION_ARN"),
	}
	var reg seed.Registrar
	if apps["android"] != "" || apps["ios"] != "" {
		reg = &push.Registrar{Client: sns.NewFromConfig(cfg), Applications: apps}
	} else {
		fmt.Fprintln(os.Stderr, "seed: no platform application ARNs set; push tokens are not registered")
	}
	rep, err := seed.Import(ctx, in, &dynamo.Users{Client: dynamodb.NewFromConfig(cfg), Table: env["USERS_TABLE"]}, reg)
	for _, b := range append(rep.Bad, rep.Refused...) {
		fmt.Fprintln(os.Stderr, "seed: skipped", b.Error())
	}
	fmt.Printf("imported %d users (%d push endpoints registered), skipped %d bad lines and %d refused ones\n",
		rep.Imported, rep.Endpoints, len(rep.Bad), len(rep.Refused))
	if err != nil {
		return err
	}
	if n := len(rep.Bad) + len(rep.Refused); n > 0 {
		return fmt.Errorf("%d lines skipped", n)
	}
	return nil
}
