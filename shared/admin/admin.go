// Package admin is the admin function: operations an accountable person
// runs on an incident. Every request has an actor and every decision is
// written to the incident's audit trail, with the door it came through.
// Through the Function URL the actor is the person the admin directory
// names for the IAM caller; a direct invocation names its own actor, which
// nothing authenticates, so it may run only the kill switch (cancel), the
// operations that read, and a small manual send.
package admin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"breachnotify/shared/audience"
	"breachnotify/shared/audit"
	"breachnotify/shared/deadline"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/errs"
	"breachnotify/shared/identity"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
	"breachnotify/shared/lifecycle"
	"breachnotify/shared/preflight"
)

// Request is one admin operation.
type Request struct {
	Operation string `json:"operation"`
	// Actor is who does it. Only a direct invocation's counts: through the
	// Function URL the actor is the signed caller's person, and the admin
	// CLI leaves it out rather than suggest otherwise.
	Actor string `json:"actor,omitempty"`
	// IncidentID is absent for the operations WithoutIncident.
	IncidentID string `json:"incidentId,omitempty"`
	// Channel limits resume and send to one channel; empty means both.
	Channel incident.Channel `json:"channel,omitempty"`
	// For send: who, with which template, and the incident's title if the
	// send creates it.
	UserIDs      []string `json:"userIds,omitempty"`
	Template     string   `json:"template,omitempty"`
	FixedVersion string   `json:"fixedVersion,omitempty"`
	Title        string   `json:"title,omitempty"`
	// Reason is a cancellation's.
	Reason string `json:"reason,omitempty"`
	// At is when the authority was notified (authority-notified); now if
	// empty.
	At time.Time `json:"at,omitzero"`
	// Update is publish's new entry in the public page's timeline: what
	// the company says now, in plain language (at most
	// incident.MaxUpdateRunes characters). Empty puts the pages again.
	Update string `json:"update,omitempty"`

	// caller is the door's word on who sent the request, for the audit.
	caller Caller
}

// Door is how a request reached the function.
type Door string

const (
	// DoorURL is the Function URL (AuthType AWS_IAM): the actor is the
	// directory's person for the IAM caller.
	DoorURL Door = "url"
	// DoorInvoke is a direct invocation: the actor is whatever the
	// request claims.
	DoorInvoke Door = "invoke"
)

// Caller is who sent a request, as its door established it.
type Caller struct {
	Door Door
	// Principal is the IAM caller's ARN (DoorURL only).
	Principal string
}

// detail is what the audit records of c besides the actor.
func (c Caller) detail() map[string]string {
	d := map[string]string{"door": string(c.Door)}
	if c.Principal != "" {
		d["principal"] = c.Principal
	}
	return d
}

// Response reports what an operation did.
type Response struct {
	Operation  string         `json:"operation"`
	IncidentID string         `json:"incidentId"`
	Actor      string         `json:"actor"`
	State      incident.State `json:"state,omitempty"`
	Message    string         `json:"message,omitempty"`
	Status     *Status        `json:"status,omitempty"`
	Preview    *Preview       `json:"preview,omitempty"`
	Export     *ExportLinks   `json:"export,omitempty"`
	Verify     *Verification  `json:"verify,omitempty"`
	Resumed    map[string]int `json:"resumed,omitempty"`
	Replay     *Replay        `json:"replay,omitempty"`
	// Preflight is the preflight operation's verdict.
	Preflight *preflight.Verdict `json:"preflight,omitempty"`
	// Requeued counts batches queued again (approve, cancel, send,
	// resend-failed).
	Requeued int `json:"requeued,omitempty"`
	// AlreadyNotified lists the user ids a manual send skipped.
	AlreadyNotified []string `json:"alreadyNotified,omitempty"`
	// Published is what publish put out.
	Published *Publication `json:"published,omitempty"`
}

// Verification is the result of checking an incident's audit chain.
type Verification struct {
	OK      bool   `json:"ok"`
	Entries int    `json:"entries"`
	Head    string `json:"head"`
	Problem string `json:"problem,omitempty"`
}

// ExportLinks are pre-signed links to an evidence export.
type ExportLinks struct {
	JSONURL string `json:"jsonUrl"`
	CSVURL  string `json:"csvUrl"`
	// Outcomes is how many delivery outcomes the export lists.
	Outcomes int `json:"outcomes"`
}

