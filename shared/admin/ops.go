package admin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"breachnotify/shared/audience"
	"breachnotify/shared/audit"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/evidence"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
	"breachnotify/shared/notice"
	"breachnotify/shared/plan"
	"breachnotify/shared/preflight"
	"breachnotify/shared/status"
)

// Status is an incident's progress (package status).
type Status = status.Status

func (h *Handler) rates(ctx context.Context) (map[incident.Channel]float64, error) {
	if h.Rates == nil {
		return nil, nil
	}
	return h.Rates(ctx)
}

func (h *Handler) status(ctx context.Context, id string) (Status, error) {
	rec, err := h.get(ctx, id)
	if err != nil {
		return Status{}, err
	}
	p, err := h.Progress.Read(ctx, id)
	if err != nil {
		return Status{}, err
	}
	rates, err := h.rates(ctx)
	if err != nil {
		return Status{}, err
	}
	return status.Compute(rec, p, rates, h.Policy, h.Now()), nil
}

// Preview is what an incident would send, before anyone approves it.
type Preview struct {
	// Counts are recipients per notice, channel and locale, from the
	// batches held for approval or the notices' explicit user ids; for a
	// cohort not planned yet, only the frozen totals are known.
	Counts []PreviewCount `json:"counts"`
	// Members is how many notice × user pairs the counts cover.
	Members int `json:"members"`
	// Audience is the frozen audience once planning has counted it: the
	// number an approver approves (its members, per notice, with the
	// named ids no user has and an audience file's invalid lines).
	Audience *incident.FrozenAudience `json:"audience,omitempty"`
	// Samples are each notice rendered in each locale it will use, for a
	// placeholder recipient: rendered, not sent.
	Samples    []Sample `json:"samples"`
	ETASeconds *float64 `json:"etaSeconds,omitempty"`
	Note       string   `json:"note,omitempty"`
	// Preflight says whether the providers would take these notices now
	// (an unverified sender, the SES sandbox, a disabled platform
	// application), so an approver sees it before approving.
	Preflight *preflight.Verdict `json:"preflight,omitempty"`
}

// PreviewCount is one notice × channel × locale.
type PreviewCount struct {
	NoticeID string           `json:"noticeId"`
	Channel  incident.Channel `json:"channel"`
	Locale   string           `json:"locale"`
	Count    int              `json:"count"`
}

// Sample is a notice rendered in one locale.
type Sample struct {
	NoticeID  string `json:"noticeId"`
	Locale    string `json:"locale"`
	Version   string `json:"version"`
	Subject   string `json:"subject"`
	Text      string `json:"text"`
	PushTitle string `json:"pushTitle"`
	PushBody  string `json:"pushBody"`
}

// previewMembers caps how many members preview reads users for: beyond it
// the counts are a sample, and say so.
const previewMembers = 10000

