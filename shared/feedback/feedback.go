// Package feedback turns what SES and SNS report after a send into the
// ledger: deliveries, delays, bounces, complaints, suppressions,
// rejections and disabled push endpoints. Each report moves its delivery
// forward only (ledger.Advances), so reports may arrive late, out of order
// and more than once. A report that names no known delivery is kept aside,
// never dropped; a permanent bounce or a complaint also marks the address
// unreachable for later incidents.
package feedback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"breachnotify/shared/dispatch"
	"breachnotify/shared/errs"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

// Ledger applies feedback to the deliveries it names.
type Ledger interface {
	// Apply records f on its delivery when it moves it forward, and
	// reports what it did; ErrUnknown when the ledger has no such
	// recipient.
	Apply(ctx context.Context, f ledger.Feedback) (Applied, error)
}

// Applied is what one report did to its recipient: whether it moved the
// delivery, and the recipient's reach just before and after, read in the
// same atomic write.
type Applied struct {
	Moved         bool
	Before, After ledger.Reach
	// Record is the recipient's record with the report applied.
	Record ledger.Record
}

// Queue sends a batch to the recipients queue.
type Queue interface {
	Send(ctx context.Context, bodies [][]byte) error
}

// ReachCounter counts recipients reached and unreachable per notice.
type ReachCounter interface {
	CountReach(ctx context.Context, incidentID, noticeID string, delta map[ledger.Reach]int) error
}

// ErrUnknown: the feedback names no recipient the ledger knows.
var ErrUnknown = errs.New(errs.NotFound, "no such delivery in the ledger")

// Aside keeps reports that matched no delivery, for someone to look at.
type Aside interface {
	KeepAside(ctx context.Context, u Unmatched) error
}

// Unmatched is a report kept aside: what it said and why it matched
// nothing, with no address (the report's recipients are personal data).
type Unmatched struct {
	Source    string            `json:"source"`
	Kind      string            `json:"kind"`
	MessageID string            `json:"messageId"`
	Tags      map[string]string `json:"tags,omitempty"`
	Why       string            `json:"why"`
	At        time.Time         `json:"at"`
}

// Addresses remembers addresses that bounced for good or complained, by
// hash, so later incidents skip them (see ledger.AddressHash).
type Addresses interface {
	MarkUnreachable(ctx context.Context, hash string, reason string, at time.Time) error
}

// Handler is the FeedbackFunction.
type Handler struct {
	Ledger    Ledger
	Aside     Aside
	Addresses Addresses
	// Devices locates push messages; nil keeps push reports aside.
	Devices Devices
	Reach   ReachCounter
	// Queue takes a fallback notice's next channel for a recipient whose
	// delivery failed for good.
	Queue Queue
	Log   *slog.Logger
}

// Report is one provider report, decoded: the delivery it is about (when
// known) and the addresses to remember as unreachable.
type Report struct {
	Source      string
	Kind        string
	Tags        map[string]string
	Feedback    ledger.Feedback
	Unreachable []string
}

// Event is what invokes the FeedbackFunction: an SES event from
// EventBridge, or an SNS notification from the platform applications'
// event topic.
type Event struct {
	events.EventBridgeEvent
	Records []events.SNSEventRecord `json:"Records,omitempty"`
}

// Result is what one invocation did.
type Result struct {
	Reports int `json:"reports"`
}

// Handle applies the reports of one invocation. An error (the ledger
// unavailable) makes Lambda retry the event, then hand it to the
// function's on-failure destination.
func (h *Handler) Handle(ctx context.Context, ev Event) (Result, error) {
	if len(ev.Records) > 0 {
		var errs []error
		for _, r := range ev.Records {
			errs = append(errs, h.HandlePush(ctx, r.SNS.Message))
		}
		return Result{Reports: len(ev.Records)}, errors.Join(errs...)
	}
	return Result{Reports: 1}, h.HandleSES(ctx, ev.EventBridgeEvent)
}

// HandleSES takes one SES event from EventBridge (a configuration set's
// event destination). Events the ledger does not track (sends, opens,
// clicks) are ignored.
func (h *Handler) HandleSES(ctx context.Context, ev events.EventBridgeEvent) error {
	rep, ok, err := ParseSES(ev.DetailType, ev.Detail)
	if err != nil {
		// A malformed event cannot be applied; it is kept aside rather
		// than retried.
		return h.keepAside(ctx, Unmatched{Source: ev.Source, Kind: ev.DetailType, Why: err.Error(), At: ev.Time})
	}
	if !ok {
		return nil
	}
	return h.apply(ctx, rep)
}