// ErrBadRequest marks a request that cannot be carried out as written.
var ErrBadRequest = errs.New(errs.Invalid, "bad request")

// ErrForbidden marks a request its caller may not make: an operation that
// needs the Function URL sent by direct invocation, or a Function URL
// caller the admin directory does not know.
var ErrForbidden = errs.New(errs.Forbidden, "forbidden")

// Incidents reads and writes incident records.
type Incidents interface {
	Get(ctx context.Context, id string) (incident.Record, bool, error)
	// Create writes a new incident, failing if one exists.
	Create(ctx context.Context, r incident.Record) error
	// AddNotice appends a notice to an incident's notices.
	AddNotice(ctx context.Context, id string, n incident.Notice) error
	// SetAuthorityNotified records when the authority was told.
	SetAuthorityNotified(ctx context.Context, id string, at time.Time) error
}

// Ledger reads recipients' records.
type Ledger interface {
	// Each calls fn with every record of an incident, in (notice, user)
	// order, reading them a page at a time: an incident's records may not
	// fit in memory.
	Each(ctx context.Context, incidentID string, fn func(ledger.Record) error) error
	Get(ctx context.Context, rs []ledger.Recipient) (map[ledger.Recipient]ledger.Record, error)
}

// Users reads user records by id; missing ids are absent from the map.
type Users interface {
	Get(ctx context.Context, ids []string) (map[string]audience.User, error)
}

// ProgressStore reads and plans sending progress.
type ProgressStore interface {
	Read(ctx context.Context, incidentID string) (ledger.Progress, error)
	Plan(ctx context.Context, incidentID string, planned map[string]int, add bool) error
}

// AuditStore reads and appends to audit trails.
type AuditStore interface {
	Append(ctx context.Context, e audit.Entry) error
	// Each calls fn with an incident's entries in seq order, a page at a
	// time: a large incident's trail holds an entry per batch.
	Each(ctx context.Context, incidentID string, fn func(audit.Entry) error) error
	Head(ctx context.Context, incidentID string) (audit.Head, error)
}

// Exports starts an export file under key (package objstore).
type Exports func(ctx context.Context, key, contentType string) (ExportWriter, error)

// ExportWriter is an export file being stored as it is written, in bounded
// memory. Close stores it and returns a pre-signed link to it; after a
// failure, Abort discards what was written.
type ExportWriter interface {
	io.Writer
	Close() (string, error)
	Abort() error
}

// Rates are the current send rates per second, by channel.
type Rates func(ctx context.Context) (map[incident.Channel]float64, error)

// Handler runs admin operations.
type Handler struct {
	Incidents Incidents
	Lifecycle *lifecycle.Lifecycle
	Lot       dispatch.ParkingLot
	// Samples are the member ids planning kept per notice, for preview.
	Samples interface {
		Samples(ctx context.Context, incidentID string) (map[string][]string, error)
	}
	Queue    dispatch.Queue
	Ledger   Ledger
	Progress ProgressStore
	Audit    AuditStore
	Users    Users
	Exports  Exports
	Rates    Rates
	Policy   deadline.Policy
	// KnownTemplate and TemplateVersion come from package notice.
	KnownTemplate   func(string) bool
	TemplateVersion func(string) string
	BatchSize       int
	// Probes are preflight's checks of the providers; preview shows their
	// verdict too.
	Probes []Prober
	// Directory names the person behind each IAM caller of the Function
	// URL.
	Directory *identity.Directory
	// AutoSendLimit is the largest manual send a direct invocation may
	// make: what an automated trigger may send without approval.
	AutoSendLimit int
	Log           *slog.Logger
	Now           func() time.Time

	// IntakeFailures and Intake replay the events intake failed on.
	IntakeFailures IntakeFailures
	Intake         Intake
	// Public publishes the public notice pages.
	Public Public
}

// Operations are the operations Handle serves; the admin CLI offers
// exactly these.
var Operations = []string{"preview", "confirm", "approve", "cancel", "resume", "send", "resend-failed", "status", "export", "verify", "authority-notified", "replay-intake", "preflight", "publish"}

// WithoutIncident are the operations that concern no incident.
var WithoutIncident = []string{"replay-intake", "preflight"}

