package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"breachnotify/shared/audit"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/intake"
)

// failureQueue is intake's on-failure destination in memory: a received
// record stays until deleted, and is not received again in the same call.
type failureQueue struct {
	records    []intake.Failure
	unreadable int
	taken      map[string]bool
	deleted    []string
}

func (q *failureQueue) Receive(_ context.Context, n int) ([]intake.Failure, []error, error) {
	var out []intake.Failure
	var bad []error
	for ; q.unreadable > 0; q.unreadable-- {
		bad = append(bad, intake.ErrNotARecord)
	}
	for _, f := range q.records {
		if len(out) < n && !q.taken[f.Handle] {
			q.taken[f.Handle] = true
			out = append(out, f)
		}
	}
	return out, bad, nil
}

func (q *failureQueue) Delete(_ context.Context, handle string) error {
	q.deleted = append(q.deleted, handle)
	return nil
}

// intakeFunc runs a fake intake.
type intakeFunc func(raw json.RawMessage) (intake.Result, error)

func (f intakeFunc) Handle(_ context.Context, raw json.RawMessage) (intake.Result, error) {
	return f(raw)
}

func TestReplayIntake(t *testing.T) {
	failure := func(handle, eventID, incidentID string) intake.Failure {
		return intake.Failure{Handle: handle, EventID: eventID, Attempts: 3,
			Event: json.RawMessage(`{"id":"` + eventID + `","detail":{"id":"` + incidentID + `"}}`)}
	}
	q := &failureQueue{taken: map[string]bool{}, unreadable: 1, records: []intake.Failure{
		failure("h1", "ev-1", "INC-1"), failure("h2", "ev-2", "INC-2"), failure("h3", "ev-3", "INC-3"),
	}}
	var ran []string
	run := intakeFunc(func(raw json.RawMessage) (intake.Result, error) {
		var ev struct {
			ID     string `json:"id"`
			Detail struct {
				ID string `json:"id"`
			} `json:"detail"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		ran = append(ran, ev.ID)
		if ev.ID == "ev-2" {
			// The cause is not fixed for this one yet.
			return intake.Result{}, errors.New("table throttled")
		}
		return intake.Result{IncidentID: ev.Detail.ID, Outcome: intake.Planned}, nil
	})
	a := &fake.Audit{}
	h := &Handler{IntakeFailures: q, Intake: run, Audit: a, Incidents: &memIncidents{recs: map[string]incident.Record{}},
		Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC) }}
	// Through the URL only: a direct invocation's actor is only claimed.
	if _, err := h.Handle(context.Background(), Caller{Door: DoorInvoke}, Request{Operation: "replay-intake", Actor: "omar"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("direct replay-intake: err = %v, want forbidden", err)
	}
	resp, err := h.Handle(context.Background(), Caller{Door: DoorURL, Principal: "arn:aws:iam::123456789012:user/omar"},
		Request{Operation: "replay-intake", Actor: "omar"})
	if err != nil {
		t.Fatal(err)
	}
	rep := resp.Replay
	if rep == nil || rep.Replayed != 2 || rep.Failed != 1 || rep.Unreadable != 1 || rep.More {
		t.Fatalf("replay = %+v", rep)
	}
	if !slices.Equal(ran, []string{"ev-1", "ev-2", "ev-3"}) {
		t.Errorf("intake ran on %v", ran)
	}
	// Only what intake processed leaves the queue; the failed one stays.
	if !slices.Equal(q.deleted, []string{"h1", "h3"}) {
		t.Errorf("deleted %v, want h1 and h3", q.deleted)
	}
	var audited []string
	for _, e := range a.Entries() {
		if e.Kind != audit.IntakeReplayed || e.Actor != "omar" || e.Detail["attempts"] != "3" ||
			e.Detail["door"] != "url" || e.Detail["principal"] != "arn:aws:iam::123456789012:user/omar" {
			t.Errorf("audit entry %+v", e)
		}
		audited = append(audited, e.IncidentID+"/"+e.Detail["eventId"])
	}
	if !slices.Equal(audited, []string{"INC-1/ev-1", "INC-3/ev-3"}) {
		t.Errorf("audited %v", audited)
	}
}

func TestReplayIntakeTakesNoIncident(t *testing.T) {
	h := &Handler{Log: slog.New(slog.DiscardHandler), Now: time.Now}
	_, err := h.Handle(context.Background(), Caller{Door: DoorURL}, Request{Operation: "replay-intake", Actor: "omar", IncidentID: "INC-1"})
	if !errors.Is(err, ErrBadRequest) {
		t.Fatalf("err = %v, want a bad request", err)
	}
}
