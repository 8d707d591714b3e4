package bus

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"breachnotify/shared/preflight"
)

type describeFunc func(context.Context, *eventbridge.DescribeEventBusInput, ...func(*eventbridge.Options)) (*eventbridge.DescribeEventBusOutput, error)

func (f describeFunc) DescribeEventBus(ctx context.Context, in *eventbridge.DescribeEventBusInput, o ...func(*eventbridge.Options)) (*eventbridge.DescribeEventBusOutput, error) {
	return f(ctx, in, o...)
}

func TestReadiness(t *testing.T) {
	const deny = `{"Version":"2012-10-17","Statement":[{"Sid":"OnlyDetectors","Effect":"Deny","Principal":"*","Action":"events:PutEvents",
		"Resource":"arn:aws:events:us-east-1:123456789012:event-bus/incidents","Condition":{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/detector"}}}]}`
	tests := []struct {
		name   string
		policy string
		err    error
		want   preflight.Status
	}{
		{"deny for all but detectors", deny, nil, preflight.OK},
		{"deny as a list, with a single statement object",
			`{"Statement":{"Effect":"Deny","Principal":"*","Action":["events:PutRule","events:PutEvents"]}}`, nil, preflight.OK},
		{"no policy", "", nil, preflight.Warn},
		{"allow only", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"events:PutEvents"}]}`, nil, preflight.Warn},
		{"deny of something else", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"events:PutRule"}]}`, nil, preflight.Warn},
		{"no such bus", "", &types.ResourceNotFoundException{}, preflight.Fail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var asked string
			r := &Readiness{Bus: "incidents", Client: describeFunc(func(_ context.Context, in *eventbridge.DescribeEventBusInput, _ ...func(*eventbridge.Options)) (*eventbridge.DescribeEventBusOutput, error) {
				asked = aws.ToString(in.Name)
				if tc.err != nil {
					return nil, tc.err
				}
				out := &eventbridge.DescribeEventBusOutput{Name: in.Name}
				if tc.policy != "" {
					out.Policy = aws.String(tc.policy)
				}
				return out, nil
			})}
			got := r.Probe(context.Background())
			if len(got) != 1 || got[0].Status != tc.want || got[0].Reason == "" || asked != "incidents" {
				t.Errorf("Probe = %+v (asked %q), want %s", got, asked, tc.want)
			}
		})
	}
}
