package dispatch

import (
	"errors"

	"breachnotify/shared/errs"
)

// ErrMalformed marks a queue message that can never be processed; it goes to
// the dead-letter queue rather than being dropped.
var ErrMalformed = errs.New(errs.Permanent, "malformed batch")

// Class says what a failed send means for the delivery: one of the
// taxonomy's kinds Retryable, Permanent and Paused.
type Class = errs.Kind

const (
	// Retryable: try again later (throttling, 5xx, timeouts, anything unknown).
	Retryable = errs.Retryable
	// Permanent: this recipient or device cannot be reached by this channel;
	// record the failure and never retry it.
	Permanent = errs.Permanent
	// Paused: the provider refuses every message on this channel for the
	// whole account (sending paused, account suspended). Retrying each
	// message would only storm it: the incident's channel is paused and its
	// batches are parked until an operator resumes it.
	Paused = errs.Paused
)

// SendError is how the email and push adapters report a failed send. Reason
// is a short stable code recorded in the ledger (e.g. "MessageRejected").
type SendError struct {
	Class  Class
	Reason string
	// Throttled: the provider refused the call for its rate (SES 429
	// TooManyRequests, SNS Throttled). Counted apart, because throttling
	// says the fleet's pacing is off, where a 5xx says nothing about it.
	Throttled bool
	Err       error
}

// Error prints the reason code only: providers' messages can quote the
// recipient's address, and errors end up in logs.
func (e *SendError) Error() string { return "send failed: " + e.Reason }
func (e *SendError) Unwrap() error { return e.Err }

// Kind is the send's class, so errs.KindOf reads it like any other kind.
func (e *SendError) Kind() errs.Kind { return e.Class }

// classify reads the class of a send error; an unclassified error is
// retryable, because dropping a notice is worse than delaying it.
func classify(err error) (Class, string) {
	var se *SendError
	if errors.As(err, &se) {
		return se.Class, se.Reason
	}
	return Retryable, "unclassified"
}

// throttled reports whether a send was refused for the provider's rate.
func throttled(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Throttled
}
