package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"breachnotify/shared/audience"
	"breachnotify/shared/ledger"
	"breachnotify/shared/notice"
)

// usersFunc is a Users made of a function.
type usersFunc func(ctx context.Context, ids []string) (map[string]audience.User, error)

func (f usersFunc) Get(ctx context.Context, ids []string) (map[string]audience.User, error) {
	return f(ctx, ids)
}

// userMap is a Users holding records in memory.
func userMap(users ...audience.User) usersFunc {
	byID := map[string]audience.User{}
	for _, u := range users {
		byID[u.ID] = u
	}
	return func(_ context.Context, ids []string) (map[string]audience.User, error) {
		out := map[string]audience.User{}
		for _, id := range ids {
			if u, ok := byID[id]; ok {
				out[id] = u
			}
		}
		return out, nil
	}
}

// memLedger implements the Ledger contract in memory: Claim writes when the
// delivery is new or holds a claim whose lease ended before the entry's
// UpdatedAt (the claimant's "now"), Finish needs a claim, Release deletes a
// claim.
type memLedger struct {
	mu      sync.Mutex
	entries map[ledger.Key]ledger.Entry
	leases  map[ledger.Key]time.Time
	// claimErr, when set, fails every Claim (a storage outage).
	claimErr error
	// finishErr, when set, fails every Finish.
	finishErr error
}

func newMemLedger() *memLedger {
	return &memLedger{entries: map[ledger.Key]ledger.Entry{}, leases: map[ledger.Key]time.Time{}}
}

func (l *memLedger) Claim(_ context.Context, e ledger.Entry, leaseUntil time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.claimErr != nil {
		return l.claimErr
	}
	if old, ok := l.entries[e.Key]; ok {
		if old.Status.Terminal() {
			return ledger.ErrDone
		}
		if !l.leases[e.Key].Before(e.UpdatedAt) {
			return ledger.ErrInFlight
		}
	}
	l.entries[e.Key] = e
	l.leases[e.Key] = leaseUntil
	return nil
}

func (l *memLedger) Finish(_ context.Context, e ledger.Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.finishErr != nil {
		return l.finishErr
	}
	old, ok := l.entries[e.Key]
	if !ok || old.Status != ledger.Claimed {
		return fmt.Errorf("finish %s: not claimed", e.Key)
	}
	if !e.Status.Terminal() {
		return fmt.Errorf("finish %s: status %q is not terminal", e.Key, e.Status)
	}
	l.entries[e.Key] = e
	delete(l.leases, e.Key)
	return nil
}

func (l *memLedger) Release(_ context.Context, k ledger.Key) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, ok := l.entries[k]
	if !ok || old.Status != ledger.Claimed {
		return fmt.Errorf("release %s: not claimed", k)
	}
	delete(l.entries, k)
	delete(l.leases, k)
	return nil
}

// put stores an entry as another worker would have left it.
func (l *memLedger) put(e ledger.Entry, leaseUntil time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries[e.Key] = e
	l.leases[e.Key] = leaseUntil
}

// snapshot returns the entries by Key.String().
func (l *memLedger) snapshot() map[string]ledger.Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]ledger.Entry{}
	for k, e := range l.entries {
		out[k.String()] = e
	}
	return out
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
	worker *Worker
	ledger *memLedger
	mailer *fakeMailer
	pusher *fakePusher
	clock  *clock
}

var t0 = time.Date(2014, 5, 27, 10, 0, 0, 0, time.UTC)

func newEnv(users Users) *env {
	e := &env{
		ledger: newMemLedger(),
		mailer: &fakeMailer{},
		pusher: &fakePusher{},
		clock:  &clock{t: t0},
	}
	e.worker = &Worker{
		Users: users, Ledger: e.ledger, Mailer: e.mailer, Pusher: e.pusher,
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
