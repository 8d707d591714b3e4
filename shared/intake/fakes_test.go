package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/plan"
)

// memIncidents is an in-memory Incidents. Put replaces the whole record, as
// the table's PutItem does; MarkQueued sets PlanQueuedAt alone and needs the
// record to exist, as the table's conditional update does. Every call is
// written to log, so tests can check the order of writes and sends.
type memIncidents struct {
	records  map[string]incident.Record
	receipts []Receipt
	puts     int
	marks    int
	log      *[]string
	// getErr, putErr, markErr and receiptErr, when set, fail every call of
	// the method.
	getErr, putErr, markErr, receiptErr error
}

func newMemIncidents(log *[]string) *memIncidents {
	return &memIncidents{records: map[string]incident.Record{}, log: log}
}

func (m *memIncidents) Get(_ context.Context, id string) (incident.Record, bool, error) {
	if m.getErr != nil {
		return incident.Record{}, false, m.getErr
	}
	r, ok := m.records[id]
	return r, ok, nil
}

func (m *memIncidents) Put(_ context.Context, r incident.Record) error {
	if m.putErr != nil {
		return m.putErr
	}
	m.puts++
	*m.log = append(*m.log, "put")
	r.Notices = slices.Clone(r.Notices)
	m.records[r.ID] = r
	return nil
}

func (m *memIncidents) MarkQueued(_ context.Context, id string, at time.Time) error {
	if m.markErr != nil {
		return m.markErr
	}
	r, ok := m.records[id]
	if !ok {
		return fmt.Errorf("mark %s queued: no such incident", id)
	}
	m.marks++
	*m.log = append(*m.log, "mark")
	r.PlanQueuedAt = at
	m.records[id] = r
	return nil
}

func (m *memIncidents) AddReceipt(_ context.Context, r Receipt) error {
	if m.receiptErr != nil {
		return m.receiptErr
	}
	*m.log = append(*m.log, "receipt")
	m.receipts = append(m.receipts, r)
	return nil
}

// loggedQueue is a fake.Queue that writes each successful send to log.
type loggedQueue struct {
	*fake.Queue
	log *[]string
}

func (q *loggedQueue) Send(ctx context.Context, bodies [][]byte) error {
	if err := q.Queue.Send(ctx, bodies); err != nil {
		return err
	}
	*q.log = append(*q.log, "send")
	return nil
}

// tasks decodes the captured bodies the way the planner does.
func (q *loggedQueue) tasks(from int) ([]plan.Task, error) {
	var out []plan.Task
	for _, body := range q.Bodies()[from:] {
		t, err := plan.ParseTask(body)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// clock is a controllable time source.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time          { return c.t }
func (c *clock) Advance(d time.Duration) { c.t = c.t.Add(d) }

var t0 = time.Date(2014, 5, 27, 10, 0, 5, 0, time.UTC)

// env is a Handler wired to fakes.
type env struct {
	handler   *Handler
	incidents *memIncidents
	queue     *loggedQueue
	audit     *fake.Audit
	clock     *clock
	// log lists the writes and sends in order: put, send, mark, receipt.
	log []string
}

func knownTemplates(name string) bool { return name == "account-accessed" || name == "update-app" }

func newEnv() *env {
	e := &env{clock: &clock{t: t0}}
	e.incidents = newMemIncidents(&e.log)
	e.queue = &loggedQueue{Queue: &fake.Queue{}, log: &e.log}
	e.audit = &fake.Audit{}
	e.handler = &Handler{
		Incidents: e.incidents, Tasks: e.queue, Audit: e.audit, KnownTemplate: knownTemplates,
		Log: slog.New(slog.DiscardHandler), Now: e.clock.Now,
	}
	return e
}

var errUnavailable = errors.New("service unavailable")
