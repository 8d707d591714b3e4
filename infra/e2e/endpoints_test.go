package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"
)

// TestPlatformEndpoints: the local SNS answers CreatePlatformEndpoint as
// AWS does (infra/local/moto_server.py): idempotent for a token and its
// attributes within one platform application, InvalidParameter for the
// same token with other attributes, a token of one application unknown to
// another, and a deleted endpoint forgotten. Concurrent registrations all
// succeed at the first attempt: no retries hide a server error.
func TestPlatformEndpoints(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	client := sns.NewFromConfig(s.Config(), func(o *sns.Options) { o.Retryer = aws.NopRetryer{} })
	token := fmt.Sprintf("tok-%d", time.Now().UnixNano())
	create := func(platform, userData string) (string, error) {
		in := &sns.CreatePlatformEndpointInput{PlatformApplicationArn: aws.String(s.Platforms[platform]), Token: &token}
		if userData != "" {
			in.CustomUserData = &userData
		}
		out, err := client.CreatePlatformEndpoint(ctx, in)
		if err != nil {
			return "", err
		}
		return aws.ToString(out.EndpointArn), nil
	}
	first, err := create("android", "")
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name, platform, userData string
		same                     bool   // the first endpoint comes back
		code                     string // else an error with this code
	}{
		{name: "same token and attributes", platform: "android", same: true},
		{name: "same token in another application", platform: "ios"},
		{name: "same token, other attributes", platform: "android", userData: "other", code: "InvalidParameter"},
	} {
		t.Run(c.name, func(t *testing.T) {
			arn, err := create(c.platform, c.userData)
			var api smithy.APIError
			switch {
			case c.code != "":
				if !errors.As(err, &api) || api.ErrorCode() != c.code {
					t.Errorf("got %q, %v; want error %s", arn, err, c.code)
				}
			case err != nil:
				t.Errorf("error %v", err)
			case (arn == first) != c.same:
				t.Errorf("got %s, first was %s; want the same: %v", arn, first, c.same)
			}
		})
	}

	t.Run("deleted endpoint", func(t *testing.T) {
		if _, err := client.DeleteEndpoint(ctx, &sns.DeleteEndpointInput{EndpointArn: &first}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.GetEndpointAttributes(ctx, &sns.GetEndpointAttributesInput{EndpointArn: &first}); err == nil {
			t.Errorf("the deleted endpoint is still there")
		}
		// Different attributes no longer meet the deleted endpoint.
		arn, err := create("android", "other")
		if err != nil || arn == "" || arn == first {
			t.Errorf("after the delete: %q, %v; want a new endpoint", arn, err)
		}
	})

	t.Run("concurrent registrations", func(t *testing.T) {
		const workers, each = 16, 100
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					tok := fmt.Sprintf("%s-%d-%d", token, w, i)
					_, err := client.CreatePlatformEndpoint(ctx, &sns.CreatePlatformEndpointInput{
						PlatformApplicationArn: aws.String(s.Platforms["android"]), Token: &tok})
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if n := len(errs); n > 0 {
			t.Errorf("%d of %d registrations failed, the first: %v", n, workers*each, <-errs)
		}
	})
}
