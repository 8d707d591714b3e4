// Package watch is the scheduled deadline watch: for every incident still
// on its way (confirmed, awaiting approval, sending) it computes progress
// against the regulatory deadlines at the current send rates, raises an
// alarm when a deadline is missed or will be, marks finished incidents
// completed, and moves on an incident whose planner stopped after freezing
// its audience.
package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"breachnotify/shared/audit"
	"breachnotify/shared/deadline"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
	"breachnotify/shared/metrics"
	"breachnotify/shared/status"
)

// Incidents lists and reads incidents.
type Incidents interface {
	// Active lists the incidents on their way (incident.State.Active).
	Active(ctx context.Context) ([]string, error)
	Get(ctx context.Context, id string) (incident.Record, bool, error)
}

// Progress reads sending progress.
type Progress interface {
	Read(ctx context.Context, incidentID string) (ledger.Progress, error)
}

// Lifecycle moves incidents on (package lifecycle).
type Lifecycle interface {
	Frozen(ctx context.Context, incidentID string) error
	Complete(ctx context.Context, rec incident.Record, detail map[string]string) error
}

// Alarm is one deadline in trouble.
type Alarm struct {
	IncidentID string         `json:"incidentId"`
	Title      string         `json:"title"`
	Rule       string         `json:"rule"`
	State      deadline.State `json:"state"`
	DueAt      time.Time      `json:"dueAt"`
	ETA        time.Time      `json:"eta,omitzero"`
	Pending    int            `json:"pending"`
}

// Alarms raises alarms; Raise returns false when this alarm (incident, rule,
// state) was raised before, so an alarm is sent once per state it reaches.
type Alarms interface {
	Raise(ctx context.Context, a Alarm) (bool, error)
}

// Auditor appends to an incident's audit trail.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) error
}

// Watch is one run's dependencies.
type Watch struct {
	Incidents Incidents
	Progress  Progress
	Lifecycle Lifecycle
	Alarms    Alarms
	Audit     Auditor
	Rates     func(ctx context.Context) (map[incident.Channel]float64, error)
	Policy    deadline.Policy
	// Metrics receives the run's metrics: the deadline alarms, and a
	// heartbeat whose absence the template alarms on (a watch that stopped
	// running would otherwise raise no alarm at all).
	Metrics *metrics.Emitter
	Now     func() time.Time
	Log     *slog.Logger
}

// Report is what a run did.
type Report struct {
	Watched   int     `json:"watched"`
	Alarms    []Alarm `json:"alarms,omitempty"`
	Completed int     `json:"completed"`
	Released  int     `json:"released"`
}

// Run checks every incident on its way. A failure with one incident does
// not stop the others; the errors are returned together.
func (w *Watch) Run(ctx context.Context) (Report, error) {
	var r Report
	ids, err := w.Incidents.Active(ctx)
	if err != nil {
		return r, err
	}
	rates, err := w.Rates(ctx)
	if err != nil {
		return r, err
	}
	var errs []error
	alarms := 0
	for _, id := range ids {
		n, err := w.one(ctx, id, rates, &r)
		alarms += n
		if err != nil {
			errs = append(errs, fmt.Errorf("incident %s: %w", id, err))
		}
	}
	r.Watched = len(ids)
	if err := w.Metrics.Emit(w.Now(), nil,
		metrics.Value{Name: "WatchHeartbeat", Unit: metrics.Count, Value: 1},
		metrics.Value{Name: "DeadlineAlarms", Unit: metrics.Count, Value: float64(alarms)},
		metrics.Value{Name: "IncidentsWatched", Unit: metrics.Count, Value: float64(len(ids))}); err != nil {
		errs = append(errs, fmt.Errorf("metrics: %w", err))
	}
	return r, errors.Join(errs...)
}

// one checks one incident and returns how many of its deadlines alarm.
func (w *Watch) one(ctx context.Context, id string, rates map[incident.Channel]float64, r *Report) (int, error) {
	rec, found, err := w.Incidents.Get(ctx, id)
	if err != nil || !found {
		return 0, err
	}
	// The list may lag the record (an index is eventually consistent):
	// an incident that has just completed or been cancelled is done with.
	if !rec.State.Active() {
		return 0, nil
	}
	if rec.State == incident.StateConfirmed && rec.Audience != nil {
		if err := w.Lifecycle.Frozen(ctx, id); err != nil {
			return 0, err
		}
		r.Released++
	}
	p, err := w.Progress.Read(ctx, id)
	if err != nil {
		return 0, err
	}
	now := w.Now()
	st := status.Compute(rec, p, rates, w.Policy, now)
	pending := st.Total.Planned - st.Total.Done
	if rec.State == incident.StateSending && st.Total.Planned > 0 && pending == 0 {
		if err := w.Lifecycle.Complete(ctx, rec, map[string]string{"recipientChannels": fmt.Sprint(st.Total.Done)}); err != nil {
			return 0, err
		}
		r.Completed++
	}
	n := 0
	for _, d := range st.Deadlines {
		if !d.Alarm {
			continue
		}
		n++
		a := Alarm{IncidentID: id, Title: rec.Title, Rule: d.Rule, State: d.State, DueAt: d.DueAt, ETA: d.ETA, Pending: pending}
		raised, err := w.Alarms.Raise(ctx, a)
		if err != nil {
			return n, err
		}
		if !raised {
			continue
		}
		r.Alarms = append(r.Alarms, a)
		w.Log.WarnContext(ctx, "deadline alarm", "incidentId", id, "rule", d.Rule, "state", string(d.State), "dueAt", d.DueAt)
		if err := w.Audit.Append(ctx, audit.Entry{IncidentID: id, At: now, Actor: "system:deadline-watch", Kind: audit.DeadlineAlarm,
			Detail: map[string]string{"rule": d.Rule, "state": string(d.State), "dueAt": d.DueAt.UTC().Format(time.RFC3339), "pending": fmt.Sprint(pending)}}); err != nil {
			return n, err
		}
	}
	return n, nil
}
