package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"breachnotify/shared/audit"
	"breachnotify/shared/incident"
	"breachnotify/shared/notice"
	"breachnotify/shared/publicpage"
)

// Pages stores a rendered public page under key, served in locale ("" for
// the index), and returns the version id its versioned bucket gave it
// (package objstore's Publisher).
type Pages func(ctx context.Context, key string, body []byte, locale string) (versionID string, err error)

// Timeline appends to an incident's public updates, provided it still
// holds had of them (incident.ErrUpdatesChanged otherwise).
type Timeline interface {
	AddUpdate(ctx context.Context, id string, had int, u incident.Update) error
}

// Public is how the public notice pages are published.
type Public struct {
	Pages    Pages
	Timeline Timeline
	// URL is where the pages are served (publicpage.ParseBase); empty
	// when none is configured: the pages are published all the same.
	URL string
	// Contact is the contact point the pages name; empty names support
	// in the app. Brand is the company's name.
	Contact, Brand string
}

// Publication is what publish put out.
type Publication struct {
	// Pages are the pages by locale, and "index".
	Pages   map[string]PublishedPage `json:"pages"`
	Updates int                      `json:"updates"`
}

// PublishedPage is one page as published.
type PublishedPage struct {
	Key       string `json:"key"`
	VersionID string `json:"versionId,omitempty"`
	SHA256    string `json:"sha256"`
	// Address is where it is served, when PublicNoticeUrl is set.
	Address string `json:"address,omitempty"`
}

// publish renders the incident's public page in every locale, with the
// request's update added to its timeline, and puts the pages and their
// index in the public bucket, audited with each page's version and hash.
// It is a public statement on the company's behalf, so only the Function
// URL's signed caller may make it (Handler.allowed).
//
// The update is recorded first, so that the pages carry it; if a put then
// fails, publishing again without an update puts the same timeline.
func (h *Handler) publish(ctx context.Context, r Request, resp *Response) error {
	rec, err := h.get(ctx, r.IncidentID)
	if err != nil {
		return err
	}
	switch rec.State {
	case incident.StateSuspected:
		return &incident.TransitionError{From: rec.State, Action: "publish", Reason: "a suspicion is not announced; confirm it first"}
	case incident.StateCancelled:
		return &incident.TransitionError{From: rec.State, Action: "publish", Reason: "a cancelled incident is not announced"}
	}
	text := strings.TrimSpace(r.Update)
	switch {
	case text == "" && len(rec.Updates) == 0:
		return fmt.Errorf("%w: the first publication needs an update: what the company says now, for the page's timeline", ErrBadRequest)
	case text != "" && len(rec.Updates) >= incident.MaxUpdates:
		return fmt.Errorf("%w: the timeline holds %d updates, the most an incident keeps (the record's size); publish without an update to put the pages again", ErrBadRequest, len(rec.Updates))
	}
	now := h.Now()
	if text != "" {
		u := incident.Update{At: now, Text: text, By: r.Actor}
		if err := h.Public.Timeline.AddUpdate(ctx, rec.ID, len(rec.Updates), u); err != nil {
			return err
		}
		rec.Updates = append(rec.Updates, u)
	}
	pub := &Publication{Pages: map[string]PublishedPage{}, Updates: len(rec.Updates)}
	put := func(name, key, locale string, body []byte) error {
		v, err := h.Public.Pages(ctx, key, body, locale)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		p := PublishedPage{Key: key, VersionID: v, SHA256: hex.EncodeToString(sum[:])}
		if h.Public.URL != "" && locale != "" {
			p.Address = publicpage.Address(h.Public.URL, rec.ID, locale)
		}
		pub.Pages[name] = p
		return nil
	}
	for _, loc := range publicpage.Locales {
		page, err := h.page(rec, loc, now)
		if err != nil {
			return err
		}
		body, err := publicpage.Render(page)
		if err != nil {
			return err
		}
		if err := put(loc, publicpage.Key(rec.ID, loc), loc, body); err != nil {
			return err
		}
	}
	index, err := publicpage.RenderIndex(publicpage.Index{Brand: h.Public.Brand, IncidentID: rec.ID, Title: rec.Title, Base: h.Public.URL, PublishedAt: now})
	if err != nil {
		return err
	}
	if err := put("index", publicpage.IndexKey(rec.ID), "", index); err != nil {
		return err
	}
	detail := map[string]string{"locales": strings.Join(publicpage.Locales, ","), "updates": strconv.Itoa(len(rec.Updates))}
	if text != "" {
		// The update is public, but the trail keeps hashes, not prose.
		sum := sha256.Sum256([]byte(text))
		detail["updateSha256"] = hex.EncodeToString(sum[:])
	}
	for name, p := range pub.Pages {
		detail[name+".versionId"], detail[name+".sha256"] = p.VersionID, p.SHA256
	}
	if err := h.audit(ctx, r, audit.Published, detail); err != nil {
		return err
	}
	resp.Published = pub
	resp.Message = fmt.Sprintf("published %d pages and the index; the timeline has %d entries", len(publicpage.Locales), len(rec.Updates))
	if h.Public.URL != "" {
		resp.Message += "; served at " + publicpage.Address(h.Public.URL, rec.ID, "en")
	}
	return nil
}

// page is rec's public page in loc: what data and what to do in the words
// of its notices' templates, each template once.
func (h *Handler) page(rec incident.Record, loc string, now time.Time) (publicpage.Page, error) {
	p := publicpage.Page{Locale: loc, Brand: h.Public.Brand, IncidentID: rec.ID, Title: rec.Title, Summary: rec.Summary,
		State: rec.State, DetectedAt: rec.DetectedAt, ConfirmedAt: rec.ConfirmedAt, SendingAt: rec.SendingAt,
		CompletedAt: rec.CompletedAt, AuthorityNotifiedAt: rec.AuthorityNotifiedAt, Contact: h.Public.Contact,
		Updates: rec.Updates, PublishedAt: now}
	var seen []string
	for _, n := range rec.Notices {
		for _, ch := range n.Channels {
			if !slices.Contains(p.Channels, ch) {
				p.Channels = append(p.Channels, ch)
			}
		}
		if slices.Contains(seen, n.Template) {
			continue
		}
		seen = append(seen, n.Template)
		pt, err := notice.PublicText(n.Template, loc, notice.Data{IncidentID: rec.ID, FixedVersion: n.FixedVersion, Brand: h.Public.Brand})
		if err != nil {
			return p, err
		}
		p.Data = append(p.Data, pt.Data)
		p.Advice = append(p.Advice, pt.Advice...)
	}
	return p, nil
}
