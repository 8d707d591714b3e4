// Package incident holds what an incident is, what a notice about it asks for,
// and the rules an incident event must satisfy before anything is sent.
package incident

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"breachnotify/shared/version"
)

// Status says how sure the reporter is. Only a confirmed incident is
// announced; a suspected one is recorded and sends nothing.
type Status string

const (
	Suspected Status = "suspected"
	Confirmed Status = "confirmed"
)

// Channel is a way to reach a user.
type Channel string

const (
	Email Channel = "email"
	Push  Channel = "push"
)

// Platforms a cohort may name; they match the devices' platform field.
var Platforms = []string{"android", "ios"}

// Audience selects users: explicit ids, a cohort, or the union of both.
type Audience struct {
	UserIDs         []string `json:"userIds,omitempty"`
	Platforms       []string `json:"platforms,omitempty"`
	AppVersionBelow string   `json:"appVersionBelow,omitempty"`
}

// HasCohort reports whether the audience names a device cohort.
func (a Audience) HasCohort() bool { return len(a.Platforms) > 0 }

// Notice is one message to send to one audience over some channels.
type Notice struct {
	Template     string    `json:"template"`
	Channels     []Channel `json:"channels"`
	Audience     Audience  `json:"audience"`
	FixedVersion string    `json:"fixedVersion,omitempty"`
}

// Incident is the detail of an incident event, as the detection system sends it.
type Incident struct {
	ID          string    `json:"incidentId"`
	Status      Status    `json:"status"`
	Title       string    `json:"title"`
	Summary     string    `json:"summary,omitempty"`
	DetectedAt  time.Time `json:"detectedAt"`
	ConfirmedAt time.Time `json:"confirmedAt,omitzero"`
	ConfirmedBy string    `json:"confirmedBy,omitempty"`
	Notices     []Notice  `json:"notices,omitempty"`
}

// NoticeID names the i-th notice of an incident in the ledger. The index
// keeps two notices with the same template apart; the template name keeps
// the id readable.
func NoticeID(i int, template string) string { return fmt.Sprintf("n%d-%s", i, template) }

// ErrInvalid marks an event that can never be processed: retrying it is
// pointless, so callers record and reject it.
var ErrInvalid = errors.New("invalid incident")

// InvalidError lists every problem found, so a detector's author can fix
// the event in one go.
type InvalidError struct{ Problems []string }

func (e *InvalidError) Error() string {
	return "invalid incident: " + strings.Join(e.Problems, "; ")
}

func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// idPattern keeps ids safe to embed in keys ("#" separates key parts) and in
// SES message tags, which accept only letters, digits, "_" and "-".
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID reports whether s may be used as an incident id.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// MaxUserIDs bounds an explicit audience; larger audiences are cohorts.
const MaxUserIDs = 1000

// Validate checks the incident against the contract. knownTemplate says
// whether a template name can be rendered.
func (in *Incident) Validate(knownTemplate func(string) bool) error {
	var p problems
	if !ValidID(in.ID) {
		p.add("incidentId %q must be 1-64 letters, digits, '_' or '-'", in.ID)
	}
	switch in.Status {
	case Suspected, Confirmed:
	case "":
		p.add("status is required")
	default:
		p.add("status %q must be %q or %q", in.Status, Confirmed, Suspected)
	}
	if strings.TrimSpace(in.Title) == "" {
		p.add("title is required")
	}
	if in.DetectedAt.IsZero() {
		p.add("detectedAt is required")
	}
	if in.Status == Confirmed {
		if in.ConfirmedAt.IsZero() {
			p.add("confirmedAt is required when status is confirmed")
		} else if in.ConfirmedAt.Before(in.DetectedAt) {
			p.add("confirmedAt %s is before detectedAt %s", in.ConfirmedAt.Format(time.RFC3339), in.DetectedAt.Format(time.RFC3339))
		}
		if strings.TrimSpace(in.ConfirmedBy) == "" {
			p.add("confirmedBy is required when status is confirmed")
		}
		if len(in.Notices) == 0 {
			p.add("a confirmed incident needs at least one notice")
		}
	}
	for i, n := range in.Notices {
		n.validate(fmt.Sprintf("notices[%d]", i), knownTemplate, &p)
	}
	if len(p) > 0 {
		return &InvalidError{Problems: p}
	}
	return nil
}

func (n Notice) validate(at string, knownTemplate func(string) bool, p *problems) {
	if n.Template == "" {
		p.add("%s.template is required", at)
	} else if !knownTemplate(n.Template) {
		p.add("%s.template %q is unknown", at, n.Template)
	}
	if len(n.Channels) == 0 {
		p.add("%s.channels must name at least one of %q, %q", at, Email, Push)
	}
	for j, c := range n.Channels {
		if c != Email && c != Push {
			p.add("%s.channels[%d] %q must be %q or %q", at, j, c, Email, Push)
		} else if slices.Index(n.Channels, c) != j {
			p.add("%s.channels lists %q twice", at, c)
		}
	}
	a := n.Audience
	if len(a.UserIDs) == 0 && !a.HasCohort() {
		p.add("%s.audience is empty: give userIds, or platforms with appVersionBelow", at)
	}
	if len(a.UserIDs) > MaxUserIDs {
		p.add("%s.audience.userIds has %d ids, more than %d: use a cohort", at, len(a.UserIDs), MaxUserIDs)
	}
	for j, id := range a.UserIDs {
		if strings.TrimSpace(id) == "" || strings.Contains(id, "#") {
			p.add("%s.audience.userIds[%d] %q is not a user id", at, j, id)
		}
	}
	for j, pl := range a.Platforms {
		if !slices.Contains(Platforms, pl) {
			p.add("%s.audience.platforms[%d] %q must be one of %q", at, j, pl, Platforms)
		}
	}
	switch {
	case a.HasCohort() && a.AppVersionBelow == "":
		p.add("%s.audience.appVersionBelow is required with platforms", at)
	case a.AppVersionBelow != "" && !a.HasCohort():
		p.add("%s.audience.appVersionBelow needs platforms", at)
	}
	if a.AppVersionBelow != "" {
		if _, err := version.Parse(a.AppVersionBelow); err != nil {
			p.add("%s.audience.appVersionBelow: %v", at, err)
		}
	}
	if n.Template == "update-app" && n.FixedVersion == "" {
		p.add("%s.fixedVersion is required by template update-app", at)
	}
	if n.FixedVersion != "" {
		if _, err := version.Parse(n.FixedVersion); err != nil {
			p.add("%s.fixedVersion: %v", at, err)
		}
	}
}

type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }
