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

	"breachnotify/shared/dispatch"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

// MemLedger is a dispatch.Ledger in memory, with the rules of package
// ledger that the DynamoDB ledger applies atomically. It is safe for
// concurrent use and counts every call, as DynamoDB bills a conditional
// write whether or not its condition holds.
type MemLedger struct {
	mu      sync.Mutex
	records map[ledger.Recipient]ledger.Record

	claims, claimsWon, recorded atomic.Int64
}

// NewMemLedger returns an empty ledger.
func NewMemLedger() *MemLedger {
	return &MemLedger{records: map[ledger.Recipient]ledger.Record{}}
}

// Claim implements dispatch.Ledger.
func (l *MemLedger) Claim(_ context.Context, c ledger.Claim) (ledger.Record, error) {
	l.claims.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
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
	l.records[c.Recipient] = r
	l.claimsWon.Add(1)
	return r, nil
}

// Record implements dispatch.Ledger.
func (l *MemLedger) Record(_ context.Context, claimed ledger.Record, outcomes []ledger.Entry, at time.Time) error {
	l.recorded.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	r, err := l.records[claimed.Recipient].Merge(claimed.Owner, outcomes, at)
	if err != nil {
		return err
	}
	l.records[claimed.Recipient] = r
	return nil
}

// Entry returns a delivery's outcome, if recorded.
func (l *MemLedger) Entry(k ledger.Key) (ledger.Entry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.records[k.Recipient()].Outcome(k)
}

// Len is the number of records.
func (l *MemLedger) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.records)
}

// LedgerOps counts a ledger's calls.
type LedgerOps struct {
	// Claims counts every Claim call, ClaimsWon those that wrote; Records
	// counts the write-backs.
	Claims, ClaimsWon, Records int64
}

// Writes is what DynamoDB would bill: every conditional write, whether its
// condition held or not.
func (o LedgerOps) Writes() int64 { return o.Claims + o.Records }

// Ops returns the calls counted so far.
func (l *MemLedger) Ops() LedgerOps {
	return LedgerOps{Claims: l.claims.Load(), ClaimsWon: l.claimsWon.Load(), Records: l.recorded.Load()}
}

// Sending is a dispatch.Control for an incident that is sending and never
// paused: the fleet measures sending, not the gate.
type Sending struct{}

// Gate implements dispatch.Control.
func (Sending) Gate(context.Context, string) (dispatch.Gate, error) {
	return dispatch.Gate{State: incident.StateSending, Title: "Benchmark incident"}, nil
}

// Pause implements dispatch.Control.
func (Sending) Pause(context.Context, string, incident.Channel, string) error { return nil }

// Park implements dispatch.Control; nothing is ever paused, so nothing is parked.
func (Sending) Park(_ context.Context, b dispatch.Batch) error {
	return fmt.Errorf("bench: park %s/%s: no channel is ever paused here", b.IncidentID, b.NoticeID)
}

// Hold implements dispatch.Control: the incident is sending.
func (Sending) Hold(context.Context, dispatch.Batch) error { return dispatch.ErrNotHeld }
