// Package audit keeps an append-only trail of who decided what, and when,
// for each incident. Regulators ask for it after the fact, so the trail is
// hash-chained: each entry commits to the one before it, and the incident
// record keeps the chain's head, so changing, removing or reordering
// entries, including the last ones, is detectable.
package audit

import (
	"breachnotify/shared/errs"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// Kind says what happened. The values are stored and read by auditors:
// never rename one.
type Kind string

// The conventional detail keys are listed with each kind. Detail holds ids,
// counts and hashes only.
const (
	EventReceived     Kind = "event-received"     // a valid incident event arrived
	EventRejected     Kind = "event-rejected"     // an event failed validation; detail: problems (count)
	IncidentRecorded  Kind = "incident-recorded"  // the incident record was written
	Confirmed         Kind = "confirmed"          // the incident was confirmed
	ApprovalRequested Kind = "approval-requested" // sending awaits an approver
	Approved          Kind = "approved"           // an approver released sending
	AudienceFrozen    Kind = "audience-frozen"    // detail: count, hash of the frozen audience
	BatchSent         Kind = "batch-sent"         // detail: batch, sent, failed, skipped
	SendingCompleted  Kind = "sending-completed"  // every planned notice was sent or given up
	Cancelled         Kind = "cancelled"          // sending was stopped for good
	Paused            Kind = "paused"             // sending was stopped until resumed
	Resumed           Kind = "resumed"            // sending restarted after a pause
	ManualSend        Kind = "manual-send"        // an operator sent a notice by hand; detail: userId
	ResendFailed      Kind = "resend-failed"      // failed deliveries were queued again; detail: count
	Exported          Kind = "export"             // the trail or a report left the system
	DeadlineAlarm     Kind = "deadline-alarm"     // a regulatory deadline is at risk or missed; detail: rule, state
	AuthorityNotified Kind = "authority-notified" // the supervisory authority was told; detail: at
	IntakeReplayed    Kind = "intake-replayed"    // an event intake had failed on was run again; detail: eventId, attempts, outcome
	Published         Kind = "published"          // the public notice page was published; detail: locales, update, and per page (<locale> and index) its version id and sha256
)

// Genesis is the Prev of an incident's first entry, so every entry, the
// first included, links to something of the same shape.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Entry is one fact in an incident's trail. Detail must never hold emails,
// names or device tokens: the trail is kept for years and handed to
// regulators, and its hashes make an entry impossible to redact later.
type Entry struct {
	IncidentID string            `json:"incidentId"`
	Seq        int64             `json:"seq"`
	At         time.Time         `json:"at"`
	Actor      string            `json:"actor"` // a person's or role's ARN, or "system:<function>"
	Kind       Kind              `json:"kind"`
	Detail     map[string]string `json:"detail,omitempty"`
	Prev       string            `json:"prev"`
	Hash       string            `json:"hash"`
}

// Head is the last entry's seq and hash, stored on the incident record
// apart from the entries. Without it, deleting the newest entries would
// leave a chain that still verifies. The zero Head is an empty chain.
type Head struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// Head returns the head of a chain that ends with e.
func (e Entry) Head() Head { return Head{Seq: e.Seq, Hash: e.Hash} }

// Next returns e as the entry that follows prev (nil for an incident's first
// entry), with Seq, Prev and Hash filled in. The caller sets the other
// fields; At is kept in UTC, the form the hash covers.
func Next(prev *Entry, e Entry) Entry {
	e.Seq, e.Prev = 1, Genesis
	if prev != nil {
		e.Seq, e.Prev = prev.Seq+1, prev.Hash
	}
	e.At = e.At.UTC()
	// A copy, so a caller reusing its map cannot change a hashed entry.
	e.Detail = maps.Clone(e.Detail)
	e.Hash = hash(e)
	return e
}

// canonical is what an entry's hash covers: every field but Hash.
//
// External verifiers reimplement this, so it is fixed. It is the output of
// Go's encoding/json.Marshal of this struct: one line of compact JSON with
// the keys in this order (incidentId, seq, at, actor, kind, detail, prev);
// at formatted as RFC 3339 in UTC with the fraction of a second only when
// non-zero and without trailing zeros (time.RFC3339Nano, e.g.
// "2025-03-01T10:00:00.5Z"); detail left out when empty, otherwise its keys
// sorted by byte value; strings escaped as encoding/json does, which also
// writes <, > and & as \u003c, \u003e and \u0026, U+2028 and U+2029 as
// \u2028 and \u2029, and invalid UTF-8 as U+FFFD. Hash is the lowercase hex
// SHA-256 of those bytes.
type canonical struct {
	IncidentID string            `json:"incidentId"`
	Seq        int64             `json:"seq"`
	At         string            `json:"at"`
	Actor      string            `json:"actor"`
	Kind       Kind              `json:"kind"`
	Detail     map[string]string `json:"detail,omitempty"`
	Prev       string            `json:"prev"`
}

func encode(e Entry) []byte {
	b, err := json.Marshal(canonical{
		IncidentID: e.IncidentID,
		Seq:        e.Seq,
		At:         e.At.UTC().Format(time.RFC3339Nano),
		Actor:      e.Actor,
		Kind:       e.Kind,
		Detail:     e.Detail,
		Prev:       e.Prev,
	})
	if err != nil {
		// Strings, an integer and a string map always marshal.
		panic(fmt.Sprintf("audit: encode entry: %v", err))
	}
	return b
}

func hash(e Entry) string {
	sum := sha256.Sum256(encode(e))
	return hex.EncodeToString(sum[:])
}

// ErrBroken marks a trail that fails verification.
var ErrBroken = errs.New(errs.Internal, "audit chain broken")

// BrokenError names the first seq at which the trail stops being
// trustworthy, and why.
type BrokenError struct {
	Seq    int64
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit chain broken at seq %d: %s", e.Seq, e.Reason)
}

func (e *BrokenError) Is(target error) bool { return target == ErrBroken }

// Kind is ErrBroken's, so errs.KindOf reads it as it reads the sentinel.
func (e *BrokenError) Kind() errs.Kind { return ErrBroken.Kind() }

// Verify checks one incident's entries, in seq order, against the head kept
// on the incident record. It returns a *BrokenError for the first problem.
func Verify(entries []Entry, head Head) error {
	var c Chain
	for _, e := range entries {
		c.Add(e)
	}
	return c.Verify(head)
}

// Chain verifies a trail an entry at a time, in seq order, holding only
// the last entry: Verify for a trail too long to hold (a batch's entry per
// 50 recipients).
type Chain struct {
	added      int
	seq        int64
	incidentID string
	last       Entry
	err        error
}

// Add checks the next entry of the trail. The first problem is kept; the
// entries after it are counted, not checked.
func (c *Chain) Add(e Entry) {
	c.added++
	if c.err != nil {
		return
	}
	want, prev := c.seq+1, Genesis
	if c.seq == 0 {
		c.incidentID = e.IncidentID
	} else {
		prev = c.last.Hash
	}
	switch {
	case e.Seq != want:
		c.err = &BrokenError{Seq: want, Reason: fmt.Sprintf("found seq %d in its place: entry removed, inserted or reordered", e.Seq)}
	case e.IncidentID != c.incidentID:
		c.err = &BrokenError{Seq: want, Reason: fmt.Sprintf("incident id %q, want %q", e.IncidentID, c.incidentID)}
	case hash(e) != e.Hash:
		c.err = &BrokenError{Seq: want, Reason: "hash mismatch: entry changed"}
	case e.Prev != prev:
		c.err = &BrokenError{Seq: want, Reason: fmt.Sprintf("prev mismatch: does not link to seq %d", want-1)}
	default:
		c.seq, c.last = want, e
	}
}

// Len is how many entries were added.
func (c *Chain) Len() int { return c.added }

// Verify checks the entries added against the head kept on the incident
// record. It returns a *BrokenError for the first problem.
func (c *Chain) Verify(head Head) error {
	if c.err != nil {
		return c.err
	}
	if c.added == 0 {
		if head != (Head{}) {
			return &BrokenError{Seq: 1, Reason: fmt.Sprintf("no entries, but the head is at seq %d: all entries removed", head.Seq)}
		}
		return nil
	}
	last := c.last
	switch {
	case head.Seq > last.Seq:
		return &BrokenError{Seq: last.Seq + 1, Reason: fmt.Sprintf("head is at seq %d but the chain ends at seq %d: entries removed from the end", head.Seq, last.Seq)}
	case head.Seq < last.Seq:
		return &BrokenError{Seq: head.Seq + 1, Reason: fmt.Sprintf("chain goes past the head at seq %d: entries added without moving the head", head.Seq)}
	case head.Hash != last.Hash:
		return &BrokenError{Seq: last.Seq, Reason: "head mismatch: chain rewritten"}
	}
	return nil
}