// Handle runs one operation for c. Errors wrap ErrBadRequest,
// ErrForbidden, incident.ErrIllegalTransition or lifecycle.ErrNotFound
// when the request cannot succeed as written; other errors are worth
// retrying.
func (h *Handler) Handle(ctx context.Context, c Caller, r Request) (Response, error) {
	if err := h.validate(r); err != nil {
		return Response{}, err
	}
	if err := h.allowed(c, r); err != nil {
		h.Log.WarnContext(ctx, "admin operation refused at the door", "operation", r.Operation, "incidentId", r.IncidentID, "door", string(c.Door))
		return Response{}, err
	}
	r.caller = c
	by := lifecycle.By{Actor: r.Actor, Detail: c.detail()}
	resp := Response{Operation: r.Operation, IncidentID: r.IncidentID, Actor: r.Actor}
	var err error
	switch r.Operation {
	case "preview":
		err = h.preview(ctx, r, &resp)
	case "confirm":
		var rec incident.Record
		rec, err = h.Lifecycle.Confirm(ctx, r.IncidentID, by, h.KnownTemplate)
		resp.State = rec.State
	case "approve":
		resp.Requeued, err = h.Lifecycle.Approve(ctx, r.IncidentID, by)
	case "cancel":
		resp.Requeued, err = h.Lifecycle.Cancel(ctx, r.IncidentID, by, r.Reason)
	case "resume":
		err = h.resume(ctx, r, &resp)
	case "send":
		err = h.send(ctx, r, &resp)
	case "resend-failed":
		err = h.resendFailed(ctx, r, &resp)
	case "status":
		var st Status
		st, err = h.status(ctx, r.IncidentID)
		resp.Status, resp.State = &st, st.State
	case "export":
		err = h.export(ctx, r, &resp)
	case "verify":
		err = h.verify(ctx, r, &resp)
	case "authority-notified":
		err = h.authorityNotified(ctx, r, &resp)
	case "replay-intake":
		err = h.replayIntake(ctx, r, &resp)
	case "preflight":
		h.preflight(ctx, &resp)
	case "publish":
		err = h.publish(ctx, r, &resp)
	default:
		// Listed in Operations but served by no case: a bug, said as one.
		err = fmt.Errorf("operation %q is listed but not served", r.Operation)
	}
	if err != nil {
		// Admin ids may be emails: the error goes back to the caller, and
		// only the operation and incident are logged.
		h.Log.WarnContext(ctx, "admin operation refused or failed", "operation", r.Operation, "incidentId", r.IncidentID, "class", errClass(err))
		return resp, err
	}
	if resp.State == "" && r.IncidentID != "" {
		if rec, found, gerr := h.Incidents.Get(ctx, r.IncidentID); gerr == nil && found {
			resp.State = rec.State
		}
	}
	h.Log.InfoContext(ctx, "admin operation", "operation", r.Operation, "incidentId", r.IncidentID, "state", string(resp.State), "requeued", resp.Requeued)
	return resp, nil
}

// errClass is the error's class in the one taxonomy (package errs).
func errClass(err error) string { return errs.Class(err) }

func (h *Handler) validate(r Request) error {
	var p []string
	if strings.TrimSpace(r.Actor) == "" {
		p = append(p, "actor is required: who is doing this is recorded")
	}
	if slices.Contains(WithoutIncident, r.Operation) {
		if r.IncidentID != "" {
			p = append(p, fmt.Sprintf("%s concerns no incident: leave incidentId out", r.Operation))
		}
	} else if !incident.ValidID(r.IncidentID) {
		p = append(p, fmt.Sprintf("incidentId %q is not an incident id", r.IncidentID))
	}
	if !slices.Contains(Operations, r.Operation) {
		p = append(p, fmt.Sprintf("operation %q must be one of %q", r.Operation, Operations))
	}
	if msg := incident.TextProblem(r.Update, incident.MaxUpdateRunes, true); msg != "" {
		p = append(p, "update "+msg)
	}
	if r.Update != "" && r.Operation != "publish" {
		p = append(p, "update goes with publish")
	}
	if r.Channel != "" && r.Channel != incident.Email && r.Channel != incident.Push {
		p = append(p, fmt.Sprintf("channel %q must be %q or %q", r.Channel, incident.Email, incident.Push))
	}
	if len(p) > 0 {
		return fmt.Errorf("%w: %s", ErrBadRequest, strings.Join(p, "; "))
	}
	return nil
}

