package incident

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// admins is a guard where a second admin acts on an incident the first
// confirmed, so only the rule under test can refuse.
var admins = Guard{Actor: "bob@example.com", ConfirmedBy: "alice@example.com"}

func TestTransitionLegal(t *testing.T) {
	cases := []struct {
		from State
		act  Action
		want State
	}{
		{StateSuspected, ActConfirm, StateConfirmed},
		{StateConfirmed, ActRequestApproval, StateAwaitingApproval},
		{StateConfirmed, ActStartSending, StateSending},
		{StateAwaitingApproval, ActApprove, StateSending},
		{StateSending, ActComplete, StateCompleted},
		{StateSuspected, ActCancel, StateCancelled},
		{StateConfirmed, ActCancel, StateCancelled},
		{StateAwaitingApproval, ActCancel, StateCancelled},
		{StateSending, ActCancel, StateCancelled},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %s", tc.from, tc.act), func(t *testing.T) {
			got, err := Transition(tc.from, tc.act, admins)
			if err != nil {
				t.Fatalf("Transition: %v", err)
			}
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestTransitionSystemActionsNeedNoActor pins that the system's own moves
// are not blocked by the admin-only guard.
func TestTransitionSystemActionsNeedNoActor(t *testing.T) {
	cases := []struct {
		from State
		act  Action
	}{
		{StateConfirmed, ActRequestApproval},
		{StateConfirmed, ActStartSending},
		{StateSending, ActComplete},
	}
	for _, tc := range cases {
		t.Run(string(tc.act), func(t *testing.T) {
			if _, err := Transition(tc.from, tc.act, Guard{}); err != nil {
				t.Errorf("Transition: %v", err)
			}
		})
	}
}

func TestTransitionRefused(t *testing.T) {
	cases := []struct {
		name    string
		from    State
		act     Action
		guard   Guard
		wantMsg string
	}{
		{
			name:    "suspected cannot start sending",
			from:    StateSuspected,
			act:     ActStartSending,
			guard:   admins,
			wantMsg: "cannot start-sending a suspected incident: suspected allows only confirm or cancel",
		},
		{
			name:    "suspected cannot skip to approval",
			from:    StateSuspected,
			act:     ActApprove,
			guard:   admins,
			wantMsg: "cannot approve a suspected incident: suspected allows only confirm or cancel",
		},
		{
			name:    "confirmed cannot be approved without a request",
			from:    StateConfirmed,
			act:     ActApprove,
			guard:   admins,
			wantMsg: "cannot approve a confirmed incident: confirmed allows only request-approval or start-sending or cancel",
		},
		{
			name:    "awaiting approval cannot bypass the approver",
			from:    StateAwaitingApproval,
			act:     ActStartSending,
			guard:   admins,
			wantMsg: "cannot start-sending an awaiting_approval incident: awaiting_approval allows only approve or cancel",
		},
		{
			name:    "sending cannot be confirmed again",
			from:    StateSending,
			act:     ActConfirm,
			guard:   admins,
			wantMsg: "cannot confirm a sending incident: sending allows only complete or cancel",
		},
		{
			name:    "completed cannot be cancelled",
			from:    StateCompleted,
			act:     ActCancel,
			guard:   admins,
			wantMsg: "cannot cancel a completed incident: nothing leaves completed",
		},
		{
			name:    "cancelled cannot restart",
			from:    StateCancelled,
			act:     ActStartSending,
			guard:   admins,
			wantMsg: "cannot start-sending a cancelled incident: nothing leaves cancelled",
		},
		{
			name:    "unknown state",
			from:    "paused",
			act:     ActCancel,
			guard:   admins,
			wantMsg: `cannot cancel a paused incident: "paused" is not an incident state`,
		},
		{
			name:    "unknown action",
			from:    StateSending,
			act:     "resend",
			guard:   admins,
			wantMsg: "cannot resend a sending incident: sending allows only complete or cancel",
		},
		{
			name:    "confirm without actor",
			from:    StateSuspected,
			act:     ActConfirm,
			guard:   Guard{},
			wantMsg: "cannot confirm a suspected incident: the acting admin is not named",
		},
		{
			name:    "approve with blank actor",
			from:    StateAwaitingApproval,
			act:     ActApprove,
			guard:   Guard{Actor: "  ", ConfirmedBy: "alice@example.com"},
			wantMsg: "cannot approve an awaiting_approval incident: the acting admin is not named",
		},
		{
			name:    "cancel without actor",
			from:    StateSending,
			act:     ActCancel,
			guard:   Guard{ConfirmedBy: "alice@example.com"},
			wantMsg: "cannot cancel a sending incident: the acting admin is not named",
		},
		{
			name:    "two-person rule: confirmer approves",
			from:    StateAwaitingApproval,
			act:     ActApprove,
			guard:   Guard{Actor: "alice@example.com", ConfirmedBy: "alice@example.com"},
			wantMsg: "cannot approve an awaiting_approval incident: alice@example.com confirmed this incident; a second admin must approve (two-person rule)",
		},
		{
			name:    "two-person rule: confirmer approves with other case and spaces",
			from:    StateAwaitingApproval,
			act:     ActApprove,
			guard:   Guard{Actor: " Alice@Example.COM ", ConfirmedBy: "alice@example.com "},
			wantMsg: "cannot approve an awaiting_approval incident: alice@example.com confirmed this incident; a second admin must approve (two-person rule)",
		},
		{
			name:    "two-person rule: confirmer unknown",
			from:    StateAwaitingApproval,
			act:     ActApprove,
			guard:   Guard{Actor: "bob@example.com"},
			wantMsg: "cannot approve an awaiting_approval incident: no confirming admin is recorded, so the two-person rule cannot be checked",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Transition(tc.from, tc.act, tc.guard)
			if err == nil {
				t.Fatalf("Transition = %s, want refusal", got)
			}
			if got != tc.from {
				t.Errorf("refused Transition returned %s, want unchanged %s", got, tc.from)
			}
			if !errors.Is(err, ErrIllegalTransition) {
				t.Errorf("errors.Is(%v, ErrIllegalTransition) = false", err)
			}
			var te *TransitionError
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not *TransitionError", err)
			}
			if te.From != tc.from || te.Action != tc.act {
				t.Errorf("TransitionError{From: %s, Action: %s}, want {%s, %s}", te.From, te.Action, tc.from, tc.act)
			}
			if err.Error() != tc.wantMsg {
				t.Errorf("message\n got: %s\nwant: %s", err, tc.wantMsg)
			}
		})
	}
}

