package fake

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"breachnotify/shared/ledger"
)

// Ledger is the deliveries table in memory, with dynamo.Ledger's rules:
// Claim applies ledger.Take atomically and returns the record as it stood
// when refused; Record writes the claimed record merged with its outcomes
// on condition that the claim is still the caller's; Each and Records read
// an incident's records in (notice, user) order. Like the table, it keeps
// a lease end in whole seconds. LedgerContract checks both against the
// same cases. Safe for concurrent use.
type Ledger struct {
	// ClaimErr and RecordErr, when set, fail every call of the method (a
	// storage outage); the call writes nothing.
	ClaimErr, RecordErr error

	mu      sync.Mutex
	records map[ledger.Recipient]ledger.Record
}

// Claim takes a recipient's record by the rule of ledger.Take.
func (l *Ledger) Claim(_ context.Context, c ledger.Claim) (ledger.Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ClaimErr != nil {
		return ledger.Record{}, fmt.Errorf("claim %s: %w", c.Recipient, l.ClaimErr)
	}
	var old *ledger.Record
	if r, ok := l.records[c.Recipient]; ok {
		old = &r
	}
	r, err := ledger.Take(old, c)
	if err != nil {
		if old != nil {
			return *old, err
		}
		return ledger.Record{}, err
	}
	l.put(r)
	return r, nil
}

// Record writes claimed back with outcomes merged, ending the claim, if
// the stored record is still claimed by claimed.Owner.
func (l *Ledger) Record(_ context.Context, claimed ledger.Record, outcomes []ledger.Entry, at time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.RecordErr != nil {
		return fmt.Errorf("record %s: %w", claimed.Recipient, l.RecordErr)
	}
	r, err := claimed.Merge(claimed.Owner, outcomes, at)
	if err != nil {
		return err
	}
	if stored, ok := l.records[r.Recipient]; !ok || stored.State != ledger.Claimed || stored.Owner != claimed.Owner {
		return fmt.Errorf("record %s: %w", r.Recipient, ledger.ErrNotOwner)
	}
	l.put(r)
	return nil
}

// put stores r as the table would read it back.
func (l *Ledger) put(r ledger.Record) {
	if l.records == nil {
		l.records = map[ledger.Recipient]ledger.Record{}
	}
	if !r.LeaseUntil.IsZero() {
		r.LeaseUntil = time.Unix(r.LeaseUntil.Unix(), 0)
	}
	r.Deliveries = slices.Clone(r.Deliveries)
	l.records[r.Recipient] = r
}

// Put stores r as it is, as another worker (or an earlier run) left it.
func (l *Ledger) Put(r ledger.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.put(r)
}

// Get reads the records of the given recipients; those without one are
// absent from the map.
func (l *Ledger) Get(_ context.Context, rs []ledger.Recipient) (map[ledger.Recipient]ledger.Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[ledger.Recipient]ledger.Record{}
	for _, r := range rs {
		if rec, ok := l.records[r]; ok {
			out[r] = rec
		}
	}
	return out, nil
}

// Records reads every record of an incident, in (notice, user) order.
func (l *Ledger) Records(_ context.Context, incidentID string) ([]ledger.Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []ledger.Record
	for _, r := range l.records {
		if r.IncidentID == incidentID {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b ledger.Record) int {
		return cmp.Or(cmp.Compare(a.NoticeID, b.NoticeID), cmp.Compare(a.UserID, b.UserID))
	})
	return out, nil
}

// Each calls fn with every record of an incident, in (notice, user) order.
func (l *Ledger) Each(ctx context.Context, incidentID string, fn func(ledger.Record) error) error {
	records, err := l.Records(ctx, incidentID)
	if err != nil {
		return err
	}
	for _, r := range records {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// List reads every delivery of an incident.
func (l *Ledger) List(ctx context.Context, incidentID string) ([]ledger.Entry, error) {
	records, err := l.Records(ctx, incidentID)
	var out []ledger.Entry
	for _, r := range records {
		out = append(out, r.Deliveries...)
	}
	return out, err
}
