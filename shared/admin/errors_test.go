package admin

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"breachnotify/shared/identity"
	"breachnotify/shared/incident"
	"breachnotify/shared/lifecycle"
	"breachnotify/shared/strictjson"
)

// What the admin door answers and logs for each error its operations can
// return: one taxonomy, so the status and the class agree (a state that
// changed meanwhile is a conflict for both).
func TestErrorStatusAndClass(t *testing.T) {
	tests := []struct {
		err    error
		status int
		class  string
	}{
		{ErrBadRequest, http.StatusBadRequest, "invalid"},
		{incident.ErrInvalid, http.StatusBadRequest, "invalid"},
		{strictjson.ErrStrict, http.StatusBadRequest, "invalid"},
		{ErrForbidden, http.StatusForbidden, "forbidden"},
		{identity.ErrUnknown, http.StatusForbidden, "forbidden"},
		{lifecycle.ErrNotFound, http.StatusNotFound, "not-found"},
		{incident.ErrIllegalTransition, http.StatusConflict, "conflict"},
		{lifecycle.ErrStateChanged, http.StatusConflict, "conflict"},
		// Typed errors that stand for a sentinel carry its kind too.
		{&incident.TransitionError{From: incident.StateAwaitingApproval, Action: incident.ActApprove, Reason: "two-person rule"}, http.StatusConflict, "conflict"},
		{&incident.InvalidError{Problems: []string{"title is missing"}}, http.StatusBadRequest, "invalid"},
		{errors.New("DynamoDB is down"), http.StatusInternalServerError, "internal"},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			err := fmt.Errorf("approve INC-1: %w", tc.err)
			if got := statusOf(err); got != tc.status {
				t.Errorf("status %d, want %d", got, tc.status)
			}
			if got := errClass(err); got != tc.class {
				t.Errorf("class %q, want %q", got, tc.class)
			}
		})
	}
}
