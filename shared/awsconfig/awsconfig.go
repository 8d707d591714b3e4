// Package awsconfig loads the AWS SDK configuration and the function
// settings that template.yaml puts in the environment. Local runs differ
// only by the standard endpoint variables (AWS_ENDPOINT_URL,
// AWS_ENDPOINT_URL_<SERVICE>), which the SDK reads itself.
package awsconfig

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Load reads the SDK configuration once per process. The standard retryer's
// client-side retry budget (500 tokens) runs dry under sustained throttling
// and then fails calls that would have succeeded (aws-sdk-go-v2 #1665); the
// functions pace and retry through the queue instead, so it is switched off.
func Load(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
	}))
	if err != nil {
		return cfg, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// Env returns the named environment variables, or an error naming every
// one that is missing or empty, so a misconfigured deployment fails at
// start with one clear message.
func Env(names ...string) (map[string]string, error) {
	vals := make(map[string]string, len(names))
	var missing []string
	for _, n := range names {
		v := strings.TrimSpace(os.Getenv(n))
		if v == "" {
			missing = append(missing, n)
		}
		vals[n] = v
	}
	if len(missing) > 0 {
		return vals, fmt.Errorf("missing environment variables: %s", strings.Join(missing, ", "))
	}
	return vals, nil
}
