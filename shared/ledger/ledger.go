// Package ledger defines the delivery ledger. Its unit is a record: one
// recipient (incident × notice × user), claimed by one worker before any
// send so that nobody is notified twice, and written back once with what
// happened to each of its deliveries (the email, each push device). One
// record per recipient rather than per delivery halves the writes a notice
// costs: claim and record, whatever the number of channels.
package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"breachnotify/shared/errs"
	"breachnotify/shared/incident"
)

// Status is where one delivery stands.
type Status string

const (
	// Sent: the provider accepted the message.
	Sent Status = "sent"
	// Failed: the provider refused it for good (bad address, disabled endpoint).
	Failed Status = "failed"
	// Skipped: there was nothing to send to; Reason says why.
	Skipped Status = "skipped"
	// Pending: tried and to be tried again (throttled, provider error, the
	// channel paused); Reason says why. A redelivered batch sends it.
	Pending Status = "pending"
)

// What the provider reported after it accepted a message (delivery
// feedback). A sent delivery moves forward only, by Advances: events
// arrive late, out of order and more than once.
const (
	// Delayed: the receiving server has not taken it yet; SES keeps trying.
	Delayed Status = "delayed"
	// Delivered: the receiving server (or the push service, for an enabled
	// endpoint) took it.
	Delivered Status = "delivered"
	// Bounced: the receiving server refused it; Reason is the bounce type
	// and sub-type ("Permanent/General", "Transient/MailboxFull").
	Bounced Status = "bounced"
	// Complained: delivered, and the recipient marked it as spam.
	Complained Status = "complained"
	// Suppressed: SES did not send it, the address being on the account's
	// suppression list.
	Suppressed Status = "suppressed"
	// Rejected: SES accepted the call and then refused the message.
	Rejected Status = "rejected"
	// EndpointDisabled: the push service refused the device's token and SNS
	// disabled its endpoint.
	EndpointDisabled Status = "endpoint-disabled"
)

// Terminal reports whether the delivery is decided and must not be retried.
// Every status past sent is terminal: the message went out once.
func (s Status) Terminal() bool { return s != Pending && s != "" }

// Rank orders statuses for Advances: sent, then delayed, then delivered,
// then an end (a failure, or a complaint, which comes after delivery).
func (s Status) Rank() int {
	switch s {
	case Sent:
		return 1
	case Delayed:
		return 2
	case Delivered:
		return 3
	case Bounced, Complained, Suppressed, Rejected, EndpointDisabled, Failed, Skipped:
		return 4
	}
	return 0
}

// Advances reports whether a delivery at from may move to to. Only
// forward: a late "delayed" never undoes "delivered", and of two ends the
// first one recorded stays, so a repeated or late event changes nothing.
func Advances(from, to Status) bool { return to.Rank() > from.Rank() }

// Undeliverable reports whether the delivery reached nobody and never will:
// refused at the send, or reported lost after it.
func (s Status) Undeliverable() bool {
	switch s {
	case Failed, Bounced, Suppressed, Rejected, EndpointDisabled:
		return true
	}
	return false
}

// Feedback is what a provider reported about one delivery after the send.
type Feedback struct {
	Key
	// MessageID is the provider's id of the message reported on.
	MessageID string
	Status    Status
	// Reason details Status: the bounce type and sub-type, the push
	// failure type.
	Reason string
	At     time.Time
}

// Apply is e with f applied when f moves it forward (Advances), and
// whether it did.
func (e Entry) Apply(f Feedback) (Entry, bool) {
	if !Advances(e.Status, f.Status) {
		return e, false
	}
	e.Status, e.Reason, e.UpdatedAt = f.Status, f.Reason, f.At
	return e, true
}

// Reasons for skipped and pending deliveries.
const (
	NoEmail     = "no-email"
	NoDevice    = "no-device"
	NoEndpoint  = "no-endpoint"
	UnknownUser = "unknown-user"
	// Paused: the channel was paused; the delivery waits in a parked batch.
	Paused = "paused"
	// AddressSuppressed: an earlier notice to the address bounced for good
	// or was complained of, so it is not sent to again.
	AddressSuppressed = "suppressed"
)

