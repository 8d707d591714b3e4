package incident

import (
	"breachnotify/shared/errs"
	"fmt"
	"strings"
)

// State is where an incident stands in its life. It is separate from Status,
// which only says how sure the reporter was: the state adds the gates a send
// must pass, so a suspicion or an unapproved automated trigger cannot reach
// users.
type State string

const (
	StateSuspected        State = "suspected"
	StateConfirmed        State = "confirmed" // audience being planned
	StateAwaitingApproval State = "awaiting_approval"
	StateSending          State = "sending"
	StateCompleted        State = "completed"
	StateCancelled        State = "cancelled"
)

// Action moves an incident from one state to another. Confirm, approve and
// cancel are taken by an admin; the others are taken by the system.
type Action string

const (
	ActConfirm Action = "confirm"
	// ActRequestApproval is taken when planning froze an audience from an
	// automated trigger that is larger than the auto-send limit.
	ActRequestApproval Action = "request-approval"
	ActApprove         Action = "approve"
	// ActStartSending is taken once the audience is frozen and either within
	// the limit or approved.
	ActStartSending Action = "start-sending"
	// ActComplete is taken once every delivery is terminal.
	ActComplete Action = "complete"
	ActCancel   Action = "cancel"
)

// DefaultAutoSendLimit is the largest audience an automated trigger may
// reach without a second admin's approval.
const DefaultAutoSendLimit = 1000

// transitions lists every legal move; anything absent is refused, so a new
// state or action sends nothing until someone adds it here.
var transitions = map[State]map[Action]State{
	StateSuspected: {
		ActConfirm: StateConfirmed,
		ActCancel:  StateCancelled,
	},
	StateConfirmed: {
		ActRequestApproval: StateAwaitingApproval,
		ActStartSending:    StateSending,
		ActCancel:          StateCancelled,
	},
	StateAwaitingApproval: {
		ActApprove: StateSending,
		ActCancel:  StateCancelled,
	},
	StateSending: {
		ActComplete: StateCompleted,
		ActCancel:   StateCancelled,
	},
	StateCompleted: {},
	StateCancelled: {},
}

// actionOrder fixes the order ActionsFrom returns, which map iteration would
// not, so a status view does not reshuffle its buttons.
var actionOrder = []Action{ActConfirm, ActRequestApproval, ActApprove, ActStartSending, ActComplete, ActCancel}

// Terminal reports whether nothing can leave s.
func (s State) Terminal() bool { return s == StateCompleted || s == StateCancelled }

// Sends reports whether workers may deliver notices in state s; in every
// other state they must hold back.
func (s State) Sends() bool { return s == StateSending }

// Active reports whether an incident in state s is on its way: confirmed,
// and not yet completed or cancelled. These are the incidents the deadline
// watch follows.
func (s State) Active() bool {
	return s == StateConfirmed || s == StateAwaitingApproval || s == StateSending
}

// ActionsFrom lists the actions legal from s, for a view to offer. Guards
// are not applied: approve is listed even to the admin who confirmed.
func ActionsFrom(s State) []Action {
	var out []Action
	for _, a := range actionOrder {
		if _, ok := transitions[s][a]; ok {
			out = append(out, a)
		}
	}
	return out
}

// Guard carries who is acting and who confirmed, which the admin actions
// need to be checked.
type Guard struct {
	Actor       string
	ConfirmedBy string
}

// ErrIllegalTransition marks a refused action. Retrying the same action
// from the same state is refused again, so callers report it rather than
// retry.
var ErrIllegalTransition = errs.New(errs.Conflict, "illegal incident transition")

// TransitionError says which action was refused, from which state, and why,
// in words an admin can act on.
type TransitionError struct {
	From   State
	Action Action
	Reason string
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("cannot %s %s %s incident: %s", e.Action, article(e.From), e.From, e.Reason)
}

func (e *TransitionError) Is(target error) bool { return target == ErrIllegalTransition }

// Kind is ErrIllegalTransition's, so errs.KindOf reads it as it reads the sentinel.
func (e *TransitionError) Kind() errs.Kind { return ErrIllegalTransition.Kind() }

// article keeps messages about awaiting_approval incidents grammatical.
func article(s State) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an"
	}
	return "a"
}

// Transition returns the state action a leads to from state from. When the
// action is refused it returns from unchanged and a *TransitionError saying
// why.
func Transition(from State, a Action, g Guard) (State, error) {
	refuse := func(format string, args ...any) (State, error) {
		return from, &TransitionError{From: from, Action: a, Reason: fmt.Sprintf(format, args...)}
	}
	moves, known := transitions[from]
	switch {
	case !known:
		return refuse("%q is not an incident state", from)
	case from.Terminal():
		return refuse("nothing leaves %s", from)
	}
	to, ok := moves[a]
	if !ok {
		return refuse("%s allows only %s", from, joinActions(ActionsFrom(from)))
	}
	switch a {
	case ActConfirm, ActApprove, ActCancel:
		// An admin action with no admin named would leave no one accountable
		// for it in the audit trail.
		if strings.TrimSpace(g.Actor) == "" {
			return refuse("the acting admin is not named")
		}
	}
	if a == ActApprove {
		confirmer := strings.TrimSpace(g.ConfirmedBy)
		if confirmer == "" {
			// Fail closed: without the confirmer the two-person rule cannot
			// be checked, and approving would let one admin do both.
			return refuse("no confirming admin is recorded, so the two-person rule cannot be checked")
		}
		if strings.EqualFold(strings.TrimSpace(g.Actor), confirmer) {
			return refuse("%s confirmed this incident; a second admin must approve (two-person rule)", confirmer)
		}
	}
	return to, nil
}

func joinActions(as []Action) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = string(a)
	}
	return strings.Join(s, " or ")
}

// NeedsApproval reports whether a send must wait for a second admin. Only an
// automated trigger whose frozen audience exceeds limit does: a manual send
// has an admin accountable for it already, and a small automated one does
// limited harm if the trigger was wrong.
func NeedsApproval(automated bool, audience, limit int) bool {
	return automated && audience > limit
}
