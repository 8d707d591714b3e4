package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"breachnotify/shared/audit"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/intake"
)

var t0 = time.Date(2014, 5, 27, 10, 0, 0, 0, time.UTC)

type memStore struct{ recs map[string]incident.Record }

func (s *memStore) Get(_ context.Context, id string) (incident.Record, bool, error) {
	r, ok := s.recs[id]
	return r, ok, nil
}

func (s *memStore) Transition(_ context.Context, id string, from, to incident.State, c Change) error {
	r := s.recs[id]
	if r.State != from {
		return ErrStateChanged
	}
	r.State = to
	switch to {
	case incident.StateConfirmed:
		r.ConfirmedBy = c.Actor
	case incident.StateCancelled:
		r.CancelledBy, r.CancelReason = c.Actor, c.Reason
	case incident.StateSending:
		r.ApprovedBy = c.Actor
	}
	s.recs[id] = r
	return nil
}

type memHeld struct{ batches map[string]dispatch.Batch }

func (h *memHeld) Held(context.Context, string) ([]dispatch.Parked, error) {
	var out []dispatch.Parked
	for id, b := range h.batches {
		out = append(out, dispatch.Parked{ID: id, Batch: b})
	}
	return out, nil
}

func (h *memHeld) Unhold(_ context.Context, _, id string) error {
	delete(h.batches, id)
	return nil
}

type memPlanner struct{ planned, sending []string }

func (p *memPlanner) QueueSending(_ context.Context, rec incident.Record) (int, error) {
	p.sending = append(p.sending, rec.ID)
	return 3, nil
}

func (p *memPlanner) Plan(_ context.Context, rec incident.Record) (intake.Result, error) {
	p.planned = append(p.planned, rec.ID)
	return intake.Result{IncidentID: rec.ID, Outcome: intake.Planned}, nil
}

type memProgress struct{ planned map[string]int }

func (p *memProgress) Plan(_ context.Context, _ string, planned map[string]int, _ bool) error {
	p.planned = planned
	return nil
}

type env struct {
	l       *Lifecycle
	store   *memStore
	held    *memHeld
	queue   *fake.Queue
	audit   *fake.Audit
	planner *memPlanner
}

func newEnv(rec incident.Record) *env {
	e := &env{
		store: &memStore{recs: map[string]incident.Record{rec.ID: rec}},
		held: &memHeld{batches: map[string]dispatch.Batch{
			"held#1": {IncidentID: rec.ID, NoticeID: "n0-update-app"}, "held#2": {IncidentID: rec.ID, NoticeID: "n0-update-app"},
		}},
		queue: &fake.Queue{}, audit: &fake.Audit{}, planner: &memPlanner{},
	}
	e.l = &Lifecycle{Store: e.store, Held: e.held, Queue: e.queue, Audit: e.audit, Planner: e.planner, Progress: &memProgress{},
		AutoSendLimit: 1000, Now: func() time.Time { return t0 }, Log: slog.New(slog.DiscardHandler)}
	return e
}

func frozen(members int, automated bool) incident.Record {
	return incident.Record{
		Incident: incident.Incident{ID: "INC-1", Status: incident.Confirmed, ConfirmedBy: "alice"},
		State:    incident.StateConfirmed, Automated: automated,
		Audience: &incident.FrozenAudience{Members: members, Hash: "h", Notices: []incident.NoticeTotals{{NoticeID: "n0-update-app", Members: members}}},
	}
}

func TestFrozenSendsOrWaitsForApproval(t *testing.T) {
	tests := []struct {
		name      string
		rec       incident.Record
		wantState incident.State
		wantKinds []audit.Kind
		wantQueue int
		wantSend  bool
	}{
		{"automated, at the limit", frozen(1000, true), incident.StateSending, []audit.Kind{audit.AudienceFrozen}, 2, true},
		{"automated, above the limit", frozen(1001, true), incident.StateAwaitingApproval, []audit.Kind{audit.AudienceFrozen, audit.ApprovalRequested}, 0, false},
		{"manual, above the limit", frozen(5000, false), incident.StateSending, []audit.Kind{audit.AudienceFrozen}, 2, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(tc.rec)
			if err := e.l.Frozen(context.Background(), "INC-1"); err != nil {
				t.Fatal(err)
			}
			if got := e.store.recs["INC-1"].State; got != tc.wantState {
				t.Errorf("state %s, want %s", got, tc.wantState)
			}
			if !slices.Equal(e.audit.Kinds("INC-1"), tc.wantKinds) || e.queue.Len() != tc.wantQueue {
				t.Errorf("audit %q, %d released; want %q and %d", e.audit.Kinds("INC-1"), e.queue.Len(), tc.wantKinds, tc.wantQueue)
			}
			if sent := len(e.planner.sending) == 1; sent != tc.wantSend {
				t.Errorf("sending tasks queued for %v, want sent %v", e.planner.sending, tc.wantSend)
			}
			// Called again (a redelivered planning task): nothing is queued again.
			sending, released := len(e.planner.sending), e.queue.Len()
			if err := e.l.Frozen(context.Background(), "INC-1"); err != nil {
				t.Fatal(err)
			}
			if len(e.planner.sending) != sending || e.queue.Len() != released {
				t.Errorf("second call queued sending %v and released %d, had %d and %d", e.planner.sending, e.queue.Len(), sending, released)
			}
		})
	}
}

