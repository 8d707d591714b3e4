package faultserver

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// httpClient keeps enough idle connections for the burst tests: the SDK's
// default keeps 10 per host, and a burst of 200 would then spend its time
// dialling instead of arriving at once.
var httpClient = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
	tr.MaxIdleConns = 512
	tr.MaxIdleConnsPerHost = 512
})

func start(t testing.TB, cfg Config) *Server {
	t.Helper()
	srv, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return srv
}

// awsConfig is what the project's tests use: real clients, static
// credentials, and no retries, so one call is one request.
func awsConfig(srv *Server) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("a", "b", ""),
		BaseEndpoint: aws.String(srv.URL()),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient:   httpClient,
	}
}

func clients(srv *Server) (*sesv2.Client, *sns.Client) {
	cfg := awsConfig(srv)
	return sesv2.NewFromConfig(cfg), sns.NewFromConfig(cfg)
}

func emailTo(to string, tags map[string]string) *sesv2.SendEmailInput {
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("security@example.com"),
		Destination:      &sestypes.Destination{ToAddresses: []string{to}},
		Content: &sestypes.EmailContent{Simple: &sestypes.Message{
			Subject: &sestypes.Content{Data: aws.String("Action needed: update your app"), Charset: aws.String("UTF-8")},
			Body: &sestypes.Body{
				Text: &sestypes.Content{Data: aws.String("Please update.")},
				Html: &sestypes.Content{Data: aws.String("<p>Please update.</p>")},
			},
		}},
	}
	for k, v := range tags {
		in.EmailTags = append(in.EmailTags, sestypes.MessageTag{Name: aws.String(k), Value: aws.String(v)})
	}
	return in
}

const pushMessage = `{"default":"Update your app","GCM":"{\"fcmV1Message\":{}}","APNS":"{\"aps\":{}}"}`

func publishTo(arn string) *sns.PublishInput {
	return &sns.PublishInput{TargetArn: aws.String(arn), Message: aws.String(pushMessage), MessageStructure: aws.String("json")}
}

// outcome classifies a send's result in one byte, for comparing runs.
func outcome(err error) byte {
	var re *awshttp.ResponseError
	switch {
	case err == nil:
		return '.'
	case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusTooManyRequests:
		return 'T'
	case errors.As(err, &re) && re.HTTPStatusCode() >= 500:
		return '5'
	}
	return '?'
}

func isA[T error]() func(error) bool {
	return func(err error) bool {
		var target T
		return errors.As(err, &target)
	}
}

var bg = context.Background()
