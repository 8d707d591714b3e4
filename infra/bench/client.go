package bench

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
)

// SDKDefaultIdlePerHost is the SDK's default transport's idle connections
// per host (awshttp.DefaultHTTPTransportMaxIdleConnsPerHost).
var SDKDefaultIdlePerHost = awshttp.DefaultHTTPTransportMaxIdleConnsPerHost

// SESClient is a real SES v2 client for endpoint, configured as the worker
// configures production's: the standard retryer with its client-side retry
// budget switched off, and one attempt per call. Its transport
// keeps idlePerHost idle connections per host; the SDK's default of 10 is
// fewer than a fleet keeps in flight, and every response beyond it closes
// its connection, so the next request dials again. dials counts the
// connections the client opened.
func SESClient(endpoint string, idlePerHost int) (client *sesv2.Client, dials *atomic.Int64) {
	dials = &atomic.Int64{}
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = max(idlePerHost, tr.MaxIdleConns)
		tr.MaxIdleConnsPerHost = idlePerHost
		dial := tr.DialContext
		if dial == nil {
			dial = (&net.Dialer{}).DialContext
		}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return dial(ctx, network, addr)
		}
	})
	return sesv2.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("bench", "bench", ""),
		BaseEndpoint: aws.String(endpoint),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
		},
		HTTPClient: hc,
	}, func(o *sesv2.Options) {
		// As functions/worker/main.go: the worker retries sends itself,
		// paced, so the SDK does not.
		o.RetryMaxAttempts = 1
	}), dials
}
