// Package evidence builds an incident's evidence export: what regulators ask
// for after a breach notification — what was known when, who decided, and
// who was told — from the incident record, the delivery ledger and the
// audit trail, as one JSON document or one CSV row per delivery.
//
// The export holds user ids, never emails, names or device tokens, like
// everything the ledger and the trail hold.
package evidence

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"breachnotify/shared/audit"
	"breachnotify/shared/incident"
	"breachnotify/shared/intake"
	"breachnotify/shared/ledger"
	"breachnotify/shared/plan"
	"breachnotify/shared/status"
)

// Claimed is the status of the single outcome shown for a record that a
// worker has claimed and not yet written back: nothing says which channels
// it will reach until it does, so the record is one row with no channel
// rather than a guess per channel. It is not a status a delivery can have.
const Claimed ledger.Status = "claimed"

// Export is one incident's evidence.
type Export struct {
	GeneratedAt time.Time `json:"generatedAt"`
	// GeneratedBy is the actor who asked for the export.
	GeneratedBy string `json:"generatedBy"`
	// Incident is the incident as confirmed, with its notices.
	Incident incident.Incident `json:"incident"`
	State    incident.State    `json:"state"`
	Clocks   Clocks            `json:"clocks"`
	// Approvals are the decisions in the audit trail, in trail order.
	Approvals []Approval     `json:"approvals"`
	Templates []TemplateInfo `json:"templates"`
	// Audience is the frozen audience; nil while planning is unfinished.
	Audience *plan.Audience `json:"audience,omitempty"`
	// Outcomes has one row per delivery, sorted by notice, user, channel
	// and device.
	Outcomes []Outcome `json:"outcomes"`
	// Counts totals Outcomes per notice, channel and status, in that order.
	Counts []Count      `json:"counts"`
	Audit  AuditSummary `json:"audit"`
}

// Clocks are the times a notification deadline is measured by (as the
// status operation reports them); here the notice times are those of the
// first and last delivery recorded sent, zero while nothing has been sent.
type Clocks = status.Clocks

// Approval is one decision taken on the incident.
type Approval struct {
	Actor  string     `json:"actor"`
	At     time.Time  `json:"at"`
	Action audit.Kind `json:"action"`
	// Seq points at the audit entry, so a reader can check it in the trail.
	Seq    int64             `json:"seq"`
	Detail map[string]string `json:"detail,omitempty"`
}

// decisions are the audit kinds that record someone's decision, as
// opposed to the system reporting progress.
var decisions = []audit.Kind{audit.Confirmed, audit.Approved, audit.Cancelled, audit.Resumed, audit.ManualSend}

// TemplateInfo is a template the incident's notices use, with the version
// deployed when the export was made. Each outcome carries the version it
// was actually sent with, which differs if the template changed meanwhile.
type TemplateInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Outcome is one delivery as the ledger records it.
type Outcome struct {
	NoticeID          string           `json:"noticeId"`
	UserID            string           `json:"userId"`
	Channel           incident.Channel `json:"channel,omitempty"`
	DeviceID          string           `json:"deviceId,omitempty"`
	Template          string           `json:"template"`
	Status            ledger.Status    `json:"status"`
	Reason            string           `json:"reason,omitempty"`
	ProviderMessageID string           `json:"providerMessageId,omitempty"`
	TemplateVersion   string           `json:"templateVersion,omitempty"`
	Locale            string           `json:"locale,omitempty"`
	At                time.Time        `json:"at"`
}

// Count is how many deliveries of a notice over a channel have a status.
type Count struct {
	NoticeID string           `json:"noticeId"`
	Channel  incident.Channel `json:"channel,omitempty"`
	Status   ledger.Status    `json:"status"`
	N        int              `json:"n"`
}

// AuditSummary says whether the audit trail the approvals come from is
// intact.
type AuditSummary struct {
	Entries int `json:"entries"`
	// Head is the head kept on the incident record, which the trail was
	// verified against.
	Head     audit.Head `json:"head"`
	Verified bool       `json:"verified"`
	// Problem is why verification failed.
	Problem string `json:"problem,omitempty"`
}

// Inputs is what an export is built from.
type Inputs struct {
	Incident intake.Record
	// Records are the incident's ledger records.
	Records []ledger.Record
	// AuditEntries are the incident's trail in seq order, and AuditHead the
	// head stored apart from them.
	AuditEntries []audit.Entry
	AuditHead    audit.Head
	Actor        string
	Now          time.Time
	// TemplateVersion gives the deployed version of a template:
	// the caller passes notice.Version. Nil leaves versions empty.
	TemplateVersion func(template string) string
}