func (h *Handler) preview(ctx context.Context, r Request, resp *Response) error {
	rec, err := h.get(ctx, r.IncidentID)
	if err != nil {
		return err
	}
	sample, err := h.Samples.Samples(ctx, r.IncidentID)
	if err != nil {
		return err
	}
	members := map[string][]audience.Member{}
	for notice, ids := range sample {
		for _, id := range ids {
			members[notice] = append(members[notice], audience.Member{UserID: id, AllDevices: true})
		}
	}
	p := &Preview{}
	for i, n := range rec.Notices {
		id := incident.NoticeID(i, n.Template)
		if len(members[id]) > 0 {
			continue
		}
		// Not planned yet: the named users are known, a cohort is not.
		for _, uid := range n.Audience.UserIDs {
			members[id] = append(members[id], audience.Member{UserID: uid, AllDevices: true})
		}
		if n.Audience.HasCohort() {
			p.Note = "a cohort is counted when planned; until then only its named users are shown"
		}
		if n.Audience.File != "" {
			p.Note = "an audience file is counted when planned; until then nothing of it is shown"
		}
	}
	p.Audience = rec.Audience
	if rec.Audience != nil {
		for _, n := range rec.Audience.Notices {
			if len(members[n.NoticeID]) < n.Members {
				p.Note = fmt.Sprintf("locale counts are from a sample of up to %d members per shard, of the frozen audience's %d", plan.SampleSize, rec.Audience.Members)
			}
		}
	}
	total := 0
	for _, ms := range members {
		total += len(ms)
	}
	if total > previewMembers {
		p.Note = fmt.Sprintf("locales counted over the first %d of %d members", previewMembers, total)
	}
	locales := map[string]map[string]bool{}
	for i, n := range rec.Notices {
		id := incident.NoticeID(i, n.Template)
		ms := members[id]
		locales[id] = map[string]bool{}
		counts := map[incident.Channel]map[string]int{}
		for start := 0; start < len(ms) && start < previewMembers; start += 100 {
			chunk := ms[start:min(start+100, len(ms), previewMembers)]
			ids := make([]string, len(chunk))
			for j, m := range chunk {
				ids[j] = m.UserID
			}
			users, err := h.Users.Get(ctx, ids)
			if err != nil {
				return err
			}
			for _, m := range chunk {
				u, ok := users[m.UserID]
				if !ok {
					continue
				}
				loc, _ := notice.Resolve(n.Template, u.Locale)
				locales[id][loc] = true
				for _, ch := range n.Routes() {
					if (ch == incident.Email && u.Email == "") || (ch == incident.Push && len(u.Devices) == 0) {
						continue
					}
					if counts[ch] == nil {
						counts[ch] = map[string]int{}
					}
					counts[ch][loc]++
				}
			}
		}
		p.Members += len(ms)
		for _, ch := range n.Routes() {
			for _, loc := range slices.Sorted(maps.Keys(counts[ch])) {
				p.Counts = append(p.Counts, PreviewCount{NoticeID: id, Channel: ch, Locale: loc, Count: counts[ch][loc]})
			}
		}
		if len(locales[id]) == 0 {
			locales[id]["en"] = true
		}
		for _, loc := range slices.Sorted(maps.Keys(locales[id])) {
			msg, err := notice.Render(n.Template, loc, notice.Data{Name: "Alex Example", IncidentID: rec.ID, Title: rec.Title, FixedVersion: n.FixedVersion,
				Brand: h.Public.Brand, PublicNoticeURL: h.Public.URL})
			if err != nil {
				return err
			}
			p.Samples = append(p.Samples, Sample{NoticeID: id, Locale: msg.Locale, Version: msg.Version, Subject: msg.Email.Subject,
				Text: msg.Email.Text, PushTitle: msg.Push.Title, PushBody: msg.Push.Body})
		}
	}
	if st, err := h.status(ctx, r.IncidentID); err == nil {
		p.ETASeconds = st.ETASeconds
	}
	if len(h.Probes) > 0 {
		v := h.verdict(ctx)
		p.Preflight = &v
	}
	resp.Preview = p
	return nil
}

// maxManual bounds a manual send, as an event's explicit audience is.
const maxManual = incident.MaxUserIDs

