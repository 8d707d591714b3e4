// Package bench is the harness behind `make bench`: it runs the real worker
// code (dispatch.Worker with the real SES adapter and SDK client) as a
// fleet against the fault server, with users and the delivery ledger kept
// in memory, and measures the send rate against the quota, the worker's own
// CPU per recipient, and the cost per million notices.
package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"breachnotify/shared/ledger"
)

// MemLedger is a dispatch.Ledger in memory, with the contract the DynamoDB
// ledger implements: Claim writes the entry if the delivery is new or holds
// a claim whose lease ended before the claimant's now (the entry's
// UpdatedAt), else fails with ledger.ErrDone (terminal) or
// ledger.ErrInFlight (a live claim); Finish needs a claim and a terminal
// status; Release deletes a claim. It is safe for concurrent use and counts
// every call, as DynamoDB bills a conditional write whether or not its
// condition holds.
type MemLedger struct {
	mu      sync.Mutex
	entries map[ledger.Key]memEntry

	claims, claimsWon, finishes, releases atomic.Int64
}

type memEntry struct {
	e          ledger.Entry
	leaseUntil time.Time
}

// NewMemLedger returns an empty ledger.
func NewMemLedger() *MemLedger {
	return &MemLedger{entries: map[ledger.Key]memEntry{}}
}

// Claim implements dispatch.Ledger.
func (l *MemLedger) Claim(_ context.Context, e ledger.Entry, leaseUntil time.Time) error {
	l.claims.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.entries[e.Key]; ok {
		if old.e.Status.Terminal() {
			return ledger.ErrDone
		}
		if !old.leaseUntil.Before(e.UpdatedAt) {
			return ledger.ErrInFlight
		}
	}
	l.entries[e.Key] = memEntry{e, leaseUntil}
	l.claimsWon.Add(1)
	return nil
}

// Finish implements dispatch.Ledger.
func (l *MemLedger) Finish(_ context.Context, e ledger.Entry) error {
	l.finishes.Add(1)
	if !e.Status.Terminal() {
		return fmt.Errorf("finish %s: status %q is not terminal", e.Key, e.Status)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old, ok := l.entries[e.Key]
	if !ok || old.e.Status != ledger.Claimed {
		return fmt.Errorf("finish %s: not claimed", e.Key)
	}
	l.entries[e.Key] = memEntry{e: e}
	return nil
}

// Release implements dispatch.Ledger.
func (l *MemLedger) Release(_ context.Context, k ledger.Key) error {
	l.releases.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	old, ok := l.entries[k]
	if !ok || old.e.Status != ledger.Claimed {
		return fmt.Errorf("release %s: not claimed", k)
	}
	delete(l.entries, k)
	return nil
}

// Entry returns the delivery's entry, if any.
func (l *MemLedger) Entry(k ledger.Key) (ledger.Entry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, ok := l.entries[k]
	return m.e, ok
}

// Len is the number of entries.
func (l *MemLedger) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// LedgerOps counts a ledger's calls.
type LedgerOps struct {
	// Claims counts every Claim call, ClaimsWon those that wrote.
	Claims, ClaimsWon, Finishes, Releases int64
}

// Writes is what DynamoDB would bill: every conditional write, whether its
// condition held or not.
func (o LedgerOps) Writes() int64 { return o.Claims + o.Finishes + o.Releases }

// Ops returns the calls counted so far.
func (l *MemLedger) Ops() LedgerOps {
	return LedgerOps{Claims: l.claims.Load(), ClaimsWon: l.claimsWon.Load(), Finishes: l.finishes.Load(), Releases: l.releases.Load()}
}
