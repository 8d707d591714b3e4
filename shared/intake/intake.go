// Package intake turns an incident event into a recorded incident and, only
// when it is confirmed, into recipient batches on the queue.
package intake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"breachnotify/shared/audit"
	"breachnotify/shared/incident"
	"breachnotify/shared/plan"
	"breachnotify/shared/strictjson"
)

// Detail types the rule forwards.
const (
	DetailConfirmed = "Incident Confirmed"
	DetailSuspected = "Incident Suspected"
)

// Outcome is what intake did with an event.
type Outcome string

const (
	// Planned: the confirmed incident's planning tasks were queued; the
	// planner resolves the audience shard by shard and queues the batches.
	Planned Outcome = "planned"
	// Recorded: the incident was recorded and nothing is sent (suspected).
	Recorded Outcome = "recorded"
	// Duplicate: the incident was already planned; nothing new is queued.
	Duplicate Outcome = "duplicate"
	// Rejected: the event is invalid; it is recorded with the reason.
	Rejected Outcome = "rejected"
)

// Receipt records one event received, whatever became of it.
type Receipt struct {
	IncidentID string    `json:"incidentId,omitempty"`
	EventID    string    `json:"eventId"`
	DetailType string    `json:"detailType"`
	Source     string    `json:"source"`
	ReceivedAt time.Time `json:"receivedAt"`
	Outcome    Outcome   `json:"outcome"`
	Reason     string    `json:"reason,omitempty"`
	// Raw is kept for rejected events only, so the sender can see what was
	// wrong: the first incident.MaxExcerptBytes of it, with the size and
	// SHA-256 of the whole, so that a rejection always fits its item.
	Raw       string `json:"raw,omitempty"`
	RawBytes  int    `json:"rawBytes,omitempty"`
	RawSHA256 string `json:"rawSha256,omitempty"`
}

// Result is the intake function's response.
type Result struct {
	IncidentID string  `json:"incidentId,omitempty"`
	Outcome    Outcome `json:"outcome"`
	Reason     string  `json:"reason,omitempty"`
	// Tasks is how many planning tasks were queued.
	Tasks int `json:"tasks,omitempty"`
}

// Incidents stores incidents and event receipts.
type Incidents interface {
	Get(ctx context.Context, id string) (incident.Record, bool, error)
	Put(ctx context.Context, r incident.Record) error
	// MarkQueued records that all planning tasks are queued, without
	// touching what the planner may already have written.
	MarkQueued(ctx context.Context, id string, at time.Time) error
	AddReceipt(ctx context.Context, r Receipt) error
}

// Auditor appends to an incident's audit trail.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) error
}

// Queue takes planning task messages.
type Queue interface {
	Send(ctx context.Context, bodies [][]byte) error
}

// Handler is the intake function.
type Handler struct {
	Incidents Incidents
	// Tasks is the planning queue.
	Tasks         Queue
	Audit         Auditor
	KnownTemplate func(string) bool
	// AutoSendLimit is the largest audience an automated trigger may
	// notify without approval (package lifecycle).
	AutoSendLimit int
	Log           *slog.Logger
	Now           func() time.Time
}

// Invoke is the Lambda entry point. It takes the payload as Lambda
// received it (the typed entry point decodes only the first JSON value and
// drops what follows), so that trailing data is seen and rejected.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	res, err := h.Handle(ctx, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