func TestApproveNeedsASecondAdmin(t *testing.T) {
	rec := frozen(5000, true)
	rec.State = incident.StateAwaitingApproval
	e := newEnv(rec)
	if _, err := e.l.Approve(context.Background(), "INC-1", By{Actor: "Alice "}); !errors.Is(err, incident.ErrIllegalTransition) {
		t.Fatalf("the confirmer approved: %v", err)
	}
	if len(e.audit.Entries()) != 0 || e.queue.Len() != 0 {
		t.Fatalf("a refused approval audited %q and released %d", e.audit.Kinds("INC-1"), e.queue.Len())
	}
	// How bob was identified joins the entry; the decision's own keys win.
	by := By{Actor: "bob", Detail: map[string]string{"door": "url", "principal": "arn:aws:iam::111122223333:user/bob", "count": "forged"}}
	n, err := e.l.Approve(context.Background(), "INC-1", by)
	if err != nil || n != 3+2 || len(e.planner.sending) != 1 {
		t.Fatalf("bob's approval: queued %d, sending %v, %v; want the sending tasks and the held batches", n, e.planner.sending, err)
	}
	if r := e.store.recs["INC-1"]; r.State != incident.StateSending || r.ApprovedBy != "bob" {
		t.Errorf("record %s approved by %q", r.State, r.ApprovedBy)
	}
	if en := e.audit.Entries()[0]; en.Kind != audit.Approved || en.Actor != "bob" || en.Detail["door"] != "url" ||
		en.Detail["principal"] != by.Detail["principal"] || en.Detail["count"] != "5000" || en.Detail["confirmedBy"] != "alice" {
		t.Errorf("audit %+v", e.audit.Entries())
	}
}

func TestCancel(t *testing.T) {
	tests := []struct {
		from    incident.State
		wantErr error
	}{
		{incident.StateSending, nil},
		{incident.StateAwaitingApproval, nil},
		{incident.StateSuspected, nil},
		{incident.StateCompleted, incident.ErrIllegalTransition},
		{incident.StateCancelled, incident.ErrIllegalTransition},
	}
	for _, tc := range tests {
		t.Run(string(tc.from), func(t *testing.T) {
			rec := frozen(10, true)
			rec.State = tc.from
			e := newEnv(rec)
			n, err := e.l.Cancel(context.Background(), "INC-1", By{Actor: "carol"}, "false positive")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			r := e.store.recs["INC-1"]
			if r.State != incident.StateCancelled || r.CancelledBy != "carol" || r.CancelReason != "false positive" || n != 2 {
				t.Errorf("record %+v, released %d: want cancelled by carol and the held batches drained", r, n)
			}
		})
	}
}

func TestConfirmASuspectedIncident(t *testing.T) {
	known := func(string) bool { return true }
	rec := incident.Record{Incident: incident.Incident{ID: "INC-1", Status: incident.Suspected, Title: "t", DetectedAt: t0.Add(-time.Hour),
		Notices: []incident.Notice{{Template: "account-accessed", Channels: []incident.Channel{incident.Email}, Audience: incident.Audience{UserIDs: []string{"u-1"}}}}},
		State: incident.StateSuspected, Automated: true}
	e := newEnv(rec)
	got, err := e.l.Confirm(context.Background(), "INC-1", By{Actor: "dave"}, known)
	if err != nil {
		t.Fatal(err)
	}
	if got.ConfirmedBy != "dave" || !got.ConfirmedAt.Equal(t0) || !slices.Equal(e.planner.planned, []string{"INC-1"}) {
		t.Errorf("confirmed by %q at %s, planned %v", got.ConfirmedBy, got.ConfirmedAt, e.planner.planned)
	}
	if _, err := e.l.Confirm(context.Background(), "INC-1", By{Actor: "dave"}, known); !errors.Is(err, incident.ErrIllegalTransition) {
		t.Errorf("second confirm: %v", err)
	}

	noNotices := rec
	noNotices.Notices = nil
	e = newEnv(noNotices)
	if _, err := e.l.Confirm(context.Background(), "INC-1", By{Actor: "dave"}, known); !errors.Is(err, incident.ErrInvalid) {
		t.Errorf("confirm without notices: %v, want invalid", err)
	}
	if len(e.audit.Entries()) != 0 || len(e.planner.planned) != 0 {
		t.Error("a refused confirmation was audited or planned")
	}
}

// An incident that started sending at confirmation (it could not need
// approval) has its frozen audience recorded, and nothing queued again.
func TestFrozenWhileAlreadySending(t *testing.T) {
	rec := frozen(2, true)
	rec.State = incident.StateSending
	e := newEnv(rec)
	p := &memProgress{}
	e.l.Progress = p
	if err := e.l.Frozen(context.Background(), "INC-1"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.audit.Kinds("INC-1"), []audit.Kind{audit.AudienceFrozen}) || len(e.planner.sending) != 0 || p.planned["n0-update-app"] != 2 {
		t.Errorf("audit %q, sending queued %v, planned %v", e.audit.Kinds("INC-1"), e.planner.sending, p.planned)
	}
	if e.store.recs["INC-1"].State != incident.StateSending {
		t.Errorf("state %s", e.store.recs["INC-1"].State)
	}
}
