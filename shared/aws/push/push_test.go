package push

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"breachnotify/shared/dispatch"
	"breachnotify/shared/notice"
)

type client struct {
	publish func(*sns.PublishInput) (*sns.PublishOutput, error)
}

func (c client) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	return c.publish(in)
}

func (c client) CreatePlatformEndpoint(context.Context, *sns.CreatePlatformEndpointInput, ...func(*sns.Options)) (*sns.CreatePlatformEndpointOutput, error) {
	return nil, errors.New("not used")
}

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		err    error
		class  dispatch.Class
		reason string
	}{
		{&types.EndpointDisabledException{}, dispatch.Permanent, "EndpointDisabled"},
		{&types.InvalidParameterException{}, dispatch.Permanent, "InvalidParameter"},
		{&types.NotFoundException{}, dispatch.Permanent, "EndpointNotFound"},
		{&types.PlatformApplicationDisabledException{}, dispatch.Paused, "PlatformApplicationDisabled"},
		{&types.ThrottledException{}, dispatch.Retryable, "Throttled"},
		{errors.New("timeout"), dispatch.Retryable, "PublishFailed"},
	}
	for _, tc := range tests {
		t.Run(tc.reason, func(t *testing.T) {
			p := &Publisher{Client: client{publish: func(*sns.PublishInput) (*sns.PublishOutput, error) { return nil, tc.err }}}
			_, err := p.Push(context.Background(), "arn", notice.Push{Title: "t", Body: "b"}, nil)
			var se *dispatch.SendError
			if !errors.As(err, &se) || se.Class != tc.class || se.Reason != tc.reason || se.Throttled != (tc.reason == "Throttled") {
				t.Fatalf("err = %#v, want class %d reason %s", err, tc.class, tc.reason)
			}
		})
	}
}

func TestPayloadCarriesEachPlatformWithinTheLimit(t *testing.T) {
	msg, err := Payload(notice.Push{Title: "Aviso", Body: "Actualiza a 8.9.0 ñ"}, map[string]string{"incidentId": "INC-1"})
	if err != nil {
		t.Fatal(err)
	}
	var parts map[string]string
	if err := json.Unmarshal([]byte(msg), &parts); err != nil {
		t.Fatal(err)
	}
	var fcm struct {
		V1 struct {
			Message struct {
				Notification struct{ Title, Body string } `json:"notification"`
				Data         map[string]string            `json:"data"`
			} `json:"message"`
		} `json:"fcmV1Message"`
	}
	if err := json.Unmarshal([]byte(parts["GCM"]), &fcm); err != nil || fcm.V1.Message.Notification.Body != "Actualiza a 8.9.0 ñ" || fcm.V1.Message.Data["incidentId"] != "INC-1" {
		t.Errorf("GCM part = %s (%v)", parts["GCM"], err)
	}
	if !strings.Contains(parts["APNS"], `"alert":{"body":"Actualiza a 8.9.0 ñ","title":"Aviso"}`) || parts["APNS_SANDBOX"] != parts["APNS"] {
		t.Errorf("APNS part = %s", parts["APNS"])
	}
	// A body too large for FCM/APNs is refused rather than sent and dropped by the platform.
	if _, err := Payload(notice.Push{Title: "t", Body: strings.Repeat("x", notice.PushLimit)}, nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize payload err = %v", err)
	}
}
