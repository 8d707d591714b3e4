// Package evidence builds an incident's evidence export: what regulators ask
// for after a breach notification — what was known when, who decided, and
// who was told — from the incident record, the delivery ledger and the
// audit trail, as one JSON document and one CSV row per delivery.
//
// An export is written as the ledger is read, one record at a time, so
// that its memory does not grow with the incident (see Writer).
//
// The export holds user ids, never emails, names or device tokens, like
// everything the ledger and the trail hold.
package evidence

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"breachnotify/shared/audit"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
	"breachnotify/shared/status"
)

// Claimed is the status of the single outcome shown for a record that a
// worker has claimed and not yet written back: nothing says which channels
// it will reach until it does, so the record is one row with no channel
// rather than a guess per channel. It is not a status a delivery can have.
const Claimed ledger.Status = "claimed"

// Export is one incident's evidence. Its JSON document is one object:
// the Header's fields, the outcomes, then the Footer's fields. A Writer
// streams it in that order, marshalling each part on its own.
type Export struct {
	Header
	// Outcomes has one row per delivery, sorted by notice, user, channel
	// and device. It comes before the fields computed from it, which a
	// streamed document can only write once it has gone by.
	Outcomes []Outcome `json:"outcomes"`
	Footer
}

// Header is the part of an Export known before the ledger is read.
type Header struct {
	GeneratedAt time.Time `json:"generatedAt"`
	// GeneratedBy is the actor who asked for the export.
	GeneratedBy string `json:"generatedBy"`
	// Incident is the incident as confirmed, with its notices.
	Incident incident.Incident `json:"incident"`
	State    incident.State    `json:"state"`
	// Approvals are the decisions in the audit trail, in trail order.
	Approvals []Approval     `json:"approvals"`
	Templates []TemplateInfo `json:"templates"`
	// Audience is the frozen audience; nil while planning is unfinished.
	Audience *incident.FrozenAudience `json:"audience,omitempty"`
}

// Footer is the part of an Export computed from its outcomes, and the
// audit summary.
type Footer struct {
	Clocks Clocks `json:"clocks"`
	// Counts totals Outcomes per notice, channel and status, in that order.
	Counts []Count `json:"counts"`
	// Reach counts recipients per notice by ledger.ReachOf, and
	// Unreachable names those no channel reached, with why.
	Reach       []ReachCount  `json:"reach"`
	Unreachable []Unreachable `json:"unreachable"`
	Audit       AuditSummary  `json:"audit"`
}

// ReachCount is how many recipients of a notice have a reach.
type ReachCount struct {
	NoticeID string       `json:"noticeId"`
	Reach    ledger.Reach `json:"reach"`
	N        int          `json:"n"`
}

// Unreachable is a recipient no channel reached: every delivery failed
// for good or there was none to make; Reason lists each channel's.
type Unreachable struct {
	NoticeID string `json:"noticeId"`
	UserID   string `json:"userId"`
	Reason   string `json:"reason"`
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
	Incident incident.Record
	// AuditTrail walks the incident's trail in seq order, calling fn with
	// each entry, then returns the head stored apart from it, read after
	// the entries as the verify operation reads them (nil: no trail). The
	// trail is read an entry at a time, keeping the decisions alone.
	AuditTrail func(fn func(audit.Entry) error) (audit.Head, error)
	Actor      string
	Now        time.Time
	// TemplateVersion gives the deployed version of a template:
	// the caller passes notice.Version. Nil leaves versions empty.
	TemplateVersion func(template string) string
}

// Writer writes one export as its ledger records arrive: the JSON document
// (exactly what encoding/json's MarshalIndent writes for the Export, with a
// trailing newline) and the CSV rows at once, holding one record and the
// running counts (and the unreachable recipients' ids), never the
// outcomes. It verifies the audit trail itself
// rather than take a caller's word for it: the export is what a regulator
// relies on, and a broken trail must show as broken in it.
//
// Records still in progress are part of it: a pending delivery shows with
// status pending, and a record claimed before any delivery was recorded
// shows as one outcome with status Claimed and no channel.
type Writer struct {
	id       string
	tail     Footer
	json     io.Writer
	csv      *csv.Writer
	row      []string
	counts   map[countKey]int
	reach    map[reachKey]int
	outcomes int
	last     *ledger.Recipient
	err      error
}