// TestTransitionRefusedWhenWrapped pins that callers adding context keep
// the classification.
func TestTransitionRefusedWhenWrapped(t *testing.T) {
	_, err := Transition(StateCompleted, ActCancel, admins)
	wrapped := fmt.Errorf("cancel INC-1: %w", err)
	if !errors.Is(wrapped, ErrIllegalTransition) {
		t.Errorf("errors.Is(%v, ErrIllegalTransition) = false", wrapped)
	}
	if errors.Is(wrapped, ErrInvalid) {
		t.Errorf("a refused transition must not look like an invalid event")
	}
}

func TestStateProperties(t *testing.T) {
	cases := []struct {
		state    State
		terminal bool
		sends    bool
		actions  []Action
	}{
		{StateSuspected, false, false, []Action{ActConfirm, ActCancel}},
		{StateConfirmed, false, false, []Action{ActRequestApproval, ActStartSending, ActCancel}},
		{StateAwaitingApproval, false, false, []Action{ActApprove, ActCancel}},
		{StateSending, false, true, []Action{ActComplete, ActCancel}},
		{StateCompleted, true, false, nil},
		{StateCancelled, true, false, nil},
		{"paused", false, false, nil},
	}
	for _, tc := range cases {
		t.Run(string(tc.state), func(t *testing.T) {
			if got := tc.state.Terminal(); got != tc.terminal {
				t.Errorf("Terminal() = %v, want %v", got, tc.terminal)
			}
			if got := tc.state.Sends(); got != tc.sends {
				t.Errorf("Sends() = %v, want %v", got, tc.sends)
			}
			if got := ActionsFrom(tc.state); !slices.Equal(got, tc.actions) {
				t.Errorf("ActionsFrom = %q, want %q", got, tc.actions)
			}
		})
	}
}

// TestActionsFromAgreesWithTransition pins that a view never offers an
// action Transition would refuse on the table alone, and never hides one it
// would accept.
func TestActionsFromAgreesWithTransition(t *testing.T) {
	for s := range transitions {
		for _, a := range actionOrder {
			_, err := Transition(s, a, admins)
			offered := slices.Contains(ActionsFrom(s), a)
			if offered != (err == nil) {
				t.Errorf("%s %s: offered %v, Transition error %v", s, a, offered, err)
			}
		}
	}
}

func TestNeedsApproval(t *testing.T) {
	cases := []struct {
		name      string
		automated bool
		audience  int
		limit     int
		want      bool
	}{
		{"automated below limit", true, DefaultAutoSendLimit - 1, DefaultAutoSendLimit, false},
		{"automated at limit", true, DefaultAutoSendLimit, DefaultAutoSendLimit, false},
		{"automated above limit", true, DefaultAutoSendLimit + 1, DefaultAutoSendLimit, true},
		{"automated millions", true, 5_000_000, DefaultAutoSendLimit, true},
		{"automated with zero limit", true, 1, 0, true},
		{"automated empty audience with zero limit", true, 0, 0, false},
		{"manual above limit", false, DefaultAutoSendLimit + 1, DefaultAutoSendLimit, false},
		{"manual millions", false, 5_000_000, DefaultAutoSendLimit, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := NeedsApproval(tc.automated, tc.audience, tc.limit); got != tc.want {
				t.Errorf("NeedsApproval(%v, %d, %d) = %v, want %v", tc.automated, tc.audience, tc.limit, got, tc.want)
			}
		})
	}
}