// allowed says whether c may run r. Through the Function URL, anything; by
// direct invocation, whose actor nothing authenticates, only the kill
// switch, the operations that read, and a manual send no larger than an
// automated trigger may make without approval. Confirm and approve in
// particular need the URL: the two-person rule is only as good as the
// identities it compares.
func (h *Handler) allowed(c Caller, r Request) error {
	if c.Door == DoorURL {
		return nil
	}
	switch r.Operation {
	case "cancel", "preview", "status", "export", "verify", "preflight":
		return nil
	case "send":
		if len(r.UserIDs) <= h.AutoSendLimit {
			return nil
		}
		return fmt.Errorf("%w: a direct invocation may send to at most %d users (AutoSendLimit), not %d; send through the Function URL",
			ErrForbidden, h.AutoSendLimit, len(r.UserIDs))
	}
	return fmt.Errorf("%w: %s is accepted only through the Function URL, where the actor is the signed IAM caller", ErrForbidden, r.Operation)
}

func channelsOf(r Request) []incident.Channel {
	if r.Channel != "" {
		return []incident.Channel{r.Channel}
	}
	return []incident.Channel{incident.Email, incident.Push}
}

func (h *Handler) resume(ctx context.Context, r Request, resp *Response) error {
	resp.Resumed = map[string]int{}
	for _, ch := range channelsOf(r) {
		n, err := dispatch.Resume(ctx, h.Lot, h.Queue, r.IncidentID, ch)
		if err != nil {
			return err
		}
		resp.Resumed[string(ch)] = n
	}
	return h.audit(ctx, r, audit.Resumed, map[string]string{
		"email": fmt.Sprint(resp.Resumed["email"]), "push": fmt.Sprint(resp.Resumed["push"]),
	})
}

// verify checks an incident's audit chain, an entry at a time.
func (h *Handler) verify(ctx context.Context, r Request, resp *Response) error {
	var chain audit.Chain
	err := h.Audit.Each(ctx, r.IncidentID, func(e audit.Entry) error {
		chain.Add(e)
		return nil
	})
	if err != nil {
		return err
	}
	head, err := h.Audit.Head(ctx, r.IncidentID)
	if err != nil {
		return err
	}
	v := &Verification{OK: true, Entries: chain.Len(), Head: head.Hash}
	if err := chain.Verify(head); err != nil {
		v.OK, v.Problem = false, err.Error()
	}
	resp.Verify = v
	return nil
}

func (h *Handler) authorityNotified(ctx context.Context, r Request, resp *Response) error {
	rec, err := h.get(ctx, r.IncidentID)
	if err != nil {
		return err
	}
	at := r.At
	if at.IsZero() {
		at = h.Now()
	}
	if msg := incident.TimeProblem(at, h.Now()); msg != "" {
		return fmt.Errorf("%w: at %s", ErrBadRequest, msg)
	}
	if at.Before(rec.DetectedAt) {
		return fmt.Errorf("%w: at %s is before the incident was detected", ErrBadRequest, at.Format(time.RFC3339))
	}
	if err := h.audit(ctx, r, audit.AuthorityNotified, map[string]string{"at": at.UTC().Format(time.RFC3339)}); err != nil {
		return err
	}
	resp.Message = "authority notification recorded"
	return h.Incidents.SetAuthorityNotified(ctx, r.IncidentID, at)
}

func (h *Handler) get(ctx context.Context, id string) (incident.Record, error) {
	rec, found, err := h.Incidents.Get(ctx, id)
	if err != nil {
		return rec, fmt.Errorf("read incident %s: %w", id, err)
	}
	if !found {
		return rec, fmt.Errorf("incident %s: %w", id, lifecycle.ErrNotFound)
	}
	return rec, nil
}

// audit appends an entry by r's actor, with how the actor was identified.
func (h *Handler) audit(ctx context.Context, r Request, k audit.Kind, detail map[string]string) error {
	d := r.caller.detail()
	maps.Copy(d, detail)
	if err := h.Audit.Append(ctx, audit.Entry{IncidentID: r.IncidentID, At: h.Now(), Actor: r.Actor, Kind: k, Detail: d}); err != nil {
		return fmt.Errorf("audit %s of %s: %w", k, r.IncidentID, err)
	}
	return nil
}