type reachKey struct {
	notice string
	reach  ledger.Reach
}

type countKey struct {
	notice  string
	channel incident.Channel
	status  ledger.Status
}

// NewWriter writes the export's beginning to js and the CSV header to cs.
func NewWriter(in Inputs, js, cs io.Writer) (*Writer, error) {
	rec := in.Incident
	h := Header{GeneratedAt: in.Now.UTC(), GeneratedBy: in.Actor, Incident: rec.Incident, State: rec.State,
		Approvals: []Approval{}, Templates: []TemplateInfo{}, Audience: rec.Audience}
	w := &Writer{id: rec.ID, json: js, csv: csv.NewWriter(cs), row: make([]string, len(csvHeader)), counts: map[countKey]int{}, reach: map[reachKey]int{},
		tail: Footer{Unreachable: []Unreachable{},
			Clocks: Clocks{DetectedAt: rec.DetectedAt, ConfirmedAt: rec.ConfirmedAt, AuthorityNotifiedAt: rec.AuthorityNotifiedAt},
			Audit:  AuditSummary{Verified: true},
		}}
	var chain audit.Chain
	if in.AuditTrail != nil {
		var err error
		w.tail.Audit.Head, err = in.AuditTrail(func(a audit.Entry) error {
			chain.Add(a)
			if slices.Contains(decisions, a.Kind) {
				h.Approvals = append(h.Approvals, Approval{Actor: a.Actor, At: a.At, Action: a.Kind, Seq: a.Seq, Detail: a.Detail})
			}
			return nil
		})
		if err != nil {
			return nil, w.fail(err)
		}
	}
	w.tail.Audit.Entries = chain.Len()
	if err := chain.Verify(w.tail.Audit.Head); err != nil {
		w.tail.Audit.Verified, w.tail.Audit.Problem = false, err.Error()
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
		h.Templates = append(h.Templates, t)
	}
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return nil, w.fail(err)
	}
	// The object without its closing "\n}", the outcomes array opened.
	if _, err := fmt.Fprintf(js, "%s,\n  \"outcomes\": [", b[:len(b)-2]); err != nil {
		return nil, w.fail(err)
	}
	if err := w.csv.Write(csvHeader); err != nil {
		return nil, w.fail(err)
	}
	return w, nil
}

func (w *Writer) fail(err error) error {
	w.err = fmt.Errorf("write evidence of %s: %w", w.id, err)
	return w.err
}

// Add writes a record's outcomes. Records come in (notice, user) order,
// each once, as the outcomes are sorted.
func (w *Writer) Add(r ledger.Record) error {
	if w.err != nil {
		return w.err
	}
	if w.last != nil && cmp.Or(cmp.Compare(r.NoticeID, w.last.NoticeID), cmp.Compare(r.UserID, w.last.UserID)) <= 0 {
		return w.fail(fmt.Errorf("record %s/%s after %s/%s: records must come sorted by notice and user, each once",
			r.NoticeID, r.UserID, w.last.NoticeID, w.last.UserID))
	}
	w.last = &r.Recipient
	reach, why := ledger.ReachOf(r.Deliveries)
	w.reach[reachKey{r.NoticeID, reach}]++
	if reach == ledger.Unreachable {
		w.tail.Unreachable = append(w.tail.Unreachable, Unreachable{NoticeID: r.NoticeID, UserID: r.UserID, Reason: why})
	}
	for _, o := range outcomes(r) {
		if err := w.outcome(o); err != nil {
			return w.fail(err)
		}
	}
	return nil
}

