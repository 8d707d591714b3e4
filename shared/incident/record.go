package incident

import (
	"time"

	"breachnotify/shared/errs"
)

// Record is an incident as stored.
type Record struct {
	Incident
	// State is where the incident stands. An event makes
	// it confirmed only when both its detail-type and detail.status say so.
	State      State     `json:"state"`
	EventID    string    `json:"eventId,omitempty"`
	Source     string    `json:"source"`
	ReceivedAt time.Time `json:"receivedAt"`
	// Automated: the incident came from a detection system's event, so a
	// large audience needs an admin's approval before anything is sent.
	Automated bool `json:"automated"`
	// Tasks is how many planning tasks the incident has; TasksDone counts
	// the finished ones (the planner adds to it), of both passes for an
	// incident counted first (plan.Task.Count): the audience freezes when
	// the first pass is done.
	Tasks        int       `json:"tasks,omitempty"`
	TasksDone    int       `json:"tasksDone,omitempty"`
	PlanQueuedAt time.Time `json:"planQueuedAt,omitzero"`
	// PlannedAt and Audience are set when the last task finishes: the
	// audience is then frozen.
	PlannedAt time.Time       `json:"plannedAt,omitzero"`
	Audience  *FrozenAudience `json:"audience,omitempty"`
	// Decisions after confirmation, by whom and when.
	ApprovedBy   string    `json:"approvedBy,omitempty"`
	ApprovedAt   time.Time `json:"approvedAt,omitzero"`
	SendingAt    time.Time `json:"sendingAt,omitzero"`
	CancelledBy  string    `json:"cancelledBy,omitempty"`
	CancelledAt  time.Time `json:"cancelledAt,omitzero"`
	CancelReason string    `json:"cancelReason,omitempty"`
	CompletedAt  time.Time `json:"completedAt,omitzero"`
	// AuthorityNotifiedAt is when the supervisory authority was told
	// (GDPR Art. 33); an admin records it.
	AuthorityNotifiedAt time.Time `json:"authorityNotifiedAt,omitzero"`
	// Updates are the public notice page's timeline, oldest first: each
	// publication adds one (at most MaxUpdates).
	Updates []Update `json:"updates,omitempty"`
}

// Update is one dated entry of the public notice page's timeline: what the
// company says publicly at that time, in the publisher's words.
type Update struct {
	At   time.Time `json:"at"`
	Text string    `json:"text"`
	// By is who published it; kept on the record, never shown on the page.
	By string `json:"by"`
}

// NoticeTotals is a notice's planning, summed over its tasks.
type NoticeTotals struct {
	NoticeID         string `json:"noticeId"`
	Template         string `json:"template"`
	Members          int    `json:"members"`
	CohortDevices    int    `json:"cohortDevices"`
	UnparsedVersions int    `json:"unparsedVersions"`
	// UnknownUserIDs are named ids no user has (for a file, a sample of
	// them); Unknown counts them all. InvalidLines counts an audience
	// file's lines that named no id, by reason.
	UnknownUserIDs []string       `json:"unknownUserIds,omitempty"`
	Unknown        int            `json:"unknown,omitempty"`
	InvalidLines   map[string]int `json:"invalidLines,omitempty"`
	Messages       int            `json:"messages"`
}

// FrozenAudience is the frozen audience: who is to be notified, counted and
// fingerprinted once planning is complete.
type FrozenAudience struct {
	Notices []NoticeTotals `json:"notices"`
	// Members counts notice × user pairs; Hash identifies their ids.
	Members int    `json:"members"`
	Hash    string `json:"hash"`
}

// ErrUpdatesChanged marks an update appended to a timeline that another
// publication changed since it was read: the page being published would
// miss that one's entry.
var ErrUpdatesChanged = errs.New(errs.Conflict, "the incident's public updates changed meanwhile; publish again")
