package admin

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"breachnotify/shared/dispatch"
	"breachnotify/shared/incident"
)

type lot struct {
	unpaused []incident.Channel
	parked   map[incident.Channel][]dispatch.Parked
}

func (l *lot) Unpause(_ context.Context, _ string, ch incident.Channel) error {
	l.unpaused = append(l.unpaused, ch)
	return nil
}

func (l *lot) Parked(_ context.Context, _ string, ch incident.Channel) ([]dispatch.Parked, error) {
	return l.parked[ch], nil
}

func (l *lot) Unpark(_ context.Context, _, id string) error {
	for ch, ps := range l.parked {
		for i, p := range ps {
			if p.ID == id {
				l.parked[ch] = append(ps[:i], ps[i+1:]...)
			}
		}
	}
	return nil
}

type queue struct{ bodies int }

func (q *queue) Send(_ context.Context, bodies [][]byte) error { q.bodies += len(bodies); return nil }

func TestHandleValidatesEveryField(t *testing.T) {
	h := &Handler{Lot: &lot{}, Queue: &queue{}, Log: slog.New(slog.DiscardHandler)}
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"no actor", Request{Operation: "resume", IncidentID: "INC-1"}, "actor is required"},
		{"bad incident", Request{Operation: "resume", Actor: "a", IncidentID: "INC#1"}, "incidentId"},
		{"unknown operation", Request{Operation: "send-all", Actor: "a", IncidentID: "INC-1"}, "operation"},
		{"bad channel", Request{Operation: "resume", Actor: "a", IncidentID: "INC-1", Channel: "sms"}, "channel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Handle(context.Background(), tc.req)
			if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a bad request about %s", err, tc.want)
			}
		})
	}
}

func TestResumeRequeuesParkedBatches(t *testing.T) {
	l := &lot{parked: map[incident.Channel][]dispatch.Parked{
		incident.Email: {{ID: "p1", Batch: dispatch.Batch{IncidentID: "INC-1"}}, {ID: "p2", Batch: dispatch.Batch{IncidentID: "INC-1"}}},
		incident.Push:  {{ID: "p3", Batch: dispatch.Batch{IncidentID: "INC-1"}}},
	}}
	q := &queue{}
	h := &Handler{Lot: l, Queue: q, Log: slog.New(slog.DiscardHandler)}
	resp, err := h.Handle(context.Background(), Request{Operation: "resume", Actor: "secops:omar", IncidentID: "INC-1", Channel: incident.Email})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Resumed["email"] != 2 || q.bodies != 2 || len(l.parked[incident.Email]) != 0 || len(l.parked[incident.Push]) != 1 {
		t.Errorf("resp %+v, queued %d, parked left %v", resp, q.bodies, l.parked)
	}
	if len(l.unpaused) != 1 || l.unpaused[0] != incident.Email || resp.Actor != "secops:omar" {
		t.Errorf("unpaused %v, actor %q", l.unpaused, resp.Actor)
	}
}
