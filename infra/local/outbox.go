package local

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// Sent is one notice a local server received: an email (SES) or a push
// (an SNS platform endpoint).
type Sent struct {
	Channel  string `json:"channel"`
	To       string `json:"to,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Text     string `json:"text,omitempty"`
	HTML     string `json:"-"`
	Platform string `json:"platform,omitempty"`
	Token    string `json:"token,omitempty"`
	Title    string `json:"title,omitempty"`
	Body     string `json:"body,omitempty"`
	// Raw is the SNS message as published, for tests that check payloads.
	Raw string `json:"-"`
}

// Outbox lists what the local SES and SNS received since the stack started.
func (s *State) Outbox(ctx context.Context) ([]Sent, error) {
	emails, err := s.Emails(ctx)
	if err != nil {
		return nil, err
	}
	pushes, err := s.pushes(ctx)
	if err != nil {
		return nil, err
	}
	return append(emails, pushes...), nil
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Emails are the emails the local SES received, oldest first: the email
// half of Outbox, cheaper to poll when only an email is awaited.
func (s *State) Emails(ctx context.Context) ([]Sent, error) {
	var store struct {
		Emails []struct {
			Destination struct {
				To []string `json:"to"`
			} `json:"destination"`
			Subject string `json:"subject"`
			Body    struct {
				Text string `json:"text"`
				HTML string `json:"html"`
			} `json:"body"`
		} `json:"emails"`
	}
	if err := getJSON(ctx, s.SESURL+"/store", &store); err != nil {
		return nil, fmt.Errorf("read SES store: %w", err)
	}
	var out []Sent
	for _, e := range store.Emails {
		out = append(out, Sent{Channel: "email", To: strings.Join(e.Destination.To, ","), Subject: e.Subject, Text: e.Body.Text, HTML: e.Body.HTML})
	}
	return out, nil
}

func (s *State) pushes(ctx context.Context) ([]Sent, error) {
	var data struct {
		SNS struct {
			PlatformEndpoint []struct {
				ARN      string            `json:"arn"`
				Token    string            `json:"token"`
				Messages map[string]string `json:"messages"`
			} `json:"PlatformEndpoint"`
		} `json:"sns"`
	}
	if err := getJSON(ctx, s.MotoURL+"/moto-api/data.json", &data); err != nil {
		return nil, fmt.Errorf("read moto state: %w", err)
	}
	var out []Sent
	defer func() {
		// moto keys messages by random id, so publish order is lost; sort
		// for a stable listing.
		slices.SortStableFunc(out, func(a, b Sent) int { return strings.Compare(a.Token+a.Title, b.Token+b.Title) })
	}()
	for _, ep := range data.SNS.PlatformEndpoint {
		platform := "android"
		if strings.Contains(ep.ARN, ":endpoint/APNS") {
			platform = "ios"
		}
		for _, id := range slices.Sorted(maps.Keys(ep.Messages)) {
			raw := ep.Messages[id]
			title, body := pushText(raw, platform)
			out = append(out, Sent{Channel: "push", Platform: platform, Token: ep.Token, Title: title, Body: body, Raw: raw})
		}
	}
	return out, nil
}

// pushText reads title and body from the part of an SNS message that the
// endpoint's platform would receive.
func pushText(raw, platform string) (title, body string) {
	var parts map[string]string
	if json.Unmarshal([]byte(raw), &parts) != nil {
		return "", raw
	}
	if platform == "ios" {
		var apns struct {
			APS struct {
				Alert struct{ Title, Body string } `json:"alert"`
			} `json:"aps"`
		}
		_ = json.Unmarshal([]byte(parts["APNS"]), &apns)
		return apns.APS.Alert.Title, apns.APS.Alert.Body
	}
	var fcm struct {
		V1 struct {
			Message struct {
				Notification struct{ Title, Body string } `json:"notification"`
			} `json:"message"`
		} `json:"fcmV1Message"`
	}
	_ = json.Unmarshal([]byte(parts["GCM"]), &fcm)
	return fcm.V1.Message.Notification.Title, fcm.V1.Message.Notification.Body
}

// PutEvent publishes an EventBridge event (as written in events/*.json) to
// the stack's bus, where the template's rule decides whether it reaches
// the intake function.
func (s *State) PutEvent(ctx context.Context, event []byte) error {
	var ev struct {
		Source     string          `json:"source"`
		DetailType string          `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
		Resources  []string        `json:"resources"`
	}
	if err := json.Unmarshal(event, &ev); err != nil {
		return fmt.Errorf("read event: %w", err)
	}
	eb := eventbridge.NewFromConfig(s.Config())
	out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: &s.EventBus, Source: &ev.Source, DetailType: &ev.DetailType,
		Detail: aws.String(string(ev.Detail)), Resources: ev.Resources,
	}}})
	if err != nil {
		return fmt.Errorf("put event: %w", err)
	}
	if out.FailedEntryCount > 0 {
		return fmt.Errorf("put event: %s", aws.ToString(out.Entries[0].ErrorMessage))
	}
	return nil
}
