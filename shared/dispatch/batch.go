// Package dispatch is the worker's loop: for each member of a recipient
// batch it claims the member's ledger record, renders the notice in the
// user's locale, sends it on each channel, and records what happened.
package dispatch

import (
	"encoding/json"
	"fmt"
	"time"

	"breachnotify/shared/audience"
	"breachnotify/shared/incident"
)

// Batch is the body of one recipients-queue message: one notice for up to
// BATCH_SIZE members. It carries ids only; contact data is read when sending,
// so the queue holds no personal data and a send uses the freshest address,
// and the incident's title is read from its record (Gate), so a message
// stays small whatever the title.
type Batch struct {
	IncidentID   string             `json:"incidentId"`
	NoticeID     string             `json:"noticeId"`
	Template     string             `json:"template"`
	Channels     []incident.Channel `json:"channels"`
	FixedVersion string             `json:"fixedVersion,omitempty"`
	// Fallback: Channels are tried one at a time, in order (see
	// incident.Notice.Fallback), each given FallbackAfterSeconds to be
	// delivered.
	Fallback             bool              `json:"fallback,omitempty"`
	FallbackAfterSeconds int               `json:"fallbackAfterSeconds,omitempty"`
	Members              []audience.Member `json:"members"`
}

// FallbackAfter is how long a fallback batch's channel has to be delivered.
func (b Batch) FallbackAfter() time.Duration {
	return time.Duration(b.FallbackAfterSeconds) * time.Second
}

// ParseBatch decodes and checks a queue message body.
func ParseBatch(body []byte) (Batch, error) {
	var b Batch
	if err := json.Unmarshal(body, &b); err != nil {
		return b, fmt.Errorf("%w: decode batch: %w", ErrMalformed, err)
	}
	switch {
	case !incident.ValidID(b.IncidentID):
		return b, fmt.Errorf("%w: incidentId %q", ErrMalformed, b.IncidentID)
	case b.NoticeID == "" || b.Template == "":
		return b, fmt.Errorf("%w: noticeId and template are required", ErrMalformed)
	case len(b.Channels) == 0 || len(b.Members) == 0:
		return b, fmt.Errorf("%w: channels and members are required", ErrMalformed)
	}
	return b, nil
}
