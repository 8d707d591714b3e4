// Package intake turns an incident event into a recorded incident and, only
// when it is confirmed, into recipient batches on the queue.
package intake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"breachnotify/shared/audience"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/incident"
)

// Event is the EventBridge envelope as delivered to a rule target.
type Event struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// Detail types the rule forwards.
const (
	DetailConfirmed = "Incident Confirmed"
	DetailSuspected = "Incident Suspected"
)

// Outcome is what intake did with an event.
type Outcome string

const (
	// Planned: the confirmed incident's audience was queued for sending.
	Planned Outcome = "planned"
	// Recorded: the incident was recorded and nothing is sent (suspected).
	Recorded Outcome = "recorded"
	// Duplicate: the incident was already planned; nothing new is queued.
	Duplicate Outcome = "duplicate"
	// Rejected: the event is invalid; it is recorded with the reason.
	Rejected Outcome = "rejected"
)

// Record is an incident as stored.
type Record struct {
	incident.Incident
	// State is the effective status: confirmed only when both the event's
	// detail-type and its detail.status say so.
	State      incident.Status `json:"state"`
	EventID    string          `json:"eventId"`
	Source     string          `json:"source"`
	ReceivedAt time.Time       `json:"receivedAt"`
	PlannedAt  time.Time       `json:"plannedAt,omitzero"`
	Plan       []NoticePlan    `json:"plan,omitempty"`
}

// Receipt records one event received, whatever became of it.
type Receipt struct {
	IncidentID string    `json:"incidentId,omitempty"`
	EventID    string    `json:"eventId"`
	DetailType string    `json:"detailType"`
	Source     string    `json:"source"`
	ReceivedAt time.Time `json:"receivedAt"`
	Outcome    Outcome   `json:"outcome"`
	Reason     string    `json:"reason,omitempty"`
	// Raw is kept for rejected events only, so the sender can see what was wrong.
	Raw string `json:"raw,omitempty"`
}

// NoticePlan is what planning one notice produced.
type NoticePlan struct {
	NoticeID         string   `json:"noticeId"`
	Template         string   `json:"template"`
	Members          int      `json:"members"`
	CohortDevices    int      `json:"cohortDevices"`
	UnparsedVersions int      `json:"unparsedVersions"`
	UnknownUserIDs   []string `json:"unknownUserIds,omitempty"`
	Messages         int      `json:"messages"`
}

// Result is the intake function's response.
type Result struct {
	IncidentID string       `json:"incidentId,omitempty"`
	Outcome    Outcome      `json:"outcome"`
	Reason     string       `json:"reason,omitempty"`
	Notices    []NoticePlan `json:"notices,omitempty"`
}

// Incidents stores incidents and event receipts.
type Incidents interface {
	Get(ctx context.Context, id string) (Record, bool, error)
	Put(ctx context.Context, r Record) error
	AddReceipt(ctx context.Context, r Receipt) error
}

// Queue takes recipient batch messages.
type Queue interface {
	Send(ctx context.Context, bodies [][]byte) error
}

// Handler is the intake function.
type Handler struct {
	Incidents     Incidents
	Directory     audience.Directory
	Queue         Queue
	BatchSize     int
	KnownTemplate func(string) bool
	Log           *slog.Logger
	Now           func() time.Time
}

// maxRaw bounds what is kept of a rejected event.
const maxRaw = 16 << 10

// Handle processes one event. Invalid events are answered with Rejected and
// a nil error: retrying cannot fix them. Errors are returned only for
// failures worth retrying (storage, queue).
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (Result, error) {
	now := h.Now()
	ev, in, err := h.parse(raw)
	if err != nil {
		rc := Receipt{IncidentID: in.ID, EventID: ev.ID, DetailType: ev.DetailType, Source: ev.Source,
			ReceivedAt: now, Outcome: Rejected, Reason: err.Error(), Raw: truncate(string(raw), maxRaw)}
		if !incident.ValidID(rc.IncidentID) {
			rc.IncidentID = ""
		}
		h.Log.WarnContext(ctx, "event rejected", "eventId", ev.ID, "incidentId", rc.IncidentID, "reason", rc.Reason)
		if err := h.Incidents.AddReceipt(ctx, rc); err != nil {
			return Result{}, fmt.Errorf("record rejected event %s: %w", ev.ID, err)
		}
		return Result{IncidentID: rc.IncidentID, Outcome: Rejected, Reason: rc.Reason}, nil
	}
	rec := Record{Incident: in, State: incident.Suspected, EventID: ev.ID, Source: ev.Source, ReceivedAt: now}
	reason := ""
	switch {
	case ev.DetailType == DetailConfirmed && in.Status == incident.Confirmed:
		rec.State = incident.Confirmed
	case ev.DetailType == DetailConfirmed:
		reason = fmt.Sprintf("detail-type says confirmed but detail.status is %q: not confirmed", in.Status)
	case in.Status == incident.Confirmed:
		reason = fmt.Sprintf("detail.status is confirmed but detail-type is %q: not confirmed", ev.DetailType)
	}
	res, err := h.apply(ctx, rec)
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
	h.Log.InfoContext(ctx, "event processed", "eventId", ev.ID, "incidentId", in.ID, "outcome", res.Outcome, "reason", res.Reason)
	return res, nil
}