// Build assembles the export. It verifies the audit trail itself rather
// than take a caller's word for it: the export is what a regulator relies
// on, and a broken trail must show as broken in it.
//
// Records still in progress are part of it: a pending delivery shows with
// status pending, and a record claimed before any delivery was recorded
// shows as one outcome with status Claimed and no channel.
func Build(in Inputs) Export {
	rec := in.Incident
	e := Export{
		GeneratedAt: in.Now.UTC(),
		GeneratedBy: in.Actor,
		Incident:    rec.Incident,
		State:       rec.State,
		Clocks:      Clocks{DetectedAt: rec.DetectedAt, ConfirmedAt: rec.ConfirmedAt, AuthorityNotifiedAt: rec.AuthorityNotifiedAt},
		Approvals:   []Approval{},
		Templates:   []TemplateInfo{},
		Audience:    rec.Audience,
		Outcomes:    outcomes(in.Records),
		Audit:       AuditSummary{Entries: len(in.AuditEntries), Head: in.AuditHead, Verified: true},
	}
	for _, a := range in.AuditEntries {
		if slices.Contains(decisions, a.Kind) {
			e.Approvals = append(e.Approvals, Approval{Actor: a.Actor, At: a.At, Action: a.Kind, Seq: a.Seq, Detail: a.Detail})
		}
	}
	if err := audit.Verify(in.AuditEntries, in.AuditHead); err != nil {
		e.Audit.Verified, e.Audit.Problem = false, err.Error()
	}
	names := map[string]bool{}
	for _, n := range rec.Notices {
		names[n.Template] = true
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		t := TemplateInfo{Name: name}
		if in.TemplateVersion != nil {
			t.Version = in.TemplateVersion(name)
		}
		e.Templates = append(e.Templates, t)
	}
	for _, o := range e.Outcomes {
		if o.Status != ledger.Sent {
			continue
		}
		if e.Clocks.FirstNoticeAt.IsZero() || o.At.Before(e.Clocks.FirstNoticeAt) {
			e.Clocks.FirstNoticeAt = o.At
		}
		if o.At.After(e.Clocks.LastNoticeAt) {
			e.Clocks.LastNoticeAt = o.At
		}
	}
	e.Counts = counts(e.Outcomes)
	return e
}

func outcomes(records []ledger.Record) []Outcome {
	out := []Outcome{}
	for _, r := range records {
		if len(r.Deliveries) == 0 {
			out = append(out, Outcome{NoticeID: r.NoticeID, UserID: r.UserID, Template: r.Template,
				Status: Claimed, At: r.UpdatedAt.UTC()})
			continue
		}
		for _, d := range r.Deliveries {
			out = append(out, Outcome{
				NoticeID: d.NoticeID, UserID: d.UserID, Channel: d.Channel, DeviceID: d.DeviceID,
				Template: d.Template, Status: d.Status, Reason: d.Reason, ProviderMessageID: d.ProviderMessageID,
				TemplateVersion: d.TemplateVersion, Locale: d.Locale, At: d.UpdatedAt.UTC(),
			})
		}
	}
	slices.SortStableFunc(out, func(a, b Outcome) int {
		return cmp.Or(cmp.Compare(a.NoticeID, b.NoticeID), cmp.Compare(a.UserID, b.UserID),
			cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.DeviceID, b.DeviceID))
	})
	return out
}

func counts(outcomes []Outcome) []Count {
	type key struct {
		notice  string
		channel incident.Channel
		status  ledger.Status
	}
	n := map[key]int{}
	for _, o := range outcomes {
		n[key{o.NoticeID, o.Channel, o.Status}]++
	}
	out := []Count{}
	for k, c := range n {
		out = append(out, Count{NoticeID: k.notice, Channel: k.channel, Status: k.status, N: c})
	}
	slices.SortFunc(out, func(a, b Count) int {
		return cmp.Or(cmp.Compare(a.NoticeID, b.NoticeID), cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Status, b.Status))
	})
	return out
}

// Totals is Counts in the shape of ledger.Summarize, so the export can be
// checked against the ledger it came from. A claimed record with no
// delivery counts under channel "" and status Claimed.
func (e Export) Totals() ledger.Summary {
	s := ledger.Summary{}
	for _, c := range e.Counts {
		if s[c.NoticeID] == nil {
			s[c.NoticeID] = map[incident.Channel]map[ledger.Status]int{}
		}
		if s[c.NoticeID][c.Channel] == nil {
			s[c.NoticeID][c.Channel] = map[ledger.Status]int{}
		}
		s[c.NoticeID][c.Channel][c.Status] += c.N
	}
	return s
}

// WriteJSON writes the export as indented JSON.
func (e Export) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(e); err != nil {
		return fmt.Errorf("write evidence of %s as JSON: %w", e.Incident.ID, err)
	}
	return nil
}

// csvHeader is the first row WriteCSV writes.
var csvHeader = []string{"incident_id", "notice_id", "user_id", "channel", "device_id", "status", "reason",
	"provider_message_id", "template", "template_version", "locale", "at"}

// WriteCSV writes a header row, then one row per outcome. Cells are
// guarded against formula injection (see cell).
func (e Export) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return fmt.Errorf("write evidence of %s as CSV: %w", e.Incident.ID, err)
	}
	row := make([]string, len(csvHeader))
	for _, o := range e.Outcomes {
		at := ""
		if !o.At.IsZero() {
			at = o.At.UTC().Format(time.RFC3339Nano)
		}
		for i, v := range []string{e.Incident.ID, o.NoticeID, o.UserID, string(o.Channel), o.DeviceID, string(o.Status),
			o.Reason, o.ProviderMessageID, o.Template, o.TemplateVersion, o.Locale, at} {
			row[i] = cell(v)
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("write evidence of %s as CSV: %w", e.Incident.ID, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write evidence of %s as CSV: %w", e.Incident.ID, err)
	}
	return nil
}

// cell guards a CSV value against formula injection: these exports are
// opened in spreadsheets, which run a cell starting with =, +, -, @, tab or
// CR as a formula. Such a value gets a leading single quote, which
// spreadsheets show as text; a reader of the raw file strips it. User ids
// and provider ids come from outside, so nothing is exempt.
func cell(v string) string {
	if v != "" && strings.IndexByte("=+-@\t\r", v[0]) >= 0 {
		return "'" + v
	}
	return v
}
