// Command admin is the AdminFunction: operations on an incident, through
// its Function URL (AuthType AWS_IAM), whose caller the admin directory
// names, or invoked directly (aws lambda invoke, make invoke) for the kill
// switch, reads and small sends.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"breachnotify/functions/internal/wire"
	"breachnotify/shared/admin"
	"breachnotify/shared/aws/awsconfig"
	"breachnotify/shared/aws/bus"
	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/aws/email"
	"breachnotify/shared/aws/objstore"
	"breachnotify/shared/aws/push"
	"breachnotify/shared/aws/queue"
	"breachnotify/shared/identity"
	"breachnotify/shared/notice"
	"breachnotify/shared/publicpage"
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
	h, err := setup(ctx, log)
	if err != nil {
		return err
	}
	// The bytes as they came, so that data after the request is refused
	// rather than dropped unseen.
	lambda.StartHandler(admin.Runtime{Handler: h})
	return nil
}

func setup(ctx context.Context, log *slog.Logger) (*admin.Handler, error) {
	cfg, env, err := awsconfig.ForFunction(ctx, slices.Concat(wire.LifecycleEnv, wire.DeadlineEnv, []string{"DELIVERIES_TABLE", "USERS_TABLE",
		"EXPORT_BUCKET", "BATCH_SIZE", "INTAKE_FAILURE_QUEUE_URL", "SENDER_ADDRESS", "SES_CONFIGURATION_SET",
		"ANDROID_PLATFORM_APPLICATION_ARN", "IOS_PLATFORM_APPLICATION_ARN", "EVENT_BUS_NAME", "ADMIN_DIRECTORY",
		"PUBLIC_NOTICE_BUCKET", "BRAND_NAME"})...)
	if err != nil {
		return nil, err
	}
	num, err := awsconfig.Numbers(env, "BATCH_SIZE")
	if err != nil {
		return nil, err
	}
	directory, err := identity.Parse(env["ADMIN_DIRECTORY"])
	if err != nil {
		return nil, fmt.Errorf("ADMIN_DIRECTORY: %w", err)
	}
	// Optional: a deployment without a public address yet still
	// publishes its pages; the contact point defaults to support in the app.
	publicURL, err := publicpage.ParseBase(os.Getenv("PUBLIC_NOTICE_URL"))
	if err != nil {
		return nil, fmt.Errorf("PUBLIC_NOTICE_URL: %w", err)
	}
	policy, rates, err := wire.Deadlines(cfg, env)
	if err != nil {
		return nil, err
	}
	lc, err := wire.Lifecycle(cfg, env, log)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(cfg)
	incidents := &dynamo.Incidents{Client: db, Table: env["INCIDENTS_TABLE"]}
	audit := &dynamo.Audit{Client: db, Table: env["INCIDENTS_TABLE"]}
	progress := &dynamo.Progress{Client: db, Table: env["INCIDENTS_TABLE"]}
	sqsc := sqs.NewFromConfig(cfg)
	recipients := &queue.Sender{Client: sqsc, URL: env["RECIPIENTS_QUEUE_URL"]}
	replay, err := wire.Intake(cfg, env, log)
	if err != nil {
		return nil, err
	}
	// Path-style addressing works on AWS and on local S3 servers alike, so
	// the export links need no local-only setting.
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	exports := objstore.New(s3c, env["EXPORT_BUCKET"])
	pages := &objstore.Publisher{Client: s3c, Bucket: env["PUBLIC_NOTICE_BUCKET"]}
	return &admin.Handler{
		Incidents: incidents,
		Lifecycle: lc,
		Lot:       incidents,
		Queue:     recipients,
		Samples:   &dynamo.Plans{Client: db, Table: env["INCIDENTS_TABLE"]},
		Ledger:    &dynamo.Ledger{Client: db, Table: env["DELIVERIES_TABLE"]},
		Progress:  progress,
		Audit:     audit,
		Users:     &dynamo.Users{Client: db, Table: env["USERS_TABLE"]},
		Exports: func(ctx context.Context, key, contentType string) (admin.ExportWriter, error) {
			w, err := exports.NewWriter(ctx, key, contentType)
			if err != nil {
				return nil, err // not a nil *Writer in a non-nil interface
			}
			return w, nil
		},
		// A record being replayed is hidden from another replay for as
		// long as the function may run.
		IntakeFailures:  &queue.Failures{Client: sqsc, URL: env["INTAKE_FAILURE_QUEUE_URL"], Hold: 300},
		Intake:          replay,
		Rates:           rates,
		Policy:          policy,
		KnownTemplate:   notice.Has,
		TemplateVersion: notice.Version,
		BatchSize:       int(num["BATCH_SIZE"]),
		Probes: []admin.Prober{
			&email.Readiness{Client: sesv2.NewFromConfig(cfg), Sender: env["SENDER_ADDRESS"], ConfigurationSet: env["SES_CONFIGURATION_SET"]},
			&push.Readiness{Client: sns.NewFromConfig(cfg), Applications: map[string]string{
				"android": env["ANDROID_PLATFORM_APPLICATION_ARN"], "ios": env["IOS_PLATFORM_APPLICATION_ARN"]},
				FeedbackTopic: env["PUSH_FEEDBACK_TOPIC"]},
			&bus.Readiness{Client: eventbridge.NewFromConfig(cfg), Bus: env["EVENT_BUS_NAME"]},
		},
		Public: admin.Public{
			Pages: func(ctx context.Context, key string, body []byte, locale string) (string, error) {
				// Short-lived in caches (CloudFront's included): an update
				// reaches readers within minutes.
				return pages.Put(ctx, key, body, objstore.Page{ContentType: "text/html; charset=utf-8", ContentLanguage: locale, CacheControl: "public, max-age=300"})
			},
			Timeline: incidents,
			URL:      publicURL,
			Contact:  strings.TrimSpace(os.Getenv("PUBLIC_NOTICE_CONTACT")),
			Brand:    env["BRAND_NAME"],
		},
		Directory:     directory,
		AutoSendLimit: lc.AutoSendLimit,
		Log:           log,
		Now:           time.Now,
	}, nil
}