// send is a manual send of a notice to explicit users, through the same
// ledger as everything else: a user whose record for the notice is done is
// not queued again.
func (h *Handler) send(ctx context.Context, r Request, resp *Response) error {
	n := incident.Notice{Template: r.Template, Channels: channelsOf(r), FixedVersion: r.FixedVersion,
		Audience: incident.Audience{UserIDs: r.UserIDs}}
	rec, found, err := h.Incidents.Get(ctx, r.IncidentID)
	if err != nil {
		return err
	}
	if found && rec.State != incident.StateSending {
		return &incident.TransitionError{From: rec.State, Action: "send",
			Reason: "a manual send joins an incident that is sending; " + sendAdvice(rec.State)}
	}
	now := h.Now()
	if !found {
		rec = incident.Record{Incident: incident.Incident{ID: r.IncidentID, Status: incident.Confirmed, Title: r.Title,
			DetectedAt: now, ConfirmedAt: now, ConfirmedBy: r.Actor, Notices: []incident.Notice{n}},
			State: incident.StateSending, Source: "admin", ReceivedAt: now, SendingAt: now}
	}
	// The same rules as an event's, for the incident with this notice.
	check := rec.Incident
	check.Notices = []incident.Notice{n}
	if err := check.Validate(h.KnownTemplate); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if len(r.UserIDs) > maxManual {
		return fmt.Errorf("%w: %d user ids, more than %d", ErrBadRequest, len(r.UserIDs), maxManual)
	}
	// planned is the audience a planner already counted for this notice,
	// if any. A created incident's only notice is this send's own: no one
	// counted it, so every user it queues is counted below.
	noticeID := ""
	var planned *incident.Audience
	if found {
		for i, existing := range rec.Notices {
			if existing.Template == r.Template {
				noticeID, planned = incident.NoticeID(i, existing.Template), &existing.Audience
				break
			}
		}
	}
	if !found {
		// Created before it is audited: a create that fails (another door
		// created the incident meanwhile) leaves no entry behind.
		if err := h.Incidents.Create(ctx, rec); err != nil {
			return err
		}
		if err := h.audit(ctx, r, audit.Confirmed, map[string]string{"via": "manual-send"}); err != nil {
			return err
		}
		noticeID = incident.NoticeID(0, r.Template)
	} else if noticeID == "" {
		noticeID = incident.NoticeID(len(rec.Notices), r.Template)
		if err := h.Incidents.AddNotice(ctx, rec.ID, n); err != nil {
			return err
		}
	}
	ids := slices.Compact(slices.Sorted(slices.Values(r.UserIDs)))
	rs := make([]ledger.Recipient, len(ids))
	for i, id := range ids {
		rs[i] = ledger.Recipient{IncidentID: rec.ID, NoticeID: noticeID, UserID: id}
	}
	records, err := h.Ledger.Get(ctx, rs)
	if err != nil {
		return err
	}
	var members []audience.Member
	var unrecorded []string
	for _, rc := range rs {
		rec, ok := records[rc]
		switch {
		case ok && rec.State == ledger.Done:
			resp.AlreadyNotified = append(resp.AlreadyNotified, rc.UserID)
			continue
		case !ok:
			unrecorded = append(unrecorded, rc.UserID)
		}
		members = append(members, audience.Member{UserID: rc.UserID, AllDevices: true})
	}
	fresh, err := h.unplanned(ctx, planned, unrecorded)
	if err != nil {
		return err
	}
	detail := map[string]string{"notice": noticeID, "template": r.Template, "users": strconv.Itoa(len(ids)),
		"queued": strconv.Itoa(len(members)), "alreadyNotified": strconv.Itoa(len(resp.AlreadyNotified))}
	if len(ids) <= 50 {
		detail["userIds"] = strings.Join(ids, ",")
	}
	if err := h.audit(ctx, r, audit.ManualSend, detail); err != nil {
		return err
	}
	if err := h.Progress.Plan(ctx, rec.ID, map[string]int{noticeID: fresh}, true); err != nil {
		return err
	}
	b := dispatch.Batch{IncidentID: rec.ID, NoticeID: noticeID, Template: r.Template,
		Channels: n.Channels, FixedVersion: r.FixedVersion}
	resp.Requeued, err = h.queue(ctx, b, members)
	resp.Message = fmt.Sprintf("%d queued, %d already notified", len(members), len(resp.AlreadyNotified))
	return err
}

// unplanned counts the users of ids outside the audience a notice was
// planned for (nil: none), so that a manual send adds to the recipients
// planned only those the planning did not count already.
func (h *Handler) unplanned(ctx context.Context, planned *incident.Audience, ids []string) (int, error) {
	if planned == nil || len(ids) == 0 {
		return len(ids), nil
	}
	users, err := h.Users.Get(ctx, ids)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if u, ok := users[id]; !ok || !audience.Contains(*planned, u) {
			n++
		}
	}
	return n, nil
}

func sendAdvice(s incident.State) string {
	switch s {
	case incident.StateSuspected:
		return "confirm it first"
	case incident.StateConfirmed:
		return "its audience is being planned; try again in a moment"
	case incident.StateAwaitingApproval:
		return "approve it first"
	}
	return "use a new incident id for a follow-up"
}

