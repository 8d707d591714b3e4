package errs

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// One table: each kind's HTTP status and log class, read through wrapping.
func TestMapping(t *testing.T) {
	tests := []struct {
		kind   Kind
		status int
		class  string
	}{
		{Internal, http.StatusInternalServerError, "internal"},
		{Invalid, http.StatusBadRequest, "invalid"},
		{Forbidden, http.StatusForbidden, "forbidden"},
		{NotFound, http.StatusNotFound, "not-found"},
		{Conflict, http.StatusConflict, "conflict"},
		{Retryable, http.StatusServiceUnavailable, "retryable"},
		{Permanent, http.StatusInternalServerError, "permanent"},
		{Paused, http.StatusServiceUnavailable, "paused"},
	}
	for _, tc := range tests {
		t.Run(tc.class, func(t *testing.T) {
			sentinel := New(tc.kind, "sentinel")
			err := fmt.Errorf("op on INC-1: %w", fmt.Errorf("step: %w", sentinel))
			if !errors.Is(err, sentinel) {
				t.Fatal("the sentinel is lost in the wrapping")
			}
			if KindOf(err) != tc.kind || HTTPStatus(err) != tc.status || Class(err) != tc.class {
				t.Errorf("kind %v status %d class %q, want %v %d %q", KindOf(err), HTTPStatus(err), Class(err), tc.kind, tc.status, tc.class)
			}
		})
	}
}

func TestUnclassifiedIsInternal(t *testing.T) {
	if k := KindOf(errors.New("disk on fire")); k != Internal {
		t.Errorf("kind %v", k)
	}
	if k := KindOf(nil); k != Internal {
		t.Errorf("nil: kind %v", k)
	}
}

// The first classified error in the chain wins: a bad request that quotes
// a conflict is still a bad request.
func TestFirstKindWins(t *testing.T) {
	err := fmt.Errorf("%w: %w", New(Invalid, "bad request"), New(Conflict, "state changed"))
	if k := KindOf(err); k != Invalid {
		t.Errorf("kind %v, want invalid", k)
	}
}
