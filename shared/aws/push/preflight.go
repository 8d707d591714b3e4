package push

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"

	"breachnotify/shared/preflight"
)

// ReadinessClient is the part of the SNS API preflight reads.
type ReadinessClient interface {
	GetPlatformApplicationAttributes(ctx context.Context, in *sns.GetPlatformApplicationAttributesInput, opts ...func(*sns.Options)) (*sns.GetPlatformApplicationAttributesOutput, error)
}

// Readiness checks that the platform applications pushes go through are
// enabled: SNS disables one whose FCM or APNs credential the platform
// rejects, and then every publish to its endpoints fails.
type Readiness struct {
	Client ReadinessClient
	// Applications maps a device platform ("android", "ios") to the ARN
	// of its SNS platform application.
	Applications map[string]string
	// FeedbackTopic is the topic the feedback function hears push failures
	// on. The platform applications live outside the stack, so only this
	// check tells an operator who forgot to point an application's
	// EventDeliveryFailure at it that disabled devices will go unnoticed
	// and their users will count as reached.
	FeedbackTopic string
}

// Probe checks each platform application, one check per platform
// ("sns-android", "sns-ios").
func (r *Readiness) Probe(ctx context.Context) []preflight.Check {
	var out []preflight.Check
	for _, platform := range slices.Sorted(maps.Keys(r.Applications)) {
		arn := r.Applications[platform]
		c := preflight.Check{Name: "sns-" + platform}
		attrs, err := r.Client.GetPlatformApplicationAttributes(ctx, &sns.GetPlatformApplicationAttributesInput{PlatformApplicationArn: aws.String(arn)})
		switch {
		case err != nil:
			c.Status, c.Reason = preflight.Fail, fmt.Sprintf("cannot read the platform application %s: %s", arn, errorCode(err))
		case attrs.Attributes["Enabled"] == "true" && r.FeedbackTopic != "" && attrs.Attributes["EventDeliveryFailure"] != r.FeedbackTopic:
			c.Status, c.Reason = preflight.Warn, fmt.Sprintf("%s is enabled, but its EventDeliveryFailure is not %s: push failures will not reach the ledger; set EventDeliveryFailure and EventEndpointUpdated to that topic", arn, r.FeedbackTopic)
		case attrs.Attributes["Enabled"] == "true":
			c.Status, c.Reason = preflight.OK, fmt.Sprintf("%s is enabled", arn)
		case attrs.Attributes["Enabled"] == "false":
			c.Status, c.Reason = preflight.Fail, fmt.Sprintf("%s is disabled: its FCM or APNs credential was rejected; renew it, then resume paused incidents", arn)
		default:
			c.Status, c.Reason = preflight.Warn, fmt.Sprintf("SNS did not say whether %s is enabled", arn)
		}
		out = append(out, c)
	}
	return out
}

// errorCode is the API error's code (NotFound, AuthorizationError, …), or
// the error itself when it is not an API error (a network failure).
func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return err.Error()
}
