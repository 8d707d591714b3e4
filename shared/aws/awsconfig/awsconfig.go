// Package awsconfig loads the AWS SDK configuration and the function
// settings that template.yaml puts in the environment. Local runs differ
// only by the standard endpoint variables (AWS_ENDPOINT_URL,
// AWS_ENDPOINT_URL_<SERVICE>), which the SDK reads itself.
package awsconfig

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
)

// maxIdlePerHost covers the in-flight sends of the largest worker share.
const maxIdlePerHost = 256

// Load reads the SDK configuration once per process. The standard retryer's
// client-side retry budget (500 tokens) runs dry under sustained throttling
// and then fails calls that would have succeeded (aws-sdk-go-v2 #1665), so
// it is switched off; the worker's SES and SNS clients go further and do not
// retry at all, since the worker paces and retries sends itself.
func Load(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
		}),
		// The default keeps 10 idle connections per host; a paced worker
		// has more sends in flight than that, and would re-dial (with a TLS
		// handshake) on most calls.
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConnsPerHost = maxIdlePerHost
		})),
	)
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

// ForFunction is what every function's main does first: read the
// settings it needs and the SDK configuration, failing with one error that
// names everything missing.
func ForFunction(ctx context.Context, names ...string) (aws.Config, map[string]string, error) {
	env, err := Env(names...)
	if err != nil {
		return aws.Config{}, env, err
	}
	cfg, err := Load(ctx)
	return cfg, env, err
}

// Numbers parses the named settings of env as non-negative numbers.
func Numbers(env map[string]string, names ...string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, k := range names {
		v, err := strconv.ParseFloat(env[k], 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%s must be a non-negative number, not %q", k, env[k])
		}
		out[k] = v
	}
	return out, nil
}
