// Package incident holds what an incident is, what a notice about it asks for,
// and the rules an incident event must satisfy before anything is sent.
package incident

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"breachnotify/shared/errs"
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

// Audience selects users: explicit ids, a cohort, or the union of both;
// or, alone, a file of ids.
type Audience struct {
	UserIDs         []string `json:"userIds,omitempty"`
	Platforms       []string `json:"platforms,omitempty"`
	AppVersionBelow string   `json:"appVersionBelow,omitempty"`
	// File is the key of an object in the stack's audience bucket that
	// lists the affected user ids (package audience's file format). Only
	// a key: the planner may read that one bucket and no other, so an
	// event cannot point it at someone else's data.
	File string `json:"file,omitempty"`
}

// HasCohort reports whether the audience names a device cohort.
func (a Audience) HasCohort() bool { return len(a.Platforms) > 0 }

// Notice is one message to send to one audience over some channels.
type Notice struct {
	Template string    `json:"template"`
	Channels []Channel `json:"channels,omitempty"`
	// Fallback, instead of Channels, tries one channel at a time in its
	// order: the next when the one before failed for good, or was not
	// delivered within FallbackAfter (a Go duration, "30m" by default).
	Fallback      []Channel `json:"fallback,omitempty"`
	FallbackAfter string    `json:"fallbackAfter,omitempty"`
	Audience      Audience  `json:"audience"`
	FixedVersion  string    `json:"fixedVersion,omitempty"`
}

// DefaultFallbackAfter is how long a fallback notice waits for a delivery
// on one channel before it tries the next.
const DefaultFallbackAfter = 30 * time.Minute

// Routes are the channels the notice may use, in order for a fallback.
func (n Notice) Routes() []Channel {
	if len(n.Fallback) > 0 {
		return n.Fallback
	}
	return n.Channels
}

