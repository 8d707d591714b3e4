package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"breachnotify/shared/audience"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
	"breachnotify/shared/notice"
)

// usersFunc is a Users made of a function.
type usersFunc func(ctx context.Context, ids []string) (map[string]audience.User, error)

func (f usersFunc) Get(ctx context.Context, ids []string) (map[string]audience.User, error) {
	return f(ctx, ids)
}

// recordState is the state of a user's record of the test notice ("" if
// none).
func recordState(l *fake.Ledger, user string) ledger.State {
	r := ledger.Recipient{IncidentID: testIncident, NoticeID: "n0-account-accessed", UserID: user}
	got, _ := l.Get(context.Background(), []ledger.Recipient{r})
	return got[r].State
}

// snapshot returns the test incident's deliveries recorded, by
// Key.String().
func snapshot(l *fake.Ledger) map[string]ledger.Entry {
	entries, _ := l.List(context.Background(), testIncident)
	out := map[string]ledger.Entry{}
	for _, e := range entries {
		out[e.Key.String()] = e
	}
	return out
}

// memControl is a Control and ParkingLot in memory.
type memControl struct {
	mu     sync.Mutex
	state  incident.State
	title  string
	paused map[incident.Channel]string
	parked map[string]Batch
	held   []Batch
	gates  int
}

func newMemControl() *memControl {
	return &memControl{state: incident.StateSending, title: testTitle, paused: map[incident.Channel]string{}, parked: map[string]Batch{}}
}

func (m *memControl) Gate(context.Context, string) (Gate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gates++
	return Gate{State: m.state, Paused: maps.Clone(m.paused), Title: m.title}, nil
}

func (m *memControl) Hold(_ context.Context, b Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state.Sends() || m.state.Terminal() {
		return ErrNotHeld
	}
	m.held = append(m.held, b)
	return nil
}

func (m *memControl) setState(st incident.State) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state = st
}

func (m *memControl) Pause(_ context.Context, _ string, ch incident.Channel, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.paused[ch] = reason
	return nil
}

func (m *memControl) Park(_ context.Context, b Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	body, _ := json.Marshal(b)
	m.parked[string(body)] = b
	return nil
}

func (m *memControl) Unpause(_ context.Context, _ string, ch incident.Channel) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.paused, ch)
	return nil
}

func (m *memControl) Parked(_ context.Context, _ string, ch incident.Channel) ([]Parked, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Parked
	for id, b := range m.parked {
		if slices.Equal(b.Channels, []incident.Channel{ch}) {
			out = append(out, Parked{ID: id, Batch: b})
		}
	}
	return out, nil
}

func (m *memControl) Unpark(_ context.Context, _, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.parked, id)
	return nil
}

// fakeMailer records what it sends; fail decides a send's error.
type fakeMailer struct {
	sent []Mail
	fail func(Mail) error
}

func (m *fakeMailer) Send(_ context.Context, mail Mail) (string, error) {
	if m.fail != nil {
		if err := m.fail(mail); err != nil {
			return "", err
		}
	}
	m.sent = append(m.sent, mail)
	return "mail:" + mail.To, nil
}

func (m *fakeMailer) to() []string {
	var out []string
	for _, s := range m.sent {
		out = append(out, s.To)
	}
	return out
}

type sentPush struct {
	endpoint string
	push     notice.Push
	data     map[string]string
}

// fakePusher records what it sends; fail decides a send's error.
type fakePusher struct {
	sent []sentPush
	fail func(endpoint string) error
}

func (p *fakePusher) Push(_ context.Context, endpoint string, msg notice.Push, data map[string]string) (string, error) {
	if p.fail != nil {
		if err := p.fail(endpoint); err != nil {
			return "", err
		}
	}
	p.sent = append(p.sent, sentPush{endpoint, msg, maps.Clone(data)})
	return "push:" + endpoint, nil
}

func (p *fakePusher) endpoints() []string {
	var out []string
	for _, s := range p.sent {
		out = append(out, s.endpoint)
	}
	return out
}

// clock is a controllable time source.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time          { return c.t }
func (c *clock) Advance(d time.Duration) { c.t = c.t.Add(d) }

// env is one worker wired to fakes.
type env struct {
	worker  *Worker
	ledger  *fake.Ledger
	control *memControl
	mailer  *fakeMailer
	pusher  *fakePusher
	clock   *clock
}

var t0 = time.Date(2014, 5, 27, 10, 0, 0, 0, time.UTC)

func newEnv(users Users) *env {
	e := &env{
		ledger:  &fake.Ledger{},
		control: newMemControl(),
		mailer:  &fakeMailer{},
		pusher:  &fakePusher{},
		clock:   &clock{t: t0},
	}
	e.worker = &Worker{
		Users: users, Ledger: e.ledger, Control: e.control, Mailer: e.mailer, Pusher: e.pusher,
		Brand: "Acme", Log: slog.New(slog.DiscardHandler), Now: e.clock.Now,
	}
	return e
}

// failOn returns a fail function that returns err for the listed targets
// (addresses or endpoints).
func failOn[T any](err error, key func(T) string, targets ...string) func(T) error {
	return func(v T) error {
		if slices.Contains(targets, key(v)) {
			return err
		}
		return nil
	}
}

func mailTo(m Mail) string     { return m.To }
func endpoint(s string) string { return s }

var errProviderDown = errors.New("provider unavailable")
