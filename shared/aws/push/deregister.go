package push

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// EndpointDeleter is the part of the SNS API that removes endpoints.
type EndpointDeleter interface {
	DeleteEndpoint(ctx context.Context, in *sns.DeleteEndpointInput, opts ...func(*sns.Options)) (*sns.DeleteEndpointOutput, error)
}

// Deregistrar deletes the platform endpoints of users who left, so that
// nothing can be pushed to their devices any more.
type Deregistrar struct {
	Client EndpointDeleter
}

// Deregister deletes an endpoint. DeleteEndpoint is idempotent (SNS API
// reference), so deleting again after a stopped run is safe.
func (d *Deregistrar) Deregister(ctx context.Context, endpointARN string) error {
	if _, err := d.Client.DeleteEndpoint(ctx, &sns.DeleteEndpointInput{EndpointArn: &endpointARN}); err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	return nil
}
