// Package fake holds in-memory stand-ins for the stores and queues the
// domain packages talk to (the audit trail, the ledger, the users table,
// an SQS queue), one per port, shared by every unit test instead of a
// private copy in each (pkgsite's internal/testing/fakedatasource). Each
// keeps the rules of the store it stands for, so that a test passing
// against a fake says something about the real one: the ledger's are
// checked against both by LedgerContract.
//
// Only tests import this package (infra/deploy's layout test enforces it).
package fake

import (
	"context"
	"slices"
	"sync"

	"breachnotify/shared/audit"
)

// Audit is an audit trail in memory. Append chains each incident's
// entries after its head with audit.Next, as dynamo.Audit does, so a trail
// written here verifies with audit.Verify. Safe for concurrent use.
type Audit struct {
	mu      sync.Mutex
	entries []audit.Entry
}

// Append chains e after the last entry of its incident.
func (a *Audit) Append(_ context.Context, e audit.Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, audit.Next(a.last(e.IncidentID), e))
	return nil
}

func (a *Audit) last(incidentID string) *audit.Entry {
	for i := len(a.entries) - 1; i >= 0; i-- {
		if a.entries[i].IncidentID == incidentID {
			return &a.entries[i]
		}
	}
	return nil
}

// Head is the head of an incident's chain (zero if it has no entries).
func (a *Audit) Head(_ context.Context, incidentID string) (audit.Head, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l := a.last(incidentID); l != nil {
		return l.Head(), nil
	}
	return audit.Head{}, nil
}

// Each calls fn with an incident's entries in seq order.
func (a *Audit) Each(_ context.Context, incidentID string, fn func(audit.Entry) error) error {
	for _, e := range a.Entries() {
		if e.IncidentID != incidentID {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// Entries are every incident's entries, in the order they were appended.
func (a *Audit) Entries() []audit.Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.entries)
}

// Kinds lists the kinds of an incident's entries, in order.
func (a *Audit) Kinds(incidentID string) []audit.Kind {
	var out []audit.Kind
	for _, e := range a.Entries() {
		if e.IncidentID == incidentID {
			out = append(out, e.Kind)
		}
	}
	return out
}
