package intake

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"breachnotify/shared/audience"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/version"
)

// memIncidents is an in-memory Incidents.
type memIncidents struct {
	records  map[string]Record
	receipts []Receipt
	puts     int
	getErr   error
}

func newMemIncidents() *memIncidents { return &memIncidents{records: map[string]Record{}} }

func (m *memIncidents) Get(_ context.Context, id string) (Record, bool, error) {
	if m.getErr != nil {
		return Record{}, false, m.getErr
	}
	r, ok := m.records[id]
	return r, ok, nil
}

func (m *memIncidents) Put(_ context.Context, r Record) error {
	m.puts++
	r.Plan = slices.Clone(r.Plan)
	m.records[r.ID] = r
	return nil
}

func (m *memIncidents) AddReceipt(_ context.Context, r Receipt) error {
	m.receipts = append(m.receipts, r)
	return nil
}

// dirDevice is one device in the fake directory.
type dirDevice struct{ user, id, platform, version string }

// fakeDirectory is an in-memory audience.Directory whose cohort query
// follows the version key order, as the real index does.
type fakeDirectory struct {
	users   []string
	devices []dirDevice
	err     error
}

func (d *fakeDirectory) Existing(_ context.Context, ids []string) ([]string, error) {
	if d.err != nil {
		return nil, d.err
	}
	var out []string
	for _, id := range ids {
		if slices.Contains(d.users, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

func (d *fakeDirectory) Cohort(_ context.Context, platform string, below version.Version, yield func(audience.Match) error) error {
	if d.err != nil {
		return d.err
	}
	for _, dev := range d.devices {
		k := version.KeyOf(dev.version)
		if dev.platform == platform && k < below.Key() {
			if err := yield(audience.Match{UserID: dev.user, DeviceID: dev.id, UnparsedVersion: version.IsUnparsedKey(k)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// fakeQueue captures message bodies; fail, when set, decides each Send's
// error from its call number (starting at 1).
type fakeQueue struct {
	calls  int
	bodies [][]byte
	fail   func(call int) error
}

func (q *fakeQueue) Send(_ context.Context, bodies [][]byte) error {
	q.calls++
	if q.fail != nil {
		if err := q.fail(q.calls); err != nil {
			return err
		}
	}
	for _, b := range bodies {
		q.bodies = append(q.bodies, slices.Clone(b))
	}
	return nil
}

// batches decodes the captured bodies the way the worker does.
func (q *fakeQueue) batches() ([]dispatch.Batch, error) {
	var out []dispatch.Batch
	for _, body := range q.bodies {
		b, err := dispatch.ParseBatch(body)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
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
	directory *fakeDirectory
	queue     *fakeQueue
	clock     *clock
}

func knownTemplates(name string) bool { return name == "account-accessed" || name == "update-app" }

// newEnv builds a handler over the test directory: u-000123 named
// explicitly; u-100, u-101 (unparsed version) and u-103 on old Android
// versions; u-102 and u-000123's phone already fixed.
func newEnv(batchSize int) *env {
	e := &env{
		incidents: newMemIncidents(),
		directory: &fakeDirectory{
			users: []string{"u-000123", "u-100", "u-101", "u-102", "u-103"},
			devices: []dirDevice{
				{"u-000123", "d-x", "android", "8.9.0"},
				{"u-100", "d-a", "android", "8.8.2"},
				{"u-101", "d-b", "android", "beta"},
				{"u-102", "d-c", "android", "9.0"},
				{"u-103", "d-e", "android", "7.1"},
				{"u-103", "d-d", "android", "8.0"},
				{"u-103", "d-i", "ios", "1.0"},
			},
		},
		queue: &fakeQueue{},
		clock: &clock{t: t0},
	}
	e.handler = &Handler{
		Incidents: e.incidents, Directory: e.directory, Queue: e.queue,
		BatchSize: batchSize, KnownTemplate: knownTemplates,
		Log: slog.New(slog.DiscardHandler), Now: e.clock.Now,
	}
	return e
}

var errUnavailable = errors.New("service unavailable")
