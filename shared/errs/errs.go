// Package errs is breachnotify's one error taxonomy. An error a caller
// must decide on carries a Kind; KindOf reads it through any wrapping, and
// one mapping turns a kind into an HTTP status and a log class, so the
// admin door, the logs and the queue handlers cannot disagree about what
// an error means.
package errs

import (
	"errors"
	"net/http"
)

// Kind says what an error means for whoever receives it.
type Kind uint8

const (
	// Internal: unclassified, a bug or an outage; worth retrying.
	Internal Kind = iota
	// Invalid: the input cannot be carried out as written.
	Invalid
	// Forbidden: the caller may not do this.
	Forbidden
	// NotFound: what the input names does not exist.
	NotFound
	// Conflict: the state does not allow it now.
	Conflict
	// Retryable: it may succeed later (throttling, a 5xx, a timeout).
	Retryable
	// Permanent: it will never succeed for this target.
	Permanent
	// Paused: the provider stopped the whole channel until an operator
	// resumes it.
	Paused
)

var names = [...]string{"internal", "invalid", "forbidden", "not-found", "conflict", "retryable", "permanent", "paused"}

// String is the kind's log class.
func (k Kind) String() string {
	if int(k) < len(names) {
		return names[k]
	}
	return "internal"
}

// Error is an error of a kind; packages declare their sentinels with New.
type Error struct {
	kind Kind
	msg  string
}

// New returns a sentinel error of kind k.
func New(k Kind, msg string) *Error { return &Error{kind: k, msg: msg} }

func (e *Error) Error() string { return e.msg }

// Kind is the error's kind.
func (e *Error) Kind() Kind { return e.kind }

// KindOf is the kind of the first error in err's chain that has one
// (anything with a Kind() Kind method); Internal if none does.
func KindOf(err error) Kind {
	var k interface{ Kind() Kind }
	if errors.As(err, &k) {
		return k.Kind()
	}
	return Internal
}

// HTTPStatus is the status an error is answered with through an HTTP door.
func HTTPStatus(err error) int {
	switch KindOf(err) {
	case Invalid:
		return http.StatusBadRequest
	case Forbidden:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case Conflict:
		return http.StatusConflict
	case Retryable, Paused:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Class is the error's log class: its kind's name.
func Class(err error) string { return KindOf(err).String() }