func (h *Handler) apply(ctx context.Context, rep Report) error {
	f := rep.Feedback
	for _, a := range rep.Unreachable {
		if err := h.Addresses.MarkUnreachable(ctx, ledger.AddressHash(a), string(f.Status)+":"+f.Reason, f.At); err != nil {
			return fmt.Errorf("mark an address unreachable after %s %s: %w", rep.Kind, f.MessageID, err)
		}
	}
	if f.UserID == "" {
		return h.keepAside(ctx, Unmatched{Source: rep.Source, Kind: rep.Kind, MessageID: f.MessageID, Tags: rep.Tags,
			Why: "the report names no recipient", At: f.At})
	}
	a, err := h.Ledger.Apply(ctx, f)
	if isUnknown(err) {
		return h.keepAside(ctx, Unmatched{Source: rep.Source, Kind: rep.Kind, MessageID: f.MessageID, Tags: rep.Tags,
			Why: "no such recipient in the ledger", At: f.At})
	}
	if err != nil {
		return fmt.Errorf("apply %s %s to %s: %w", rep.Kind, f.MessageID, f.Key, err)
	}
	if a.Moved && f.Status.Undeliverable() && a.Record.Next != "" && (a.Record.Waiting() || a.Record.State == ledger.Claimed) {
		// A fallback notice: its next channel goes now, after the failure
		// and not before (the worker reads the failure in the record). A
		// record still claimed may not show its later channels waiting
		// yet; the batch then waits for the claim and finds out.
		if err := h.Queue.Send(ctx, [][]byte{[]byte(a.Record.Next)}); err != nil {
			return fmt.Errorf("send the fallback of %s: %w", f.Recipient(), err)
		}
		h.Log.InfoContext(ctx, "fallback queued", "incidentId", f.IncidentID, "noticeId", f.NoticeID, "userId", f.UserID,
			"after", string(f.Channel))
	}
	if moves := ledger.ReachMoves(a.Before, a.After); len(moves) > 0 {
		// A retry after a failure here finds the report applied and counts
		// nothing: the counts may then lag the ledger, which the export
		// recounts from the records.
		if err := h.Reach.CountReach(ctx, f.IncidentID, f.NoticeID, moves); err != nil {
			return fmt.Errorf("count the reach of %s: %w", f.Recipient(), err)
		}
	}
	h.Log.InfoContext(ctx, "delivery feedback", "incidentId", f.IncidentID, "noticeId", f.NoticeID, "userId", f.UserID,
		"channel", string(f.Channel), "deviceId", f.DeviceID, "status", string(f.Status), "reason", f.Reason, "applied", a.Moved, "reach", string(a.After))
	return nil
}

func (h *Handler) keepAside(ctx context.Context, u Unmatched) error {
	if err := h.Aside.KeepAside(ctx, u); err != nil {
		return fmt.Errorf("keep aside %s %s: %w", u.Kind, u.MessageID, err)
	}
	h.Log.WarnContext(ctx, "feedback kept aside", "source", u.Source, "kind", u.Kind, "messageId", u.MessageID, "why", u.Why)
	return nil
}

// The detail types SES publishes to EventBridge that the ledger tracks.
const (
	EmailDelivered        = "Email Delivered"
	EmailDeliveryDelayed  = "Email Delivery Delayed"
	EmailBounced          = "Email Bounced"
	EmailComplaint        = "Email Complaint Received"
	EmailRejected         = "Email Rejected"
	EmailRenderingFailed  = "Email Rendering Failed"
	SuppressionListBounce = "OnAccountSuppressionList"
)

