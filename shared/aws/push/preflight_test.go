package push

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"breachnotify/shared/preflight"
)

type attributesFunc func(context.Context, *sns.GetPlatformApplicationAttributesInput, ...func(*sns.Options)) (*sns.GetPlatformApplicationAttributesOutput, error)

func (f attributesFunc) GetPlatformApplicationAttributes(ctx context.Context, in *sns.GetPlatformApplicationAttributesInput, o ...func(*sns.Options)) (*sns.GetPlatformApplicationAttributesOutput, error) {
	return f(ctx, in, o...)
}

func TestReadiness(t *testing.T) {
	apps := map[string]map[string]string{
		"arn:app/GCM/on":    {"Enabled": "true", "EventDeliveryFailure": "arn:topic/feedback"},
		"arn:app/GCM/deaf":  {"Enabled": "true"},
		"arn:app/APNS/off":  {"Enabled": "false"},
		"arn:app/GCM/quiet": {},
	}
	client := attributesFunc(func(_ context.Context, in *sns.GetPlatformApplicationAttributesInput, _ ...func(*sns.Options)) (*sns.GetPlatformApplicationAttributesOutput, error) {
		a, ok := apps[aws.ToString(in.PlatformApplicationArn)]
		if !ok {
			return nil, &types.NotFoundException{}
		}
		return &sns.GetPlatformApplicationAttributesOutput{Attributes: a}, nil
	})
	tests := []struct {
		arn  string
		want preflight.Status
	}{
		{"arn:app/GCM/on", preflight.OK},
		{"arn:app/GCM/deaf", preflight.Warn}, // failures reported nowhere
		{"arn:app/APNS/off", preflight.Fail},
		{"arn:app/GCM/quiet", preflight.Warn},
		{"arn:app/GCM/gone", preflight.Fail},
	}
	for _, tc := range tests {
		t.Run(tc.arn, func(t *testing.T) {
			r := &Readiness{Client: client, Applications: map[string]string{"android": tc.arn}, FeedbackTopic: "arn:topic/feedback"}
			got := r.Probe(context.Background())
			if len(got) != 1 || got[0].Name != "sns-android" || got[0].Status != tc.want || got[0].Reason == "" {
				t.Errorf("Probe = %+v, want one sns-android check %s", got, tc.want)
			}
		})
	}
}
