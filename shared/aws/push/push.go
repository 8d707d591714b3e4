// Package push sends notices through Amazon SNS mobile push (FCM and APNs
// platform endpoints) and registers device tokens as endpoints.
package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"breachnotify/shared/dispatch"
	"breachnotify/shared/errs"
	"breachnotify/shared/notice"
)

// Client is the part of the SNS API this package calls.
type Client interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
	CreatePlatformEndpoint(ctx context.Context, in *sns.CreatePlatformEndpointInput, opts ...func(*sns.Options)) (*sns.CreatePlatformEndpointOutput, error)
}

// ErrTooLarge: a platform's payload is over the 4 KB that FCM and APNs accept.
var ErrTooLarge = errs.New(errs.Permanent, "push payload too large")

// Publisher publishes to platform endpoints.
type Publisher struct {
	Client Client
}

// Payload builds the SNS message: one body per platform, so the same call
// works for an FCM or an APNs endpoint. The per-platform values are JSON
// documents encoded as strings, as SNS requires.
func Payload(p notice.Push, data map[string]string) (string, error) {
	fcm, err := json.Marshal(map[string]any{"fcmV1Message": map[string]any{"message": map[string]any{
		"notification": map[string]string{"title": p.Title, "body": p.Body},
		"data":         data,
		"android":      map[string]string{"priority": "high"},
	}}})
	if err != nil {
		return "", err
	}
	apnsDoc := map[string]any{"aps": map[string]any{"alert": map[string]string{"title": p.Title, "body": p.Body}}}
	for k, v := range data {
		apnsDoc[k] = v
	}
	apns, err := json.Marshal(apnsDoc)
	if err != nil {
		return "", err
	}
	if len(fcm) > notice.PushLimit || len(apns) > notice.PushLimit {
		return "", fmt.Errorf("%w: FCM %d bytes, APNs %d bytes, limit %d", ErrTooLarge, len(fcm), len(apns), notice.PushLimit)
	}
	msg, err := json.Marshal(map[string]string{
		"default":      p.Body,
		"GCM":          string(fcm),
		"APNS":         string(apns),
		"APNS_SANDBOX": string(apns),
	})
	return string(msg), err
}

// Push publishes p to one endpoint and returns SNS's message id.
func (s *Publisher) Push(ctx context.Context, endpointARN string, p notice.Push, data map[string]string) (string, error) {
	msg, err := Payload(p, data)
	if err != nil {
		return "", &dispatch.SendError{Class: dispatch.Permanent, Reason: "PayloadTooLarge", Err: err}
	}
	out, err := s.Client.Publish(ctx, &sns.PublishInput{
		TargetArn:        &endpointARN,
		Message:          &msg,
		MessageStructure: aws.String("json"),
	})
	if err != nil {
		return "", classify(err)
	}
	return aws.ToString(out.MessageId), nil
}

func classify(err error) error {
	var (
		disabled *types.EndpointDisabledException
		invalid  *types.InvalidParameterException
		notFound *types.NotFoundException
		appOff   *types.PlatformApplicationDisabledException
	)
	switch {
	case errors.As(err, &appOff):
		return &dispatch.SendError{Class: dispatch.Paused, Reason: "PlatformApplicationDisabled", Err: err}
	case errors.As(err, &disabled):
		return &dispatch.SendError{Class: dispatch.Permanent, Reason: "EndpointDisabled", Err: err}
	case errors.As(err, &invalid):
		return &dispatch.SendError{Class: dispatch.Permanent, Reason: "InvalidParameter", Err: err}
	case errors.As(err, &notFound):
		return &dispatch.SendError{Class: dispatch.Permanent, Reason: "EndpointNotFound", Err: err}
	}
	reason := "PublishFailed"
	var api smithy.APIError
	if errors.As(err, &api) {
		reason = api.ErrorCode()
	}
	// ThrottledException's code is "Throttled": a publish over the
	// account's or the platform's rate.
	return &dispatch.SendError{Class: dispatch.Retryable, Reason: reason, Throttled: reason == "Throttled",
		Err: fmt.Errorf("sns publish: %w", err)}
}

// Registrar registers device tokens as platform endpoints.
type Registrar struct {
	Client Client
	// Applications maps a device platform ("android", "ios") to the ARN of
	// its SNS platform application.
	Applications map[string]string
}

// Register returns the endpoint ARN for a device token. SNS returns the
// existing endpoint for a token it already knows, so importing twice is safe.
func (r *Registrar) Register(ctx context.Context, platform, token string) (string, error) {
	app, ok := r.Applications[platform]
	if !ok || app == "" {
		return "", fmt.Errorf("no platform application for %q", platform)
	}
	out, err := r.Client.CreatePlatformEndpoint(ctx, &sns.CreatePlatformEndpointInput{
		PlatformApplicationArn: &app,
		Token:                  &token,
	})
	if err != nil {
		return "", fmt.Errorf("register %s endpoint: %w", platform, err)
	}
	return aws.ToString(out.EndpointArn), nil
}