// SESDetail is the detail of an SES event: the same record SES publishes
// to SNS or Firehose (the fields the ledger needs).
type SESDetail struct {
	EventType string `json:"eventType"`
	Mail      struct {
		MessageID   string              `json:"messageId"`
		Timestamp   time.Time           `json:"timestamp"`
		Destination []string            `json:"destination"`
		Tags        map[string][]string `json:"tags"`
	} `json:"mail"`
	Bounce *struct {
		BounceType        string      `json:"bounceType"`
		BounceSubType     string      `json:"bounceSubType"`
		BouncedRecipients []recipient `json:"bouncedRecipients"`
		Timestamp         time.Time   `json:"timestamp"`
	} `json:"bounce,omitempty"`
	Complaint *struct {
		ComplainedRecipients  []recipient `json:"complainedRecipients"`
		ComplaintFeedbackType string      `json:"complaintFeedbackType"`
		Timestamp             time.Time   `json:"timestamp"`
	} `json:"complaint,omitempty"`
	Delivery *struct {
		Timestamp time.Time `json:"timestamp"`
	} `json:"delivery,omitempty"`
	DeliveryDelay *struct {
		DelayType string    `json:"delayType"`
		Timestamp time.Time `json:"timestamp"`
	} `json:"deliveryDelay,omitempty"`
	Reject *struct {
		Reason string `json:"reason"`
	} `json:"reject,omitempty"`
	Failure *struct {
		ErrorMessage string `json:"errorMessage"`
	} `json:"failure,omitempty"`
}

type recipient struct {
	EmailAddress string `json:"emailAddress"`
}

// ParseSES decodes an SES event into a report; ok is false for an event
// type the ledger does not track.
func ParseSES(detailType string, detail []byte) (rep Report, ok bool, err error) {
	var d SESDetail
	if err := json.Unmarshal(detail, &d); err != nil {
		return rep, false, fmt.Errorf("decode %s: %w", detailType, err)
	}
	rep = Report{Source: "aws.ses", Kind: detailType, Tags: map[string]string{}}
	for k, v := range d.Mail.Tags {
		if k == dispatch.TagIncident || k == dispatch.TagNotice || k == dispatch.TagUser {
			if len(v) > 0 {
				rep.Tags[k] = v[0]
			}
		}
	}
	f := ledger.Feedback{MessageID: d.Mail.MessageID, At: d.Mail.Timestamp}
	switch {
	case detailType == EmailDelivered && d.Delivery != nil:
		f.Status, f.At = ledger.Delivered, d.Delivery.Timestamp
	case detailType == EmailDeliveryDelayed && d.DeliveryDelay != nil:
		f.Status, f.Reason, f.At = ledger.Delayed, d.DeliveryDelay.DelayType, d.DeliveryDelay.Timestamp
	case detailType == EmailBounced && d.Bounce != nil:
		f.Status, f.Reason, f.At = ledger.Bounced, d.Bounce.BounceType+"/"+d.Bounce.BounceSubType, d.Bounce.Timestamp
		switch {
		case d.Bounce.BounceSubType == SuppressionListBounce:
			// Not sent at all: the address was already on the account's list.
			f.Status = ledger.Suppressed
		case d.Bounce.BounceType == "Permanent":
			for _, r := range d.Bounce.BouncedRecipients {
				rep.Unreachable = append(rep.Unreachable, r.EmailAddress)
			}
		}
	case detailType == EmailComplaint && d.Complaint != nil:
		f.Status, f.Reason, f.At = ledger.Complained, d.Complaint.ComplaintFeedbackType, d.Complaint.Timestamp
		for _, r := range d.Complaint.ComplainedRecipients {
			rep.Unreachable = append(rep.Unreachable, r.EmailAddress)
		}
	case detailType == EmailRejected && d.Reject != nil:
		f.Status, f.Reason = ledger.Rejected, d.Reject.Reason
		if strings.Contains(strings.ToLower(d.Reject.Reason), "suppression list") {
			// Some accounts see a suppressed address reported this way.
			f.Status, f.Reason = ledger.Suppressed, SuppressionListBounce
		}
	case detailType == EmailRenderingFailed:
		f.Status, f.Reason = ledger.Rejected, "RenderingFailure"
	default:
		return rep, false, nil
	}
	if f.At.IsZero() {
		f.At = d.Mail.Timestamp
	}
	if r, err := dispatch.Recipient(rep.Tags); err == nil {
		f.Key = ledger.Key{IncidentID: r.IncidentID, NoticeID: r.NoticeID, UserID: r.UserID, Channel: incident.Email}
	}
	rep.Feedback = f
	return rep, true, nil
}

func isUnknown(err error) bool { return errors.Is(err, ErrUnknown) }