// Handle processes one event. Invalid events are answered with Rejected and
// a nil error: retrying cannot fix them. Errors are returned only for
// failures worth retrying (storage, queue).
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (Result, error) {
	now := h.Now()
	ev, in, err := h.parse(raw, now)
	if err != nil {
		sum := sha256.Sum256(raw)
		rc := Receipt{IncidentID: in.ID, EventID: eventKey(ev.ID), DetailType: bounded(ev.DetailType, incident.MaxSourceBytes),
			Source: bounded(ev.Source, incident.MaxSourceBytes), ReceivedAt: now, Outcome: Rejected,
			Reason: bounded(err.Error(), incident.MaxReasonBytes), Raw: bounded(string(raw), incident.MaxExcerptBytes),
			RawBytes: len(raw), RawSHA256: hex.EncodeToString(sum[:])}
		if !incident.ValidID(rc.IncidentID) {
			rc.IncidentID = ""
		}
		h.Log.WarnContext(ctx, "event rejected", "eventId", rc.EventID, "incidentId", rc.IncidentID, "reason", rc.Reason, "rawSha256", rc.RawSHA256)
		if err := h.Incidents.AddReceipt(ctx, rc); err != nil {
			return Result{}, fmt.Errorf("record rejected event %s: %w", rc.EventID, err)
		}
		if rc.IncidentID != "" {
			// The reason stays in the receipt: it may quote the event.
			if err := h.audit(ctx, rc.IncidentID, now, "source:"+rc.Source, audit.EventRejected, map[string]string{"eventId": rc.EventID}); err != nil {
				return Result{}, err
			}
		}
		return Result{IncidentID: rc.IncidentID, Outcome: Rejected, Reason: rc.Reason}, nil
	}
	rec := incident.Record{Incident: in, State: incident.StateSuspected, EventID: ev.ID, Source: ev.Source, ReceivedAt: now, Automated: true}
	reason := ""
	switch {
	case ev.DetailType == DetailConfirmed && in.Status == incident.Confirmed:
		rec.State = incident.StateConfirmed
	case ev.DetailType == DetailConfirmed:
		reason = fmt.Sprintf("detail-type says confirmed but detail.status is %q: not confirmed", in.Status)
	case in.Status == incident.Confirmed:
		reason = fmt.Sprintf("detail.status is confirmed but detail-type is %q: not confirmed", ev.DetailType)
	}
	res, confirmedNow, err := h.apply(ctx, rec)
	if err != nil {
		return Result{}, err
	}
	if res.Reason == "" {
		res.Reason = reason
	}
	rc := Receipt{IncidentID: in.ID, EventID: ev.ID, DetailType: ev.DetailType, Source: ev.Source,
		ReceivedAt: now, Outcome: res.Outcome, Reason: res.Reason}
	if err := h.Incidents.AddReceipt(ctx, rc); err != nil {
		return Result{}, fmt.Errorf("record event %s of %s: %w", ev.ID, in.ID, err)
	}
	if err := h.audit(ctx, in.ID, now, "source:"+ev.Source, audit.EventReceived,
		map[string]string{"eventId": ev.ID, "detailType": ev.DetailType, "outcome": string(res.Outcome)}); err != nil {
		return Result{}, err
	}
	if confirmedNow {
		if err := h.audit(ctx, in.ID, in.ConfirmedAt, in.ConfirmedBy, audit.Confirmed, map[string]string{"eventId": ev.ID, "via": "event"}); err != nil {
			return Result{}, err
		}
	}
	h.Log.InfoContext(ctx, "event processed", "eventId", ev.ID, "incidentId", in.ID, "outcome", res.Outcome, "reason", res.Reason)
	return res, nil
}

func (h *Handler) parse(raw json.RawMessage, now time.Time) (events.EventBridgeEvent, incident.Incident, error) {
	var ev events.EventBridgeEvent
	var in incident.Incident
	if len(raw) > incident.MaxEventBytes {
		return ev, in, fmt.Errorf("event is %d bytes, more than %d", len(raw), incident.MaxEventBytes)
	}
	// The envelope is EventBridge's, which may gain fields (a replayed
	// event has "replay-name"); the detail is ours, and strict.
	if err := strictjson.DecodeOpen(raw, &ev); err != nil {
		return ev, in, fmt.Errorf("not an EventBridge event: %w", err)
	}
	if ev.ID != eventKey(ev.ID) {
		return ev, in, fmt.Errorf("id %s is not an event id (at most %d bytes, no control characters)", incident.Quote(ev.ID), incident.MaxEventIDBytes)
	}
	if ev.DetailType != DetailConfirmed && ev.DetailType != DetailSuspected {
		return ev, in, fmt.Errorf("detail-type %s must be %q or %q", incident.Quote(ev.DetailType), DetailConfirmed, DetailSuspected)
	}
	if len(ev.Source) > incident.MaxSourceBytes || incident.TextProblem(ev.Source, incident.MaxSourceBytes, false) != "" {
		return ev, in, fmt.Errorf("source %s is not a source name", incident.Quote(ev.Source))
	}
	if len(bytes.TrimSpace(ev.Detail)) == 0 || bytes.Equal(bytes.TrimSpace(ev.Detail), []byte("null")) {
		return ev, in, errors.New("detail is missing")
	}
	if len(ev.Detail) > incident.MaxDetailBytes {
		return ev, in, fmt.Errorf("detail is %d bytes, more than %d", len(ev.Detail), incident.MaxDetailBytes)
	}
	if err := strictjson.Decode(ev.Detail, &in); err != nil {
		// Keep the id if it decoded, so the rejection is filed under it.
		return ev, in, fmt.Errorf("detail: %w", err)
	}
	if err := in.ValidateAt(h.KnownTemplate, now); err != nil {
		return ev, in, err
	}
	return ev, in, nil
}

// eventKey is the event id as a receipt's key may hold it: the id itself
// when it is short and printable, else a hash of it, so that a receipt is
// recorded whatever the id.
func eventKey(id string) string {
	if len(id) <= incident.MaxEventIDBytes && incident.TextProblem(id, incident.MaxEventIDBytes, false) == "" {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256-" + hex.EncodeToString(sum[:16])
}

// bounded cuts s to at most n bytes on a rune boundary, marking the cut.
func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "") + mark
}