func (w *Writer) outcome(o Outcome) error {
	b, err := json.MarshalIndent(o, "    ", "  ")
	if err != nil {
		return err
	}
	sep := ",\n    "
	if w.outcomes == 0 {
		sep = "\n    "
	}
	if _, err := io.WriteString(w.json, sep); err != nil {
		return err
	}
	if _, err := w.json.Write(b); err != nil {
		return err
	}
	at := ""
	if !o.At.IsZero() {
		at = o.At.UTC().Format(time.RFC3339Nano)
	}
	for i, v := range []string{w.id, o.NoticeID, o.UserID, string(o.Channel), o.DeviceID, string(o.Status),
		o.Reason, o.ProviderMessageID, o.Template, o.TemplateVersion, o.Locale, at} {
		w.row[i] = cell(v)
	}
	if err := w.csv.Write(w.row); err != nil {
		return err
	}
	w.outcomes++
	w.counts[countKey{o.NoticeID, o.Channel, o.Status}]++
	if o.Status == ledger.Sent {
		c := &w.tail.Clocks
		if c.FirstNoticeAt.IsZero() || o.At.Before(c.FirstNoticeAt) {
			c.FirstNoticeAt = o.At
		}
		if o.At.After(c.LastNoticeAt) {
			c.LastNoticeAt = o.At
		}
	}
	return nil
}

// Close writes the export's end: the notice clocks and the counts, which
// the outcomes gave, and the audit summary. It returns how many outcomes
// the export lists.
func (w *Writer) Close() (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.tail.Counts = []Count{}
	for k, c := range w.counts {
		w.tail.Counts = append(w.tail.Counts, Count{NoticeID: k.notice, Channel: k.channel, Status: k.status, N: c})
	}
	slices.SortFunc(w.tail.Counts, func(a, b Count) int {
		return cmp.Or(cmp.Compare(a.NoticeID, b.NoticeID), cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Status, b.Status))
	})
	w.tail.Reach = []ReachCount{}
	for k, n := range w.reach {
		w.tail.Reach = append(w.tail.Reach, ReachCount{NoticeID: k.notice, Reach: k.reach, N: n})
	}
	slices.SortFunc(w.tail.Reach, func(a, b ReachCount) int {
		return cmp.Or(cmp.Compare(a.NoticeID, b.NoticeID), cmp.Compare(a.Reach, b.Reach))
	})
	b, err := json.MarshalIndent(w.tail, "", "  ")
	if err != nil {
		return 0, w.fail(err)
	}
	end := "],"
	if w.outcomes > 0 {
		end = "\n  ],"
	}
	// The tail's fields without its opening "{", then the newline
	// encoding/json's Encoder ends a value with.
	if _, err := fmt.Fprintf(w.json, "%s%s\n", end, b[1:]); err != nil {
		return 0, w.fail(err)
	}
	w.csv.Flush()
	if err := w.csv.Error(); err != nil {
		return 0, w.fail(err)
	}
	w.err = errors.New("evidence: writer closed")
	return w.outcomes, nil
}

// outcomes are a record's deliveries as export rows, sorted by channel and
// device; a record with none yet is one Claimed row.
func outcomes(r ledger.Record) []Outcome {
	if len(r.Deliveries) == 0 {
		return []Outcome{{NoticeID: r.NoticeID, UserID: r.UserID, Template: r.Template, Status: Claimed, At: r.UpdatedAt.UTC()}}
	}
	out := make([]Outcome, 0, len(r.Deliveries))
	for _, d := range r.Deliveries {
		out = append(out, Outcome{
			NoticeID: d.NoticeID, UserID: d.UserID, Channel: d.Channel, DeviceID: d.DeviceID,
			Template: d.Template, Status: d.Status, Reason: d.Reason, ProviderMessageID: d.ProviderMessageID,
			TemplateVersion: d.TemplateVersion, Locale: d.Locale, At: d.UpdatedAt.UTC(),
		})
	}
	slices.SortStableFunc(out, func(a, b Outcome) int {
		return cmp.Or(cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.DeviceID, b.DeviceID))
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

// csvHeader is the CSV's first row; each outcome is a row after it.
// Cells are guarded against formula injection (see cell).
var csvHeader = []string{"incident_id", "notice_id", "user_id", "channel", "device_id", "status", "reason",
	"provider_message_id", "template", "template_version", "locale", "at"}

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