// AddressHash is how an unreachable address is kept: the SHA-256 of the
// address, trimmed and lower-cased. The address itself is kept nowhere but
// the users table, and never logged.
func AddressHash(address string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(address))))
	return hex.EncodeToString(sum[:])
}

// NoDeviceID stands for the device of a push delivery that has none, so
// that "no device" is recorded once per user, like any other outcome.
const NoDeviceID = "-"

// Recipient identifies one record: a user's share of one notice.
type Recipient struct {
	IncidentID string `json:"incidentId"`
	NoticeID   string `json:"noticeId"`
	UserID     string `json:"userId"`
}

func (r Recipient) String() string { return r.IncidentID + "/" + r.NoticeID + "/" + r.UserID }

// Shards spreads one incident's records over partitions; a single
// partition takes about 1,000 writes a second, below a large send's rate.
const Shards = 32

// Shard is the partition of a recipient's record.
func (r Recipient) Shard() int {
	h := fnv.New32a()
	h.Write([]byte(r.UserID))
	return int(h.Sum32() % Shards)
}

// Key identifies one delivery within a record.
type Key struct {
	IncidentID string           `json:"incidentId"`
	NoticeID   string           `json:"noticeId"`
	UserID     string           `json:"userId"`
	Channel    incident.Channel `json:"channel"`
	// DeviceID is empty for email.
	DeviceID string `json:"deviceId,omitempty"`
}

// Recipient is the record the delivery belongs to.
func (k Key) Recipient() Recipient {
	return Recipient{IncidentID: k.IncidentID, NoticeID: k.NoticeID, UserID: k.UserID}
}

func (k Key) String() string {
	s := fmt.Sprintf("%s/%s/%s/%s", k.IncidentID, k.NoticeID, k.UserID, k.Channel)
	if k.DeviceID != "" {
		s += "/" + k.DeviceID
	}
	return s
}

// Entry is one delivery's outcome.
type Entry struct {
	Key
	Template          string    `json:"template"`
	TemplateVersion   string    `json:"templateVersion,omitempty"`
	Locale            string    `json:"locale,omitempty"`
	Status            Status    `json:"status"`
	Reason            string    `json:"reason,omitempty"`
	ProviderMessageID string    `json:"providerMessageId,omitempty"`
	UpdatedAt         time.Time `json:"updatedAt"`
}

// State is where a record stands.
type State string

const (
	// Claimed: a worker owns the record until its lease ends.
	Claimed State = "claimed"
	// Open: not claimed, with deliveries still pending.
	Open State = "open"
	// Done: every delivery is terminal; the record is never claimed again.
	Done State = "done"
)

