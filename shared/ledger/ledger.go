// Package ledger defines the delivery ledger: one entry per incident ×
// notice × user × channel (× device for push), claimed before a send so that
// nobody is notified twice, and finished with what happened.
package ledger

import (
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"breachnotify/shared/incident"
)

// Status is where a delivery stands.
type Status string

const (
	// Claimed: a worker owns the delivery until the lease ends.
	Claimed Status = "claimed"
	// Sent: the provider accepted the message.
	Sent Status = "sent"
	// Failed: the provider refused it for good (bad address, disabled endpoint).
	Failed Status = "failed"
	// Skipped: there was nothing to send to; Reason says why.
	Skipped Status = "skipped"
)

// Terminal reports whether the delivery is decided and must not be retried.
func (s Status) Terminal() bool { return s == Sent || s == Failed || s == Skipped }

// Reasons for skipped deliveries.
const (
	NoEmail     = "no-email"
	NoDevice    = "no-device"
	NoEndpoint  = "no-endpoint"
	UnknownUser = "unknown-user"
)

// NoDeviceID stands for the device of a push delivery that has none, so
// that "no device" is recorded once per user, like any other outcome.
const NoDeviceID = "-"

// Key identifies one delivery.
type Key struct {
	IncidentID string           `json:"incidentId"`
	NoticeID   string           `json:"noticeId"`
	UserID     string           `json:"userId"`
	Channel    incident.Channel `json:"channel"`
	// DeviceID is empty for email.
	DeviceID string `json:"deviceId,omitempty"`
}

func (k Key) String() string {
	s := fmt.Sprintf("%s/%s/%s/%s", k.IncidentID, k.NoticeID, k.UserID, k.Channel)
	if k.DeviceID != "" {
		s += "/" + k.DeviceID
	}
	return s
}

// Shards spreads one incident's deliveries over partitions; a single
// partition takes about 1,000 writes a second, below a large send's rate.
const Shards = 32

// Shard is the partition of a delivery: every delivery of a user shares one.
func (k Key) Shard() int {
	h := fnv.New32a()
	h.Write([]byte(k.UserID))
	return int(h.Sum32() % Shards)
}

// Entry is one delivery as recorded.
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

var (
	// ErrDone: the delivery already has a terminal status; sending again
	// would notify someone twice.
	ErrDone = errors.New("delivery already decided")
	// ErrInFlight: another worker holds an unexpired claim. A Claim may
	// return it as an *InFlightError that says when the claim ends.
	ErrInFlight = errors.New("delivery claimed by another worker")
)

// LeaseUntil is when a claim made at now stops protecting its delivery. A
// worker cannot send after its invocation's deadline (Lambda stops it), so
// a claim outlives the deadline by LeaseMargin and no more: a dead worker's
// deliveries are retried a minute or two later, not after a fixed long
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

// Summary counts entries per notice, channel and status.
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
// the delivery is retried when the claim can be taken over rather than on
// a schedule that might give up first.
type InFlightError struct{ Until time.Time }

func (e *InFlightError) Error() string {
	return ErrInFlight.Error() + " until " + e.Until.UTC().Format(time.RFC3339)
}

func (e *InFlightError) Is(target error) bool { return target == ErrInFlight }
