// Package wire builds what several functions share from their
// configuration, so that the planner, the admin function and the deadline
// watch move incidents on with the same parts.
package wire

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"breachnotify/shared/aws/awsconfig"
	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/aws/email"
	"breachnotify/shared/aws/queue"
	"breachnotify/shared/deadline"
	"breachnotify/shared/incident"
	"breachnotify/shared/intake"
	"breachnotify/shared/lifecycle"
	"breachnotify/shared/notice"
)

// IntakeEnv are the settings Intake reads.
var IntakeEnv = []string{"INCIDENTS_TABLE", "PLAN_QUEUE_URL", "AUTO_SEND_LIMIT"}

// Intake is the intake handler over DynamoDB and the planning queue: the
// intake function's, and the one the lifecycle plans with and
// replay-intake runs, so that each plans an incident the same way.
func Intake(cfg aws.Config, env map[string]string, log *slog.Logger) (*intake.Handler, error) {
	num, err := awsconfig.Numbers(env, "AUTO_SEND_LIMIT")
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(cfg)
	return &intake.Handler{
		Incidents:     &dynamo.Incidents{Client: db, Table: env["INCIDENTS_TABLE"]},
		Tasks:         &queue.Sender{Client: sqs.NewFromConfig(cfg), URL: env["PLAN_QUEUE_URL"], FIFO: true},
		Audit:         &dynamo.Audit{Client: db, Table: env["INCIDENTS_TABLE"]},
		KnownTemplate: notice.Has,
		AutoSendLimit: int(num["AUTO_SEND_LIMIT"]),
		Log:           log,
		Now:           time.Now,
	}, nil
}

// LifecycleEnv are the settings Lifecycle reads.
var LifecycleEnv = []string{"INCIDENTS_TABLE", "RECIPIENTS_QUEUE_URL", "PLAN_QUEUE_URL", "AUTO_SEND_LIMIT"}

// Lifecycle is the incident lifecycle over DynamoDB and the two queues: the
// recipients queue for held batches, the planning queue for an incident's
// planning (intake's, so a confirmed or approved incident is planned as a
// confirmed event is).
func Lifecycle(cfg aws.Config, env map[string]string, log *slog.Logger) (*lifecycle.Lifecycle, error) {
	planner, err := Intake(cfg, env, log)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(cfg)
	incidents := &dynamo.Incidents{Client: db, Table: env["INCIDENTS_TABLE"]}
	return &lifecycle.Lifecycle{
		Store: incidents, Held: incidents, Audit: planner.Audit,
		Queue:         &queue.Sender{Client: sqs.NewFromConfig(cfg), URL: env["RECIPIENTS_QUEUE_URL"]},
		Progress:      &dynamo.Progress{Client: db, Table: env["INCIDENTS_TABLE"]},
		Planner:       planner,
		AutoSendLimit: planner.AutoSendLimit, Now: time.Now, Log: log,
	}, nil
}

// DeadlineEnv are the settings Deadlines reads.
var DeadlineEnv = []string{"EMAIL_MAX_SEND_RATE", "PUSH_MAX_SEND_RATE", "DEADLINE_POLICY"}

// Deadlines is the deadline policy and the current send rates, which the
// admin status and the deadline watch measure progress against.
func Deadlines(cfg aws.Config, env map[string]string) (deadline.Policy, func(context.Context) (map[incident.Channel]float64, error), error) {
	num, err := awsconfig.Numbers(env, "EMAIL_MAX_SEND_RATE", "PUSH_MAX_SEND_RATE")
	if err != nil {
		return nil, nil, err
	}
	policy, err := deadline.ParsePolicy(env["DEADLINE_POLICY"])
	if err != nil {
		return nil, nil, fmt.Errorf("DEADLINE_POLICY: %w", err)
	}
	return policy, email.Rates(sesv2.NewFromConfig(cfg), num["EMAIL_MAX_SEND_RATE"], num["PUSH_MAX_SEND_RATE"]), nil
}
