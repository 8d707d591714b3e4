package intake

import (
	"breachnotify/shared/errs"
	"encoding/json"
	"fmt"
)

// Failure is an event intake failed on for good: Lambda retried it
// (EventInvokeConfig MaximumRetryAttempts) and then sent an invocation
// record to intake's on-failure destination. Replaying it runs intake
// again on the original event.
type Failure struct {
	// Handle identifies the record in its queue, to delete it once
	// replayed.
	Handle string
	// Event is the original EventBridge event (the record's
	// requestPayload).
	Event json.RawMessage
	// EventID is the event's id, when it has one.
	EventID string
	// Attempts is how many times Lambda ran intake on it.
	Attempts int
	// Error is intake's last error message, cut to maxFailureError bytes.
	Error string
}

// maxFailureError bounds the error kept from a record: it is shown to an
// admin, and an error can quote the event.
const maxFailureError = 512

// ErrNotARecord: a message on the failure queue is not a Lambda
// invocation record, so there is no event to replay.
var ErrNotARecord = errs.New(errs.Invalid, "not a Lambda invocation record")

// ParseFailure reads one invocation record, as Lambda writes it to an
// on-failure destination.
func ParseFailure(handle string, body []byte) (Failure, error) {
	var rec struct {
		RequestContext struct {
			Condition              string `json:"condition"`
			ApproximateInvokeCount int    `json:"approximateInvokeCount"`
		} `json:"requestContext"`
		RequestPayload  json.RawMessage `json:"requestPayload"`
		ResponsePayload struct {
			ErrorMessage string `json:"errorMessage"`
		} `json:"responsePayload"`
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		return Failure{Handle: handle}, fmt.Errorf("%w: %w", ErrNotARecord, err)
	}
	if len(rec.RequestPayload) == 0 || string(rec.RequestPayload) == "null" {
		return Failure{Handle: handle}, fmt.Errorf("%w: no requestPayload", ErrNotARecord)
	}
	var ev struct {
		ID string `json:"id"`
	}
	// An event that is not an object is still replayed: intake rejects and
	// records it, which is what should have happened the first time.
	_ = json.Unmarshal(rec.RequestPayload, &ev)
	return Failure{
		Handle: handle, Event: rec.RequestPayload, EventID: ev.ID,
		Attempts: rec.RequestContext.ApproximateInvokeCount,
		Error:    bounded(rec.ResponsePayload.ErrorMessage, maxFailureError),
	}, nil
}
