// Package deadline tracks the regulatory clocks of an incident: how long the
// law allows before affected users, and the authority, must be told, and
// whether the current sending rate will make it.
package deadline

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Clock names the incident timestamp a rule counts from.
type Clock string

const (
	Detected  Clock = "detected"
	Confirmed Clock = "confirmed"
)

// Milestone names what satisfies a rule.
type Milestone string

const (
	// AllUsersNotified is reached when the incident is confirmed, nothing is
	// pending and the last notice has been sent.
	AllUsersNotified Milestone = "all-users-notified"
	// AuthorityNotified is reached when someone records having told the
	// supervisory authority.
	AuthorityNotified Milestone = "authority-notified"
)

// Rule names in a policy string, and the milestone each one tracks.
const (
	Users     = "users"
	Authority = "authority"
)

var milestones = map[string]Milestone{Users: AllUsersNotified, Authority: AuthorityNotified}

// Rule says that Until must be reached Within a time of From. ParsePolicy
// builds only rules with a known clock and milestone; a rule with another
// clock never starts.
type Rule struct {
	Name   string
	From   Clock
	Within time.Duration
	Until  Milestone
}

// Policy is the set of rules an incident is held to.
type Policy []Rule

// DefaultPolicy tells users within 24 hours of confirmation, and the
// authority within 72 hours of becoming aware (GDPR Art. 33), which is
// taken to be detection: the earlier, stricter reading.
func DefaultPolicy() Policy {
	return Policy{
		{Name: Users, From: Confirmed, Within: 24 * time.Hour, Until: AllUsersNotified},
		{Name: Authority, From: Detected, Within: 72 * time.Hour, Until: AuthorityNotified},
	}
}

// ParsePolicy reads a policy such as "users=24h@confirmed,authority=72h@detected".
// The string replaces the default policy: a rule it does not name is not
// tracked. An empty string gives DefaultPolicy.
func ParsePolicy(s string) (Policy, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultPolicy(), nil
	}
	var p Policy
	for item := range strings.SplitSeq(s, ",") {
		r, err := parseRule(strings.TrimSpace(item))
		if err != nil {
			return nil, fmt.Errorf("deadline policy %q: %w", s, err)
		}
		for _, seen := range p {
			if seen.Name == r.Name {
				return nil, fmt.Errorf("deadline policy %q: rule %q given twice", s, r.Name)
			}
		}
		p = append(p, r)
	}
	return p, nil
}

func parseRule(item string) (Rule, error) {
	name, rest, ok := strings.Cut(item, "=")
	if !ok {
		return Rule{}, fmt.Errorf("rule %q: want name=duration@clock, e.g. users=24h@confirmed", item)
	}
	name = strings.TrimSpace(name)
	until, ok := milestones[name]
	if !ok {
		return Rule{}, fmt.Errorf("rule %q: unknown name %q, want %q or %q", item, name, Users, Authority)
	}
	within, from, ok := strings.Cut(rest, "@")
	if !ok {
		return Rule{}, fmt.Errorf("rule %q: missing @clock, want @%s or @%s", item, Detected, Confirmed)
	}
	d, err := time.ParseDuration(strings.TrimSpace(within))
	if err != nil {
		return Rule{}, fmt.Errorf("rule %q: duration (use hours, e.g. 72h): %w", item, err)
	}
	if d <= 0 {
		return Rule{}, fmt.Errorf("rule %q: duration %s must be positive", item, d)
	}
	clock := Clock(strings.TrimSpace(from))
	if clock != Detected && clock != Confirmed {
		return Rule{}, fmt.Errorf("rule %q: unknown clock %q, want %q or %q", item, clock, Detected, Confirmed)
	}
	return Rule{Name: name, From: clock, Within: d, Until: until}, nil
}

// Clocks are an incident's timestamps; zero means "not yet". No rule counts
// to FirstNoticeAt yet; it is here so callers fill Clocks in one place.
type Clocks struct {
	DetectedAt          time.Time
	ConfirmedAt         time.Time
	FirstNoticeAt       time.Time
	LastNoticeAt        time.Time
	AuthorityNotifiedAt time.Time
}

// Progress is where sending stands.
type Progress struct {
	Pending int     // messages still to send
	Rate    float64 // messages per second at the current quota
	// Unreachable counts users no channel reached: not informed, so the
	// users' milestone is not reached while any is, however fast the rest
	// goes (they need another way, such as a public notice).
	Unreachable int
}

// State is how a rule stands.
type State string

const (
	Met        State = "met"
	MetLate    State = "met-late"
	OnTrack    State = "on-track"
	AtRisk     State = "at-risk"     // not reached, and will not be by DueAt at the current rate
	Missed     State = "missed"      // not reached, and DueAt has passed
	NotStarted State = "not-started" // the clock it counts from has not started
)

// Finding is one rule's state at a moment.
type Finding struct {
	Rule  string
	DueAt time.Time // zero when NotStarted
	State State
	// ETA is when the milestone was reached (Met, MetLate) or is expected
	// to be; zero when unknown, as for an unrecorded authority notification
	// or a sending rate of zero.
	ETA  time.Time
	Left time.Duration // DueAt minus now; negative once overdue
}

// Alarm reports whether someone must act on the finding.
func (f Finding) Alarm() bool { return f.State == AtRisk || f.State == Missed }

// Evaluate states each rule of p at now.
func (p Policy) Evaluate(c Clocks, pr Progress, now time.Time) []Finding {
	out := make([]Finding, 0, len(p))
	for _, r := range p {
		out = append(out, r.evaluate(c, pr, now))
	}
	return out
}

func (r Rule) evaluate(c Clocks, pr Progress, now time.Time) Finding {
	f := Finding{Rule: r.Name, State: NotStarted}
	var start time.Time
	switch r.From {
	case Detected:
		start = c.DetectedAt
	case Confirmed:
		start = c.ConfirmedAt
	}
	if start.IsZero() {
		return f
	}
	f.DueAt = start.Add(r.Within)
	f.Left = f.DueAt.Sub(now)

	var reached time.Time
	switch r.Until {
	case AllUsersNotified:
		if !c.ConfirmedAt.IsZero() && pr.Pending <= 0 && pr.Unreachable <= 0 {
			reached = c.LastNoticeAt
		}
		if f.ETA = eta(pr, now); pr.Unreachable > 0 {
			// Sending faster informs none of them.
			f.ETA = time.Time{}
		}
	case AuthorityNotified:
		reached = c.AuthorityNotifiedAt
	}
	switch {
	case !reached.IsZero():
		f.ETA = reached
		f.State = Met
		if reached.After(f.DueAt) {
			f.State = MetLate
		}
	case now.After(f.DueAt):
		f.State = Missed
	case r.Until == AllUsersNotified && (f.ETA.IsZero() || f.ETA.After(f.DueAt)):
		f.State = AtRisk
	default:
		f.State = OnTrack
	}
	return f
}

// eta is when sending will finish at the current rate, or zero if it never
// will (no rate, or one so slow the wait does not fit a time.Duration).
func eta(pr Progress, now time.Time) time.Time {
	if pr.Pending <= 0 {
		return now
	}
	wait := float64(pr.Pending) / pr.Rate * float64(time.Second)
	if !(pr.Rate > 0 && wait < math.MaxInt64) {
		return time.Time{}
	}
	return now.Add(time.Duration(wait))
}