// apply stores the incident and, when it is confirmed and not yet planned,
// plans it; confirmedNow says this event confirmed it.
func (h *Handler) apply(ctx context.Context, rec incident.Record) (res Result, confirmedNow bool, err error) {
	id := rec.ID
	old, found, err := h.Incidents.Get(ctx, id)
	if err != nil {
		return Result{}, false, fmt.Errorf("read incident %s: %w", id, err)
	}
	switch {
	case found && !old.PlanQueuedAt.IsZero():
		return Result{IncidentID: id, Outcome: Duplicate, Reason: "planning queued at " + old.PlanQueuedAt.Format(time.RFC3339), Tasks: old.Tasks}, false, nil
	case found && old.State == incident.StateCancelled:
		return Result{IncidentID: id, Outcome: Recorded, Reason: "incident was cancelled by " + old.CancelledBy + "; events change nothing"}, false, nil
	}
	if rec.State != incident.StateConfirmed {
		if found && old.State != incident.StateSuspected {
			return Result{IncidentID: id, Outcome: Recorded, Reason: fmt.Sprintf("incident is already %s; a suspected event changes nothing", old.State)}, false, nil
		}
		if err := h.Incidents.Put(ctx, rec); err != nil {
			return Result{}, false, fmt.Errorf("record suspected incident %s: %w", id, err)
		}
		return Result{IncidentID: id, Outcome: Recorded}, false, nil
	}
	confirmedNow = !found || old.State == incident.StateSuspected
	if found && !confirmedNow {
		// An event never moves an incident backwards, and never rewrites
		// one another door (an admin's send) created: only an incident
		// this door confirmed and did not finish queueing is taken up
		// again. Queued before, but not marked: the planner may already
		// be at work, and rewriting the record would reset its progress,
		// so the recorded incident's tasks are queued again; finished
		// ones are no-ops.
		if !old.Automated || (old.State != incident.StateConfirmed && old.State != incident.StateSending) || old.Tasks == 0 {
			return Result{IncidentID: id, Outcome: Duplicate, Reason: fmt.Sprintf("incident is already %s (%s); a confirmed event changes nothing", old.State, origin(old))}, false, nil
		}
		rec = old
	}
	res, err = h.Plan(ctx, rec)
	return res, confirmedNow && err == nil, err
}

// origin says which door created an incident.
func origin(r incident.Record) string {
	if r.Automated {
		return "from an event"
	}
	return "created by an admin"
}

// Plan queues the planning of a confirmed incident. One that may need an
// admin's approval (automated, with a cohort or more explicit users than
// the auto-send limit) is counted first and queues nothing until it may
// send; any other starts sending at once. It is recorded before queueing,
// and marked queued only after, so a crash in between leaves an incident
// that a redelivered event queues again; the planner's checkpoints make a
// repeated task a no-op.
func (h *Handler) Plan(ctx context.Context, rec incident.Record) (Result, error) {
	id := rec.ID
	count := rec.State == incident.StateConfirmed && rec.Automated && mayExceed(rec.Incident, h.AutoSendLimit)
	tasks := plan.Tasks(rec.Incident, count)
	if rec.Tasks == 0 {
		rec.Tasks = len(tasks)
		if !count && rec.State == incident.StateConfirmed {
			rec.State, rec.SendingAt = incident.StateSending, h.Now()
		}
		if err := h.Incidents.Put(ctx, rec); err != nil {
			return Result{}, fmt.Errorf("record confirmed incident %s: %w", id, err)
		}
	}
	if err := h.queue(ctx, id, tasks); err != nil {
		return Result{}, err
	}
	if err := h.Incidents.MarkQueued(ctx, id, h.Now()); err != nil {
		return Result{}, fmt.Errorf("mark planning of %s queued: %w", id, err)
	}
	h.Log.InfoContext(ctx, "planning queued", "incidentId", id, "notices", len(rec.Notices), "tasks", len(tasks), "countFirst", count)
	return Result{IncidentID: id, Outcome: Planned, Tasks: len(tasks)}, nil
}

// QueueSending queues the sending tasks of an incident that was counted
// first, once it may send.
func (h *Handler) QueueSending(ctx context.Context, rec incident.Record) (int, error) {
	tasks := plan.Tasks(rec.Incident, false)
	return len(tasks), h.queue(ctx, rec.ID, tasks)
}

func (h *Handler) queue(ctx context.Context, id string, tasks []plan.Task) error {
	bodies := make([][]byte, len(tasks))
	for i, t := range tasks {
		b, err := t.Encode()
		if err != nil {
			return fmt.Errorf("encode task %s of %s: %w", t.ID(), id, err)
		}
		bodies[i] = b
	}
	if err := h.Tasks.Send(ctx, bodies); err != nil {
		return fmt.Errorf("queue planning of %s: %w", id, err)
	}
	return nil
}

// mayExceed reports whether an incident's audience may be larger than
// limit: a cohort's or a file's size is known only once counted.
func mayExceed(in incident.Incident, limit int) bool {
	ids := 0
	for _, n := range in.Notices {
		if n.Audience.HasCohort() || n.Audience.File != "" {
			return true
		}
		ids += len(n.Audience.UserIDs)
	}
	return ids > limit
}

func (h *Handler) audit(ctx context.Context, id string, at time.Time, actor string, k audit.Kind, detail map[string]string) error {
	if err := h.Audit.Append(ctx, audit.Entry{IncidentID: id, At: at, Actor: actor, Kind: k, Detail: detail}); err != nil {
		return fmt.Errorf("audit %s of %s: %w", k, id, err)
	}
	return nil
}
