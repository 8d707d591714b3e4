// Package lifecycle moves an incident through its states (incident.State)
// once it is confirmed: when planning has frozen the audience, sending
// starts, or waits for a second admin's approval when an automated trigger
// would reach more than the auto-send limit; an admin may approve, confirm
// a suspected incident, or cancel. Every decision is written to the audit
// trail before it takes effect, so the trail never misses one.
//
// Batches planned before sending may start are held beside the incident
// (the worker holds them) and queued again when sending starts or the
// incident is cancelled, when they drain without sending.
package lifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"time"

	"breachnotify/shared/audit"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/errs"
	"breachnotify/shared/incident"
	"breachnotify/shared/intake"
)

// Store reads incidents and changes their state.
type Store interface {
	Get(ctx context.Context, id string) (incident.Record, bool, error)
	// Transition sets the incident's state to to, with the fields of c, on
	// condition that its state is still from; else ErrStateChanged.
	Transition(ctx context.Context, id string, from, to incident.State, c Change) error
}

// Change is what a transition records besides the state.
type Change struct {
	At    time.Time
	Actor string
	// Reason is a cancellation's.
	Reason string
}

// By is who takes an admin decision. Actor is the person: the two-person
// rule compares it, and the audit entry names it. Detail says how the
// person was identified (the door, the authenticated principal) and joins
// the decision's audit entry.
type By struct {
	Actor  string
	Detail map[string]string
}

// detail is the audit detail of a decision by b: the decision's own keys
// over b's.
func (b By) detail(own map[string]string) map[string]string {
	d := maps.Clone(b.Detail)
	if d == nil {
		d = map[string]string{}
	}
	maps.Copy(d, own)
	return d
}

// ErrStateChanged: the incident left the expected state meanwhile.
var ErrStateChanged = errs.New(errs.Conflict, "incident state changed meanwhile")

// Held is where batches wait while their incident may not send.
type Held interface {
	Held(ctx context.Context, incidentID string) ([]dispatch.Parked, error)
	Unhold(ctx context.Context, incidentID, heldID string) error
}

// Progress keeps the recipients planned per notice (ledger.Progress).
type Progress interface {
	Plan(ctx context.Context, incidentID string, planned map[string]int, add bool) error
}

// Auditor appends to an incident's audit trail.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) error
}

// Planner queues planning (intake.Handler): Plan for a confirmed
// incident, QueueSending for one counted first that may now send.
type Planner interface {
	Plan(ctx context.Context, rec incident.Record) (intake.Result, error)
	QueueSending(ctx context.Context, rec incident.Record) (int, error)
}

// Lifecycle carries out state changes.
type Lifecycle struct {
	Store    Store
	Held     Held
	Queue    dispatch.Queue
	Audit    Auditor
	Planner  Planner
	Progress Progress
	// AutoSendLimit is the largest audience an automated trigger may send
	// to without approval.
	AutoSendLimit int
	Now           func() time.Time
	Log           *slog.Logger
}

// System is the actor of decisions the system makes by rule.
const System = "system:lifecycle"

