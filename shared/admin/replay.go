package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"

	"breachnotify/shared/audit"
	"breachnotify/shared/intake"
)

// IntakeFailures is intake's on-failure destination (package queue).
type IntakeFailures interface {
	// Receive takes up to n records; messages that are not invocation
	// records come back as errors and stay where they are.
	Receive(ctx context.Context, n int) ([]intake.Failure, []error, error)
	Delete(ctx context.Context, handle string) error
}

// Intake runs intake on one event (package intake).
type Intake interface {
	Handle(ctx context.Context, raw json.RawMessage) (intake.Result, error)
}

// maxReplay bounds one replay-intake call, so that it ends well within the
// function's timeout; the admin calls again for more.
const maxReplay = 200

// Replay is what replay-intake did.
type Replay struct {
	// Replayed events were processed by intake and removed from the
	// failure queue; Failed ones failed again and stay there (visible
	// again after a while); Unreadable messages are not invocation records.
	Replayed   int             `json:"replayed"`
	Failed     int             `json:"failed"`
	Unreadable int             `json:"unreadable"`
	Events     []ReplayedEvent `json:"events,omitempty"`
	More       bool            `json:"more,omitempty"`
}

// ReplayedEvent is one event replayed.
type ReplayedEvent struct {
	EventID    string         `json:"eventId"`
	IncidentID string         `json:"incidentId,omitempty"`
	Outcome    intake.Outcome `json:"outcome,omitempty"`
	// Error is why it failed again.
	Error string `json:"error,omitempty"`
}

// replayIntake runs intake again on the events it failed on for good, once
// the cause (a throttled or missing table, a queue) is fixed. Each event
// is deleted from the failure queue only after intake processed it, and
// each incident it touched gets an audit entry naming who replayed it.
// Intake is idempotent per event, so an event replayed twice changes
// nothing the second time.
func (h *Handler) replayIntake(ctx context.Context, r Request, resp *Response) error {
	rep := &Replay{}
	resp.Replay = rep
	for rep.Replayed+rep.Failed+rep.Unreadable < maxReplay {
		got, bad, err := h.IntakeFailures.Receive(ctx, min(10, maxReplay-rep.Replayed-rep.Failed-rep.Unreadable))
		if err != nil {
			return err
		}
		rep.Unreadable += len(bad)
		for _, b := range bad {
			h.Log.WarnContext(ctx, "intake failure queue: message left in place", "error", b.Error())
		}
		if len(got) == 0 && len(bad) == 0 {
			return nil
		}
		for _, f := range got {
			ev := ReplayedEvent{EventID: f.EventID}
			res, err := h.Intake.Handle(ctx, f.Event)
			if err != nil {
				rep.Failed++
				ev.Error = err.Error()
				rep.Events = append(rep.Events, ev)
				continue
			}
			ev.IncidentID, ev.Outcome = res.IncidentID, res.Outcome
			if res.IncidentID != "" {
				detail := r.caller.detail()
				maps.Copy(detail, map[string]string{"eventId": f.EventID, "attempts": strconv.Itoa(f.Attempts), "outcome": string(res.Outcome)})
				if err := h.Audit.Append(ctx, audit.Entry{IncidentID: res.IncidentID, At: h.Now(), Actor: r.Actor, Kind: audit.IntakeReplayed,
					Detail: detail}); err != nil {
					return fmt.Errorf("audit replay of %s: %w", f.EventID, err)
				}
			}
			if err := h.IntakeFailures.Delete(ctx, f.Handle); err != nil {
				return err
			}
			rep.Replayed++
			rep.Events = append(rep.Events, ev)
		}
	}
	rep.More = true
	return nil
}