// FallbackWait is FallbackAfter, or its default.
func (n Notice) FallbackWait() time.Duration {
	if d, err := time.ParseDuration(n.FallbackAfter); err == nil && d > 0 {
		return d
	}
	return DefaultFallbackAfter
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
var ErrInvalid = errs.New(errs.Invalid, "invalid incident")

// InvalidError lists the problems found, so a detector's author can fix
// the event in one go: the first MaxReasonProblems by name, the others
// counted, so that the reason stays bounded whatever the event.
type InvalidError struct {
	Problems []string
	More     int
}

func (e *InvalidError) Error() string {
	s := "invalid incident: " + strings.Join(e.Problems, "; ")
	if e.More > 0 {
		s += fmt.Sprintf("; and %d more problems", e.More)
	}
	return s
}

func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Kind is ErrInvalid's, so errs.KindOf reads it as it reads the sentinel.
func (e *InvalidError) Kind() errs.Kind { return ErrInvalid.Kind() }

// idPattern keeps ids safe to embed in keys ("#" separates key parts) and in
// SES message tags, which accept only letters, digits, "_" and "-".
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID reports whether s may be used as an incident id.
func ValidID(s string) bool { return len(s) <= MaxIDBytes && idPattern.MatchString(s) }

// Validate checks the incident against the contract, with times judged
// against the clock. knownTemplate says whether a template name can be
// rendered.
func (in *Incident) Validate(knownTemplate func(string) bool) error {
	return in.ValidateAt(knownTemplate, time.Now())
}

// ValidateAt is Validate with times judged against now.
func (in *Incident) ValidateAt(knownTemplate func(string) bool, now time.Time) error {
	var p problems
	if !ValidID(in.ID) {
		p.add("incidentId %s must be 1-%d letters, digits, '_' or '-'", Quote(in.ID), MaxIDBytes)
	}
	switch in.Status {
	case Suspected, Confirmed:
	case "":
		p.add("status is required")
	default:
		p.add("status %s must be %q or %q", Quote(string(in.Status)), Confirmed, Suspected)
	}
	if strings.TrimSpace(in.Title) == "" {
		p.add("title is required")
	} else if msg := TextProblem(in.Title, MaxTitleRunes, false); msg != "" {
		p.add("title %s", msg)
	}
	if msg := TextProblem(in.Summary, MaxSummaryRunes, true); msg != "" {
		p.add("summary %s", msg)
	}
	if in.DetectedAt.IsZero() {
		p.add("detectedAt is required")
	} else if msg := TimeProblem(in.DetectedAt, now); msg != "" {
		p.add("detectedAt %s", msg)
	}
	if !in.ConfirmedAt.IsZero() {
		if msg := TimeProblem(in.ConfirmedAt, now); msg != "" {
			p.add("confirmedAt %s", msg)
		}
	}
	if in.ConfirmedBy != "" {
		if len(in.ConfirmedBy) > MaxActorBytes {
			p.add("confirmedBy is %d bytes, more than %d", len(in.ConfirmedBy), MaxActorBytes)
		} else if msg := TextProblem(in.ConfirmedBy, MaxActorBytes, false); msg != "" {
			p.add("confirmedBy %s", msg)
		}
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
	if len(in.Notices) > MaxNotices {
		p.add("notices has %d notices, more than %d", len(in.Notices), MaxNotices)
	}
	for i, n := range in.Notices {
		n.validate(fmt.Sprintf("notices[%d]", i), knownTemplate, &p)
	}
	if len(p.named) > 0 {
		return &InvalidError{Problems: p.named, More: p.more}
	}
	return nil
}

func (n Notice) validate(at string, knownTemplate func(string) bool, p *problems) {
	switch {
	case n.Template == "":
		p.add("%s.template is required", at)
	case len(n.Template) > MaxTemplateBytes || !knownTemplate(n.Template):
		p.add("%s.template %s is unknown", at, Quote(n.Template))
	}
	field := "channels"
	switch {
	case len(n.Fallback) > 0 && len(n.Channels) > 0:
		p.add("%s has both channels and fallback: give one", at)
	case len(n.Fallback) > 0:
		field = "fallback"
	case len(n.Channels) == 0:
		p.add("%s.channels must name at least one of %q, %q", at, Email, Push)
	}
	for j, c := range n.Routes() {
		if c != Email && c != Push {
			p.add("%s.%s[%d] %s must be %q or %q", at, field, j, Quote(string(c)), Email, Push)
		} else if slices.Index(n.Routes(), c) != j {
			p.add("%s.%s lists %q twice", at, field, c)
		}
	}
	if n.FallbackAfter != "" {
		if d, err := time.ParseDuration(n.FallbackAfter); err != nil || d <= 0 || len(n.Fallback) == 0 {
			p.add("%s.fallbackAfter %s must be a positive duration such as \"30m\", with fallback", at, Quote(n.FallbackAfter))
		}
	}
	a := n.Audience
	if len(a.UserIDs) == 0 && !a.HasCohort() && a.File == "" {
		p.add("%s.audience is empty: give userIds, platforms with appVersionBelow, or a file", at)
	}
	if a.File != "" {
		// A file stands alone: its ids are planned by byte range, and an
		// id also named in userIds would be planned twice.
		if len(a.UserIDs) > 0 || a.HasCohort() || a.AppVersionBelow != "" {
			p.add("%s.audience.file cannot be combined with userIds or a cohort: list every id in the file", at)
		}
		if len(a.File) > MaxFileKeyBytes {
			p.add("%s.audience.file is %d bytes, more than %d", at, len(a.File), MaxFileKeyBytes)
		} else if msg := TextProblem(a.File, MaxFileKeyBytes, false); msg != "" || strings.TrimSpace(a.File) != a.File {
			p.add("%s.audience.file %s is not an object key (no control characters, no leading or trailing spaces)", at, Quote(a.File))
		}
	}
	if len(a.UserIDs) > MaxUserIDs {
		p.add("%s.audience.userIds has %d ids, more than %d: use a cohort", at, len(a.UserIDs), MaxUserIDs)
	}
	for j, id := range a.UserIDs {
		if !ValidKey(id, MaxUserIDBytes) {
			p.add("%s.audience.userIds[%d] %s is not a user id (1-%d bytes, no '#', spaces or control characters)", at, j, Quote(id), MaxUserIDBytes)
		}
	}
	for j, pl := range a.Platforms {
		if !slices.Contains(Platforms, pl) {
			p.add("%s.audience.platforms[%d] %s must be one of %q", at, j, Quote(pl), Platforms)
		} else if slices.Index(a.Platforms, pl) != j {
			p.add("%s.audience.platforms lists %q twice", at, pl)
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

// problems keeps the first MaxReasonProblems problems and counts the rest.
type problems struct {
	named []string
	more  int
}

func (p *problems) add(format string, args ...any) {
	if len(p.named) >= MaxReasonProblems {
		p.more++
		return
	}
	p.named = append(p.named, fmt.Sprintf(format, args...))
}