// Record is one recipient's deliveries of one notice.
type Record struct {
	Recipient
	Template   string    `json:"template"`
	State      State     `json:"state"`
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"leaseUntil,omitzero"`
	Deliveries []Entry   `json:"deliveries,omitempty"`
	UpdatedAt  time.Time `json:"updatedAt"`
	// Next is, for a fallback notice, the queue message that tries this
	// recipient's next channel: the delivery feedback sends it when a
	// channel fails for good (see Waiting).
	Next string `json:"next,omitempty"`
}

// Fallback is the reason of a delivery on a fallback notice's later
// channel, pending until the channel before it has failed or timed out;
// NotNeeded that of one skipped because an earlier channel reached the
// recipient.
const (
	Fallback  = "fallback"
	NotNeeded = "reached"
)

// Waiting reports whether a delivery waits for the channel before it.
func (r Record) Waiting() bool {
	return slices.ContainsFunc(r.Deliveries, func(d Entry) bool { return d.Status == Pending && d.Reason == Fallback })
}

// Claim is a worker's request for a record.
type Claim struct {
	Recipient
	Template string
	// Owner tells this claim from any other, so that only its maker records
	// the outcome.
	Owner string
	// At is the claimant's now; LeaseUntil is when the claim stops
	// protecting the record (see LeaseUntil).
	At, LeaseUntil time.Time
	// Next is kept as the record's Next when set.
	Next string
}

var (
	// ErrDone: the record is complete; sending again would notify someone
	// twice.
	ErrDone = errs.New(errs.Conflict, "recipient already notified")
	// ErrInFlight: another worker holds an unexpired claim. A Claim may
	// return it as an *InFlightError that says when the claim ends.
	ErrInFlight = errs.New(errs.Conflict, "recipient claimed by another worker")
	// ErrNotOwner: the record is no longer claimed by the one recording it
	// (its lease ended and another worker took it).
	ErrNotOwner = errs.New(errs.Conflict, "claim lost")
)

// Take applies c to the record as stored (nil when there is none): it is
// the rule every ledger store implements, atomically. A record can be
// claimed when new, open, or held by a claim whose lease ended before c.At.
func Take(old *Record, c Claim) (Record, error) {
	if old != nil {
		switch {
		case old.State == Done:
			return Record{}, ErrDone
		case old.State == Claimed && !old.LeaseUntil.Before(c.At):
			return Record{}, &InFlightError{Until: old.LeaseUntil}
		}
	}
	r := Record{Recipient: c.Recipient, Template: c.Template, State: Claimed, Owner: c.Owner, LeaseUntil: c.LeaseUntil, UpdatedAt: c.At}
	if old != nil {
		r.Deliveries, r.Next = old.Deliveries, old.Next
	}
	if c.Next != "" {
		r.Next = c.Next
	}
	return r, nil
}

// Merge records outcomes into a claimed record: an outcome replaces the
// earlier one of the same delivery, and the record is Done when every
// delivery is terminal. It is the record a store writes back, on condition
// that owner still holds the claim.
func (r Record) Merge(owner string, outcomes []Entry, at time.Time) (Record, error) {
	if r.State != Claimed || r.Owner != owner {
		return Record{}, fmt.Errorf("record %s: %w", r.Recipient, ErrNotOwner)
	}
	ds := Merged(r.Deliveries, outcomes)
	r.Deliveries, r.Owner, r.LeaseUntil, r.UpdatedAt = ds, "", time.Time{}, at
	r.State = Done
	for _, d := range ds {
		if !d.Status.Terminal() {
			r.State = Open
		}
	}
	return r, nil
}

// Merged is deliveries with outcomes applied: an outcome replaces the
// earlier one of the same delivery. deliveries is left unchanged.
func Merged(deliveries, outcomes []Entry) []Entry {
	ds := slices.Clone(deliveries)
	for _, o := range outcomes {
		if i := slices.IndexFunc(ds, func(d Entry) bool { return d.Key == o.Key }); i >= 0 {
			ds[i] = o
		} else {
			ds = append(ds, o)
		}
	}
	return ds
}

// Outcome is the recorded outcome of delivery k, if any.
func (r Record) Outcome(k Key) (Entry, bool) {
	i := slices.IndexFunc(r.Deliveries, func(d Entry) bool { return d.Key == k })
	if i < 0 {
		return Entry{}, false
	}
	return r.Deliveries[i], true
}

// LeaseUntil is when a claim made at now stops protecting its record. A
// worker cannot send after its invocation's deadline (Lambda stops it), so
// a claim outlives the deadline by LeaseMargin and no more: a dead worker's
// recipients are retried a minute or two later, not after a fixed long
// lease. Without a deadline the claim lasts Lease.
func LeaseUntil(now time.Time, deadline time.Time, hasDeadline bool) time.Time {
	if hasDeadline {
		return deadline.Add(LeaseMargin)
	}
	return now.Add(Lease)
}

const (
	// LeaseMargin covers a send and its record still in flight at the
	// deadline, and clock skew between workers.
	LeaseMargin = 30 * time.Second
	// Lease is the claim of a worker that has no deadline.
	Lease = 5 * time.Minute
)

// Summary counts deliveries per notice, channel and status.
type Summary map[string]map[incident.Channel]map[Status]int

// Summarize counts entries.
func Summarize(entries []Entry) Summary {
	s := Summary{}
	for _, e := range entries {
		if s[e.NoticeID] == nil {
			s[e.NoticeID] = map[incident.Channel]map[Status]int{}
		}
		if s[e.NoticeID][e.Channel] == nil {
			s[e.NoticeID][e.Channel] = map[Status]int{}
		}
		s[e.NoticeID][e.Channel][e.Status]++
	}
	return s
}

// InFlightError is ErrInFlight with the end of the claim's lease, so that
// the recipient is retried when the claim can be taken over rather than on
// a schedule that might give up first.
type InFlightError struct{ Until time.Time }

func (e *InFlightError) Error() string {
	return ErrInFlight.Error() + " until " + e.Until.UTC().Format(time.RFC3339)
}

func (e *InFlightError) Is(target error) bool { return target == ErrInFlight }

// Kind is ErrInFlight's, so errs.KindOf reads it as it reads the sentinel.
func (e *InFlightError) Kind() errs.Kind { return ErrInFlight.Kind() }

// Progress is an incident's sending progress as the workers count it, per
// recipient and channel: a recipient's channel is sent when any of its
// deliveries was, failed when all failed, skipped when all were skipped.
type Progress struct {
	// Planned counts recipients per notice.
	Planned map[string]int
	// Done counts decided recipient channels per notice.
	Done map[string]map[incident.Channel]map[Status]int
	// Reach counts recipients per notice reached and unreachable (by
	// ReachOf, as the workers' records and the delivery reports move
	// them); the others are pending.
	Reach                       map[string]map[Reach]int
	FirstNoticeAt, LastNoticeAt time.Time
}

// ReachMoves is the change to the reach counts when a recipient's reach
// moves from before to after: nothing when it stays, and pending is not
// counted (it is planned minus the others).
func ReachMoves(before, after Reach) map[Reach]int {
	if before == after {
		return nil
	}
	d := map[Reach]int{}
	if before != ReachPending {
		d[before]--
	}
	if after != ReachPending {
		d[after]++
	}
	return d
}

// ChannelStatus is a recipient's status on one channel, from its
// deliveries there; Pending while any is undecided.
func ChannelStatus(ds []Entry) Status {
	st := Skipped
	for _, d := range ds {
		switch {
		case !d.Status.Terminal():
			return Pending
		case d.Status == Sent:
			st = Sent
		case d.Status == Failed && st == Skipped:
			st = Failed
		}
	}
	if len(ds) == 0 {
		return Pending
	}
	return st
}

// Reach is whether a recipient was informed of a notice.
type Reach string

const (
	// Reached: at least one delivery arrived (an email delivered, a push
	// accepted for an enabled endpoint).
	Reached Reach = "reached"
	// ReachPending: nothing arrived yet, and something may still: a
	// delivery to send, or an email sent whose fate SES has not reported.
	ReachPending Reach = "pending"
	// Unreachable: every delivery failed for good, or there was none to
	// make (no address, no device).
	Unreachable Reach = "unreachable"
)

// ReachOf is a recipient's reach from their deliveries, with, when
// unreachable, why: each delivery's channel, status and reason, such as
// "email:bounced:Permanent/General; push:skipped:no-device". A complaint
// counts as reached: the message was delivered before it was reported.
func ReachOf(ds []Entry) (Reach, string) {
	if len(ds) == 0 {
		return ReachPending, ""
	}
	var why []string
	pending := false
	for _, d := range ds {
		switch {
		case d.Status == Delivered || d.Status == Complained:
			return Reached, ""
		case d.Status == Sent && d.Channel == incident.Push:
			// SNS accepted it for an enabled endpoint; a token the push
			// service refuses comes back as EndpointDisabled.
			return Reached, ""
		case d.Status.Undeliverable() || d.Status == Skipped:
			w := string(d.Channel) + ":" + string(d.Status)
			if d.Reason != "" {
				w += ":" + d.Reason
			}
			why = append(why, w)
		default:
			pending = true
		}
	}
	if pending {
		return ReachPending, ""
	}
	return Unreachable, strings.Join(why, "; ")
}
