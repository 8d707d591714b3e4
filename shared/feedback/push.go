package feedback

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"breachnotify/shared/ledger"
)

// PushEvent is a platform application's event as SNS publishes it to the
// application's EventDeliveryFailure or EventEndpointUpdated topic.
type PushEvent struct {
	EventType      string    `json:"EventType"`
	EndpointArn    string    `json:"EndpointArn"`
	MessageID      string    `json:"MessageId"`
	FailureType    string    `json:"FailureType"`
	FailureMessage string    `json:"FailureMessage"`
	Resource       string    `json:"Resource"`
	Time           time.Time `json:"Time"`
}

// Devices finds the push delivery a message id or an endpoint stands for.
type Devices interface {
	// Locate is the delivery of push message id, ErrUnknown if none.
	Locate(ctx context.Context, messageID string) (ledger.Key, error)
}

// HandlePush takes one platform application event (the SNS message's
// body). A delivery failure marks the delivery's device unreachable; an
// endpoint update carries no message id and is kept aside for the record
// (the device's next send fails with EndpointDisabled at once).
func (h *Handler) HandlePush(ctx context.Context, message string) error {
	var ev PushEvent
	if err := json.Unmarshal([]byte(message), &ev); err != nil {
		return h.keepAside(ctx, Unmatched{Source: "aws.sns", Kind: "platform-application-event", Why: fmt.Sprintf("decode: %v", err)})
	}
	rep := Report{Source: "aws.sns", Kind: ev.EventType, Feedback: ledger.Feedback{MessageID: ev.MessageID, At: ev.Time}}
	if ev.EventType != "DeliveryFailure" || ev.MessageID == "" {
		return h.keepAside(ctx, Unmatched{Source: rep.Source, Kind: rep.Kind, MessageID: ev.MessageID, Why: "not a delivery failure", At: ev.Time})
	}
	rep.Feedback.Status, rep.Feedback.Reason = ledger.EndpointDisabled, ev.FailureType
	if h.Devices != nil {
		k, err := h.Devices.Locate(ctx, ev.MessageID)
		switch {
		case err == nil:
			rep.Feedback.Key = k
		case !isUnknown(err):
			return fmt.Errorf("locate push message %s: %w", ev.MessageID, err)
		}
	}
	return h.apply(ctx, rep)
}