// queue sends members in batches of the configured size.
func (h *Handler) queue(ctx context.Context, b dispatch.Batch, members []audience.Member) (int, error) {
	size := max(h.BatchSize, 1)
	n := 0
	for start := 0; start < len(members); start += size {
		b.Members = members[start:min(start+size, len(members))]
		if err := dispatch.Requeue(ctx, h.Queue, b); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// resendFailed queues again the recipients whose last state is a
// retryable failure: an open record (pending deliveries, not paused: a
// resume handles those) whose batch gave up, for example after reaching
// the dead-letter queue. Permanent failures are never retried.
func (h *Handler) resendFailed(ctx context.Context, r Request, resp *Response) error {
	rec, err := h.get(ctx, r.IncidentID)
	if err != nil {
		return err
	}
	if !rec.State.Sends() {
		return &incident.TransitionError{From: rec.State, Action: "resend-failed", Reason: "only a sending incident sends"}
	}
	type key struct {
		notice, template string
		ch               incident.Channel
	}
	fixed := map[string]string{}
	for i, n := range rec.Notices {
		fixed[incident.NoticeID(i, n.Template)] = n.FixedVersion
	}
	// Members wait per notice and channel until they fill a batch, so
	// what is held is a batch per group, not the incident's failures.
	groups := map[key][]audience.Member{}
	size := max(h.BatchSize, 1)
	flush := func(k key) error {
		b := dispatch.Batch{IncidentID: rec.ID, NoticeID: k.notice, Template: k.template,
			Channels: []incident.Channel{k.ch}, FixedVersion: fixed[k.notice]}
		n, err := h.queue(ctx, b, groups[k])
		resp.Requeued += n
		groups[k] = nil
		return err
	}
	add := func(k key, m audience.Member) error {
		groups[k] = append(groups[k], m)
		if len(groups[k]) < size {
			return nil
		}
		return flush(k)
	}
	count := 0
	err = h.Ledger.Each(ctx, r.IncidentID, func(rc ledger.Record) error {
		if rc.State != ledger.Open {
			return nil
		}
		var devices []string
		email := false
		for _, d := range rc.Deliveries {
			if d.Status != ledger.Pending || d.Reason == ledger.Paused {
				continue
			}
			if d.Channel == incident.Email {
				email = true
			} else if d.DeviceID != ledger.NoDeviceID {
				devices = append(devices, d.DeviceID)
			}
		}
		if email || len(devices) > 0 {
			count++
		}
		if email {
			if err := add(key{rc.NoticeID, rc.Template, incident.Email}, audience.Member{UserID: rc.UserID, AllDevices: true}); err != nil {
				return err
			}
		}
		if len(devices) > 0 {
			return add(key{rc.NoticeID, rc.Template, incident.Push}, audience.Member{UserID: rc.UserID, DeviceIDs: devices})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range slices.SortedFunc(maps.Keys(groups), func(a, b key) int {
		return strings.Compare(a.notice+string(a.ch), b.notice+string(b.ch))
	}) {
		if len(groups[k]) == 0 {
			continue
		}
		if err := flush(k); err != nil {
			return err
		}
	}
	resp.Message = fmt.Sprintf("%d recipients with retryable failures queued again", count)
	return h.audit(ctx, r, audit.ResendFailed, map[string]string{"recipients": strconv.Itoa(count), "batches": strconv.Itoa(resp.Requeued)})
}

func (h *Handler) export(ctx context.Context, r Request, resp *Response) error {
	rec, err := h.get(ctx, r.IncidentID)
	if err != nil {
		return err
	}
	// Audited first, so the export contains its own entry.
	now := h.Now()
	if err := h.audit(ctx, r, audit.Exported, map[string]string{"formats": "json,csv"}); err != nil {
		return err
	}
	prefix := fmt.Sprintf("exports/%s/%s", r.IncidentID, now.UTC().Format("20060102T150405Z"))
	js, err := h.Exports(ctx, prefix+".json", "application/json")
	if err != nil {
		return err
	}
	csv, err := h.Exports(ctx, prefix+".csv", "text/csv")
	if err != nil {
		return errors.Join(err, js.Abort())
	}
	// One pass over the ledger writes both files, each a part at a time.
	links := &ExportLinks{}
	err = func() error {
		trail := func(fn func(audit.Entry) error) (audit.Head, error) {
			if err := h.Audit.Each(ctx, r.IncidentID, fn); err != nil {
				return audit.Head{}, err
			}
			return h.Audit.Head(ctx, r.IncidentID)
		}
		ex, err := evidence.NewWriter(evidence.Inputs{Incident: rec, AuditTrail: trail,
			Actor: r.Actor, Now: now, TemplateVersion: h.TemplateVersion}, js, csv)
		if err != nil {
			return err
		}
		if err := h.Ledger.Each(ctx, r.IncidentID, ex.Add); err != nil {
			return err
		}
		links.Outcomes, err = ex.Close()
		return err
	}()
	if err == nil {
		links.JSONURL, err = js.Close()
	}
	if err != nil {
		return errors.Join(err, js.Abort(), csv.Abort())
	}
	if links.CSVURL, err = csv.Close(); err != nil {
		return errors.Join(err, csv.Abort())
	}
	resp.Export = links
	return nil
}
