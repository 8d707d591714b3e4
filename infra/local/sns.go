package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// The functions reach SNS through a front (s.SNSEndpoint) that passes
// everything to moto and plays one thing moto cannot: a push service
// refusing a device's token. On AWS, SNS accepts a publish to an enabled
// endpoint, FCM or APNs then refuses the token, SNS disables the endpoint
// and publishes a DeliveryFailure event to the platform application's
// EventDeliveryFailure topic; later publishes fail with EndpointDisabled
// at once (moto does that part). Locally a token starting with
// RefusedTokenPrefix is one the push service refuses.

// RefusedTokenPrefix marks a device token the local push services refuse.
const RefusedTokenPrefix = "refused-"

// FailureDelay is how long after the publish the local push service's
// refusal is reported, as FCM and APNs answer SNS after it accepted.
const FailureDelay = time.Second

var publishMessageID = regexp.MustCompile(`<MessageId>([^<]+)</MessageId>`)

// ServeSNS serves the SNS front at s.SNSEndpoint until ctx ends.
func (s *State) ServeSNS(ctx context.Context) error {
	if s.SNSEndpoint == "" {
		return nil
	}
	target, err := url.Parse(s.MotoURL)
	if err != nil {
		return fmt.Errorf("serve the SNS front: %w", err)
	}
	l, err := net.Listen("tcp", strings.TrimPrefix(s.SNSEndpoint, "http://"))
	if err != nil {
		return fmt.Errorf("serve the SNS front: %w", err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "unreadable request", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		endpoint := form.Get("TargetArn")
		if form.Get("Action") != "Publish" || !strings.Contains(endpoint, ":endpoint/") {
			proxy.ServeHTTP(w, r)
			return
		}
		rec := &recorder{ResponseWriter: w}
		proxy.ServeHTTP(rec, r)
		m := publishMessageID.FindSubmatch(rec.body.Bytes())
		if rec.status >= 300 || m == nil {
			return
		}
		go func() {
			time.Sleep(FailureDelay)
			if err := s.refuseIfInvalid(context.WithoutCancel(ctx), endpoint, string(m[1])); err != nil && s.log != nil {
				s.log.Error("push service refusal not played", "endpoint", endpoint, "error", err)
			}
		}()
	})}
	go func() { _ = srv.Serve(l) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return nil
}

// refuseIfInvalid plays the push service's refusal of the endpoint's token
// when it is one the local push services refuse.
func (s *State) refuseIfInvalid(ctx context.Context, endpoint, messageID string) error {
	c := sns.NewFromConfig(s.Config())
	attrs, err := c.GetEndpointAttributes(ctx, &sns.GetEndpointAttributesInput{EndpointArn: &endpoint})
	if err != nil {
		return err
	}
	if !strings.HasPrefix(attrs.Attributes["Token"], RefusedTokenPrefix) {
		return nil
	}
	if _, err := c.SetEndpointAttributes(ctx, &sns.SetEndpointAttributesInput{EndpointArn: &endpoint,
		Attributes: map[string]string{"Enabled": "false"}}); err != nil {
		return err
	}
	// arn:...:endpoint/GCM/<app>/<id> belongs to arn:...:app/GCM/<app>.
	app := strings.Replace(endpoint[:strings.LastIndexByte(endpoint, '/')], ":endpoint/", ":app/", 1)
	appAttrs, err := c.GetPlatformApplicationAttributes(ctx, &sns.GetPlatformApplicationAttributesInput{PlatformApplicationArn: &app})
	if err != nil {
		return err
	}
	topic := appAttrs.Attributes["EventDeliveryFailure"]
	if topic == "" {
		return nil
	}
	event, err := json.Marshal(map[string]any{
		"DeliveryAttempts": 1, "EndpointArn": endpoint, "EventType": "DeliveryFailure",
		"FailureMessage": "Platform token associated with the endpoint is not valid", "FailureType": "InvalidPlatformToken",
		"MessageId": messageID, "Resource": app, "Service": "SNS", "Time": time.Now().UTC().Format(time.RFC3339Nano),
	})
	if err != nil {
		return err
	}
	_, err = c.Publish(ctx, &sns.PublishInput{TopicArn: &topic, Message: aws.String(string(event)),
		Subject: aws.String("DeliveryFailure event for app " + app[strings.LastIndexByte(app, '/')+1:])})
	return err
}