// Frozen decides what happens once an incident's audience is frozen. The
// planner calls it after freezing; the deadline watch calls it for any
// incident left confirmed with a frozen audience (a planner that stopped in
// between), so it is idempotent.
func (l *Lifecycle) Frozen(ctx context.Context, id string) error {
	rec, err := l.get(ctx, id)
	if err != nil {
		return err
	}
	if rec.Audience == nil {
		return fmt.Errorf("incident %s: audience not frozen yet", id)
	}
	a := *rec.Audience
	planned := map[string]int{}
	for _, n := range a.Notices {
		planned[n.NoticeID] = n.Members
	}
	frozen := map[string]string{"count": strconv.Itoa(a.Members), "hash": a.Hash, "autoSendLimit": strconv.Itoa(l.AutoSendLimit)}
	now := l.Now()
	switch rec.State {
	case incident.StateConfirmed:
	case incident.StateSending:
		// Planned for sending from the start (it could not need approval):
		// record what was frozen; release what a race may have held.
		if err := l.Progress.Plan(ctx, id, planned, false); err != nil {
			return err
		}
		frozen["decision"] = "send"
		if err := l.audit(ctx, id, now, System, audit.AudienceFrozen, frozen); err != nil {
			return err
		}
		_, err := l.release(ctx, id)
		return err
	case incident.StateCancelled:
		_, err := l.release(ctx, id)
		return err
	default:
		return nil
	}
	wait := incident.NeedsApproval(rec.Automated, a.Members, l.AutoSendLimit)
	frozen["decision"] = "send"
	if wait {
		frozen["decision"] = "await-approval"
	}
	if err := l.Progress.Plan(ctx, id, planned, false); err != nil {
		return err
	}
	if err := l.audit(ctx, id, now, System, audit.AudienceFrozen, frozen); err != nil {
		return err
	}
	if wait {
		if err := l.audit(ctx, id, now, System, audit.ApprovalRequested, map[string]string{
			"count": strconv.Itoa(a.Members), "confirmedBy": rec.ConfirmedBy,
		}); err != nil {
			return err
		}
		return l.move(ctx, rec, incident.ActRequestApproval, Change{At: now})
	}
	if err := l.move(ctx, rec, incident.ActStartSending, Change{At: now}); err != nil {
		return err
	}
	_, err = l.send(ctx, rec)
	return err
}

// send queues the sending tasks of an incident that was counted first,
// and any batch held by a race.
func (l *Lifecycle) send(ctx context.Context, rec incident.Record) (int, error) {
	n, err := l.Planner.QueueSending(ctx, rec)
	if err != nil {
		return 0, fmt.Errorf("queue sending of %s: %w", rec.ID, err)
	}
	held, err := l.release(ctx, rec.ID)
	return n + held, err
}

// Approve lets an incident waiting for approval send, and returns how many
// planning tasks (and held batches) it queued. The approver must not be
// the one who confirmed it.
func (l *Lifecycle) Approve(ctx context.Context, id string, by By) (int, error) {
	actor := by.Actor
	rec, err := l.get(ctx, id)
	if err != nil {
		return 0, err
	}
	if _, err := incident.Transition(rec.State, incident.ActApprove, incident.Guard{Actor: actor, ConfirmedBy: rec.ConfirmedBy}); err != nil {
		return 0, err
	}
	now := l.Now()
	members := 0
	if rec.Audience != nil {
		members = rec.Audience.Members
	}
	if err := l.audit(ctx, id, now, actor, audit.Approved, by.detail(map[string]string{"count": strconv.Itoa(members), "confirmedBy": rec.ConfirmedBy})); err != nil {
		return 0, err
	}
	if err := l.move(ctx, rec, incident.ActApprove, Change{At: now, Actor: actor}); err != nil {
		return 0, err
	}
	return l.send(ctx, rec)
}

// Confirm confirms a suspected incident and queues its planning. The
// incident keeps its origin: one from a detector still needs approval for
// a large audience, and its confirmer cannot give it.
func (l *Lifecycle) Confirm(ctx context.Context, id string, by By, knownTemplate func(string) bool) (incident.Record, error) {
	actor := by.Actor
	rec, err := l.get(ctx, id)
	if err != nil {
		return rec, err
	}
	if _, err := incident.Transition(rec.State, incident.ActConfirm, incident.Guard{Actor: actor}); err != nil {
		return rec, err
	}
	now := l.Now()
	confirmed := rec
	confirmed.Status, confirmed.State, confirmed.ConfirmedAt, confirmed.ConfirmedBy = incident.Confirmed, incident.StateConfirmed, now, actor
	// What is confirmed must be sendable: the same rules as a confirmed event.
	if err := confirmed.Validate(knownTemplate); err != nil {
		return rec, fmt.Errorf("cannot confirm %s as recorded: %w", id, err)
	}
	if err := l.audit(ctx, id, now, actor, audit.Confirmed, by.detail(map[string]string{"via": "admin"})); err != nil {
		return rec, err
	}
	if err := l.move(ctx, rec, incident.ActConfirm, Change{At: now, Actor: actor}); err != nil {
		return rec, err
	}
	if _, err := l.Planner.Plan(ctx, confirmed); err != nil {
		return confirmed, err
	}
	return confirmed, nil
}

