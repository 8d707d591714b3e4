// Package status computes an incident's progress per notice and channel,
// its ETA at the current send rates, and where it stands against its
// regulatory deadlines, from the incident record and the workers' progress
// counters. The admin status operation and the deadline watch share it.
package status

import (
	"time"

	"breachnotify/shared/deadline"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

// Status is an incident's progress.
type Status struct {
	State     incident.State `json:"state"`
	Notices   []Notice       `json:"notices"`
	Total     Total          `json:"total"`
	Clocks    Clocks         `json:"clocks"`
	Deadlines []Deadline     `json:"deadlines,omitempty"`
	// ETASeconds is the time to send what is pending at the current rates;
	// absent when a channel with pending messages has no rate.
	ETASeconds *float64 `json:"etaSeconds,omitempty"`
}

// Notice is one notice's progress per channel, and its recipients by
// reach (ledger.ReachOf): reached, unreachable, and pending, the others.
type Notice struct {
	NoticeID    string    `json:"noticeId"`
	Template    string    `json:"template"`
	Channels    []Channel `json:"channels"`
	Reached     int       `json:"reached"`
	Pending     int       `json:"pending"`
	Unreachable int       `json:"unreachable"`
}

// Channel counts recipients on one channel of a notice.
type Channel struct {
	Channel incident.Channel `json:"channel"`
	Planned int              `json:"planned"`
	Sent    int              `json:"sent"`
	Failed  int              `json:"failed"`
	Skipped int              `json:"skipped"`
	Pending int              `json:"pending"`
	Percent float64          `json:"percent"`
}

// Total sums every notice and channel.
type Total struct {
	Planned int     `json:"planned"`
	Done    int     `json:"done"`
	Percent float64 `json:"percent"`
}

// Clocks are the incident's regulatory timestamps.
type Clocks struct {
	DetectedAt          time.Time `json:"detectedAt"`
	ConfirmedAt         time.Time `json:"confirmedAt,omitzero"`
	FirstNoticeAt       time.Time `json:"firstNoticeAt,omitzero"`
	LastNoticeAt        time.Time `json:"lastNoticeAt,omitzero"`
	AuthorityNotifiedAt time.Time `json:"authorityNotifiedAt,omitzero"`
}

// Deadline is one rule's standing.
type Deadline struct {
	Rule        string         `json:"rule"`
	DueAt       time.Time      `json:"dueAt,omitzero"`
	State       deadline.State `json:"state"`
	ETA         time.Time      `json:"eta,omitzero"`
	LeftSeconds float64        `json:"leftSeconds"`
	Alarm       bool           `json:"alarm"`
}

// Compute states an incident's progress at now. Rates are messages per
// second by channel. A cancelled or suspected incident has no deadlines:
// nobody is to be notified.
func Compute(rec incident.Record, p ledger.Progress, rates map[incident.Channel]float64, policy deadline.Policy, now time.Time) Status {
	s := Status{State: rec.State, Clocks: Clocks{
		DetectedAt: rec.DetectedAt, ConfirmedAt: rec.ConfirmedAt,
		FirstNoticeAt: p.FirstNoticeAt, LastNoticeAt: p.LastNoticeAt, AuthorityNotifiedAt: rec.AuthorityNotifiedAt,
	}}
	pendingBy := map[incident.Channel]int{}
	unreachable := 0
	for i, n := range rec.Notices {
		id := incident.NoticeID(i, n.Template)
		planned := p.Planned[id]
		ns := Notice{NoticeID: id, Template: n.Template, Reached: p.Reach[id][ledger.Reached], Unreachable: p.Reach[id][ledger.Unreachable]}
		ns.Pending = max(0, planned-ns.Reached-ns.Unreachable)
		unreachable += ns.Unreachable
		for _, ch := range n.Routes() {
			d := p.Done[id][ch]
			c := Channel{Channel: ch, Planned: planned, Sent: d[ledger.Sent], Failed: d[ledger.Failed], Skipped: d[ledger.Skipped]}
			done := c.Sent + c.Failed + c.Skipped
			c.Pending = max(0, planned-done)
			c.Percent = percent(min(done, planned), planned)
			ns.Channels = append(ns.Channels, c)
			s.Total.Planned += planned
			s.Total.Done += min(done, planned)
			pendingBy[ch] += c.Pending
		}
		s.Notices = append(s.Notices, ns)
	}
	s.Total.Percent = percent(s.Total.Done, s.Total.Planned)
	eta, known := 0.0, true
	pending := 0
	for ch, n := range pendingBy {
		pending += n
		if n == 0 {
			continue
		}
		if rates[ch] <= 0 {
			known = false
			continue
		}
		eta = max(eta, float64(n)/rates[ch])
	}
	if known {
		s.ETASeconds = &eta
	}
	if rec.State == incident.StateCancelled || rec.State == incident.StateSuspected {
		return s
	}
	// The deadline package reasons in one rate: the one that sends what is
	// pending in the ETA computed per channel.
	pr := deadline.Progress{Pending: pending, Unreachable: unreachable}
	if known && eta > 0 {
		pr.Rate = float64(pending) / eta
	}
	for _, f := range policy.Evaluate(deadline.Clocks(s.Clocks), pr, now) {
		s.Deadlines = append(s.Deadlines, Deadline{Rule: f.Rule, DueAt: f.DueAt, State: f.State, ETA: f.ETA,
			LeftSeconds: f.Left.Seconds(), Alarm: f.Alarm()})
	}
	return s
}

func percent(done, planned int) float64 {
	if planned == 0 {
		return 100
	}
	return float64(done) * 100 / float64(planned)
}