func (h *Handler) parse(raw json.RawMessage) (Event, incident.Incident, error) {
	var ev Event
	var in incident.Incident
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ev, in, fmt.Errorf("not an EventBridge event: %w", err)
	}
	if ev.DetailType != DetailConfirmed && ev.DetailType != DetailSuspected {
		return ev, in, fmt.Errorf("detail-type %q must be %q or %q", ev.DetailType, DetailConfirmed, DetailSuspected)
	}
	if len(bytes.TrimSpace(ev.Detail)) == 0 || bytes.Equal(bytes.TrimSpace(ev.Detail), []byte("null")) {
		return ev, in, errors.New("detail is missing")
	}
	if err := json.Unmarshal(ev.Detail, &in); err != nil {
		// Keep the id if it decoded, so the rejection is filed under it.
		return ev, in, fmt.Errorf("detail: %w", err)
	}
	if err := in.Validate(h.KnownTemplate); err != nil {
		return ev, in, err
	}
	return ev, in, nil
}

// apply stores the incident and, when it is confirmed and not yet planned,
// plans it.
func (h *Handler) apply(ctx context.Context, rec Record) (Result, error) {
	id := rec.ID
	old, found, err := h.Incidents.Get(ctx, id)
	if err != nil {
		return Result{}, fmt.Errorf("read incident %s: %w", id, err)
	}
	if found && !old.PlannedAt.IsZero() {
		return Result{IncidentID: id, Outcome: Duplicate, Reason: "already planned at " + old.PlannedAt.Format(time.RFC3339), Notices: old.Plan}, nil
	}
	if rec.State != incident.Confirmed {
		if found && old.State == incident.Confirmed {
			return Result{IncidentID: id, Outcome: Recorded, Reason: "incident is already confirmed; a suspected event changes nothing"}, nil
		}
		if err := h.Incidents.Put(ctx, rec); err != nil {
			return Result{}, fmt.Errorf("record suspected incident %s: %w", id, err)
		}
		return Result{IncidentID: id, Outcome: Recorded}, nil
	}
	// Recorded as confirmed before planning, so a crash mid-plan leaves an
	// incident that a redelivered event plans again; the ledger then keeps
	// anyone from being notified twice.
	if err := h.Incidents.Put(ctx, rec); err != nil {
		return Result{}, fmt.Errorf("record confirmed incident %s: %w", id, err)
	}
	for i, n := range rec.Notices {
		p, err := h.plan(ctx, rec.Incident, i, n)
		if err != nil {
			return Result{}, err
		}
		rec.Plan = append(rec.Plan, p)
	}
	rec.PlannedAt = h.Now()
	if err := h.Incidents.Put(ctx, rec); err != nil {
		return Result{}, fmt.Errorf("record plan of %s: %w", id, err)
	}
	return Result{IncidentID: id, Outcome: Planned, Notices: rec.Plan}, nil
}

func (h *Handler) plan(ctx context.Context, in incident.Incident, i int, n incident.Notice) (NoticePlan, error) {
	p := NoticePlan{NoticeID: incident.NoticeID(i, n.Template), Template: n.Template}
	r, err := audience.Resolve(ctx, h.Directory, n.Audience)
	if err != nil {
		return p, fmt.Errorf("resolve audience of %s/%s: %w", in.ID, p.NoticeID, err)
	}
	p.Members, p.CohortDevices, p.UnparsedVersions, p.UnknownUserIDs = len(r.Members), r.CohortDevices, r.UnparsedVersions, r.UnknownUserIDs
	var bodies [][]byte
	size := max(h.BatchSize, 1)
	for start := 0; start < len(r.Members); start += size {
		b := dispatch.Batch{
			IncidentID: in.ID, Title: in.Title, NoticeID: p.NoticeID, Template: n.Template,
			Channels: n.Channels, FixedVersion: n.FixedVersion,
			Members: r.Members[start:min(start+size, len(r.Members))],
		}
		body, err := json.Marshal(b)
		if err != nil {
			return p, fmt.Errorf("encode batch of %s/%s: %w", in.ID, p.NoticeID, err)
		}
		bodies = append(bodies, body)
	}
	if err := h.Queue.Send(ctx, bodies); err != nil {
		return p, fmt.Errorf("queue batches of %s/%s: %w", in.ID, p.NoticeID, err)
	}
	p.Messages = len(bodies)
	h.Log.InfoContext(ctx, "notice planned", "incidentId", in.ID, "noticeId", p.NoticeID,
		"members", p.Members, "cohortDevices", p.CohortDevices, "unparsedVersions", p.UnparsedVersions,
		"unknownUserIds", len(p.UnknownUserIDs), "messages", p.Messages)
	return p, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