// Cancel stops an incident for good: workers send nothing more for it, and
// what is queued or held drains, recorded as cancelled in the ledger.
func (l *Lifecycle) Cancel(ctx context.Context, id string, by By, reason string) (int, error) {
	actor := by.Actor
	rec, err := l.get(ctx, id)
	if err != nil {
		return 0, err
	}
	if _, err := incident.Transition(rec.State, incident.ActCancel, incident.Guard{Actor: actor}); err != nil {
		return 0, err
	}
	now := l.Now()
	if err := l.audit(ctx, id, now, actor, audit.Cancelled, by.detail(map[string]string{"from": string(rec.State)})); err != nil {
		return 0, err
	}
	if err := l.move(ctx, rec, incident.ActCancel, Change{At: now, Actor: actor, Reason: reason}); err != nil {
		return 0, err
	}
	return l.release(ctx, id)
}

// Complete marks a sending incident completed once nothing is pending.
func (l *Lifecycle) Complete(ctx context.Context, rec incident.Record, detail map[string]string) error {
	now := l.Now()
	if err := l.audit(ctx, rec.ID, now, System, audit.SendingCompleted, detail); err != nil {
		return err
	}
	return l.move(ctx, rec, incident.ActComplete, Change{At: now})
}

func (l *Lifecycle) get(ctx context.Context, id string) (incident.Record, error) {
	rec, found, err := l.Store.Get(ctx, id)
	if err != nil {
		return rec, fmt.Errorf("read incident %s: %w", id, err)
	}
	if !found {
		return rec, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	return rec, nil
}

// ErrNotFound: no such incident.
var ErrNotFound = errs.New(errs.NotFound, "no such incident")

// move applies action a to rec's state in the store.
func (l *Lifecycle) move(ctx context.Context, rec incident.Record, a incident.Action, c Change) error {
	to, err := incident.Transition(rec.State, a, incident.Guard{Actor: c.Actor, ConfirmedBy: rec.ConfirmedBy})
	if err != nil {
		return err
	}
	if err := l.Store.Transition(ctx, rec.ID, rec.State, to, c); err != nil {
		return fmt.Errorf("%s %s: %w", a, rec.ID, err)
	}
	l.Log.InfoContext(ctx, "incident state changed", "incidentId", rec.ID, "from", string(rec.State), "to", string(to), "action", string(a))
	return nil
}

// release queues the incident's held batches again; a batch leaves the
// hold only once queued, so a failed release loses nothing.
func (l *Lifecycle) release(ctx context.Context, id string) (int, error) {
	held, err := l.Held.Held(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("release %s: %w", id, err)
	}
	for i, h := range held {
		if err := dispatch.Requeue(ctx, l.Queue, h.Batch); err != nil {
			return i, fmt.Errorf("release %s: %w", id, err)
		}
		if err := l.Held.Unhold(ctx, id, h.ID); err != nil {
			return i, fmt.Errorf("release %s: %w", id, err)
		}
	}
	return len(held), nil
}

func (l *Lifecycle) audit(ctx context.Context, id string, at time.Time, actor string, k audit.Kind, detail map[string]string) error {
	if err := l.Audit.Append(ctx, audit.Entry{IncidentID: id, At: at, Actor: actor, Kind: k, Detail: detail}); err != nil {
		return fmt.Errorf("audit %s of %s: %w", k, id, err)
	}
	return nil
}

// Attributes are the incident record's fields (by their JSON names) that a
// move from one state to another sets, besides the state.
func (c Change) Attributes(from, to incident.State) map[string]any {
	at := c.At.UTC()
	switch to {
	case incident.StateConfirmed:
		return map[string]any{"status": incident.Confirmed, "confirmedBy": c.Actor, "confirmedAt": at}
	case incident.StateSending:
		if from == incident.StateAwaitingApproval {
			return map[string]any{"approvedBy": c.Actor, "approvedAt": at, "sendingAt": at}
		}
		return map[string]any{"sendingAt": at}
	case incident.StateCancelled:
		m := map[string]any{"cancelledBy": c.Actor, "cancelledAt": at}
		if c.Reason != "" {
			m["cancelReason"] = c.Reason
		}
		return m
	case incident.StateCompleted:
		return map[string]any{"completedAt": at}
	}
	return nil
}
