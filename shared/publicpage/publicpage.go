// Package publicpage renders an incident's public notice page: the public
// communication GDPR Art. 34(3)(c) asks for when individual notice is not
// possible, and the conspicuous website posting of US substitute notice.
//
// The page follows Art. 34(2): in plain language, what happened, what data,
// what the company did, what the reader should do (the notices' own advice,
// package notice), a contact point, and a dated timeline of updates. It is
// one static HTML file per locale: no JavaScript, no remote resources, no
// links (readers are told to type addresses, never to follow them), inline
// CSS only, and readable without it. It meets WCAG 2.1 AA: a language
// attribute, one h1 and ordered headings, text contrast of at least 4.5:1,
// and the status said in words, not by colour alone.
package publicpage

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strings"
	"time"

	"breachnotify/shared/incident"
)

// Locales are the languages every page is published in.
var Locales = []string{"en", "es", "de"}

// Key is the object key of an incident's page in one locale. The bucket
// is served (through CloudFront) so that PublicNoticeUrl names its
// "incidents/" folder.
func Key(incidentID, locale string) string { return "incidents/" + incidentID + "/" + locale + ".html" }

// IndexKey is the object key of an incident's index: which languages its
// page is in, and their addresses.
func IndexKey(incidentID string) string { return "incidents/" + incidentID + "/index.html" }

// Address is where the page of an incident in one locale is served, under
// base (PublicNoticeUrl, as ParseBase returns it).
func Address(base, incidentID, locale string) string {
	return base + "/" + incidentID + "/" + locale + ".html"
}

// Text is Address as a notice names it: without the scheme, to be read
// and typed, not followed (notices carry no links).
func Text(base, incidentID, locale string) string {
	a := Address(base, incidentID, locale)
	if i := strings.Index(a, "://"); i >= 0 {
		return a[i+3:]
	}
	return a
}

// ParseBase checks PublicNoticeUrl: an absolute http(s) address with a
// host and nothing a reader could not type or should not see (user
// information, query, fragment). It returns it without a trailing slash;
// empty stays empty (no public address configured).
func ParseBase(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("public notice URL %q: %w", s, err)
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
		return "", fmt.Errorf("public notice URL %q: want https://host/path", s)
	case u.User != nil, u.RawQuery != "", u.Fragment != "", u.ForceQuery:
		return "", fmt.Errorf("public notice URL %q: no user, query or fragment", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// The colours, each pair at least WCAG AA's contrast (the test computes
// the ratios): text 4.5:1, a component's border against the page 3:1.
const (
	colourText       = "#1a1a1a" // body text on colourPage
	colourPage       = "#ffffff"
	colourMuted      = "#4d4d4d" // dates and the reference, on colourPage
	colourOngoing    = "#fff4ce" // status box background while notifying
	colourOngoingBar = "#8a5a00" // its border
	colourDone       = "#e3f1e6" // status box background once notified
	colourDoneBar    = "#1e6b34" // its border
)

// Page is one incident's public page in one locale.
type Page struct {
	Locale string
	Brand  string
	// The incident as recorded: its id, title and summary are shown as
	// written, in the language they were written in.
	IncidentID, Title, Summary string
	State                      incident.State
	DetectedAt, ConfirmedAt    time.Time
	SendingAt, CompletedAt     time.Time
	AuthorityNotifiedAt        time.Time
	// Channels are how the people affected are told individually.
	Channels []incident.Channel
	// Data and Advice come from the notices' templates (notice.PublicText):
	// what data, and what to do, in the notices' own words.
	Data   []string
	Advice []string
	// Contact is the contact point (GDPR Art. 33(3)(b)); empty says to
	// contact support through the app.
	Contact string
	// Updates is the timeline, oldest first; the page shows it newest first.
	Updates []incident.Update
	// PublishedAt is this publication's time.
	PublishedAt time.Time
}

//go:embed page.html.tmpl index.html.tmpl
var sources embed.FS

var (
	pageTmpl  = template.Must(template.New("page.html.tmpl").Funcs(funcs).ParseFS(sources, "page.html.tmpl"))
	indexTmpl = template.Must(template.New("index.html.tmpl").Funcs(funcs).ParseFS(sources, "index.html.tmpl"))
)

var funcs = template.FuncMap{
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}

// view is what the page template sees.
type view struct {
	Page
	W       words
	Status  string
	Done    bool
	Updates []dated
	Dates   struct{ Detected, Confirmed, Sending, Completed, Authority, Published string }
	Colours map[string]string
	HowTold string
}

type dated struct {
	At   time.Time
	When string
	Text []string // paragraphs
}

// ErrLocale is returned for a locale the page is not written in.
var ErrLocale = errors.New("publicpage: locale not supported")

// Render renders p as a complete HTML document.
func Render(p Page) ([]byte, error) {
	w, ok := lang[p.Locale]
	if !ok {
		return nil, fmt.Errorf("render %s: %w: %q", p.IncidentID, ErrLocale, p.Locale)
	}
	v := view{Page: p, W: w, Colours: colours()}
	v.Done = p.State == incident.StateCompleted
	v.Status = w.Ongoing
	if v.Done {
		v.Status = w.Done
	}
	date := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return w.date(t)
	}
	v.Dates.Detected, v.Dates.Confirmed, v.Dates.Sending = date(p.DetectedAt), date(p.ConfirmedAt), date(p.SendingAt)
	v.Dates.Completed, v.Dates.Authority, v.Dates.Published = date(p.CompletedAt), date(p.AuthorityNotifiedAt), date(p.PublishedAt)
	var how []string
	for _, ch := range p.Channels {
		how = append(how, w.Channel[ch])
	}
	v.HowTold = strings.Join(how, w.And)
	for _, u := range slices.Backward(p.Updates) {
		v.Updates = append(v.Updates, dated{At: u.At, When: w.date(u.At), Text: paragraphs(u.Text)})
	}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("render %s/%s: %w", p.IncidentID, p.Locale, err)
	}
	return b.Bytes(), nil
}

// Index is the page that lists an incident's pages by language.
type Index struct {
	Brand, IncidentID, Title string
	// Base is PublicNoticeUrl; empty lists the pages by file name.
	Base        string
	PublishedAt time.Time
}

type indexLine struct {
	Locale, Language, Address string
}

// RenderIndex renders the incident's index: each language's name, in that
// language, and the address of its page as text.
func RenderIndex(ix Index) ([]byte, error) {
	var lines []indexLine
	for _, loc := range Locales {
		addr := loc + ".html"
		if ix.Base != "" {
			addr = Text(ix.Base, ix.IncidentID, loc)
		}
		lines = append(lines, indexLine{Locale: loc, Language: lang[loc].Language, Address: addr})
	}
	v := struct {
		Index
		Lines   []indexLine
		Colours map[string]string
		Titles  []indexLine
	}{Index: ix, Lines: lines, Colours: colours()}
	for _, loc := range Locales {
		v.Titles = append(v.Titles, indexLine{Locale: loc, Language: lang[loc].Heading(ix.Brand)})
	}
	var b bytes.Buffer
	if err := indexTmpl.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("render index of %s: %w", ix.IncidentID, err)
	}
	return b.Bytes(), nil
}

func colours() map[string]string {
	return map[string]string{"text": colourText, "page": colourPage, "muted": colourMuted,
		"ongoing": colourOngoing, "ongoingBar": colourOngoingBar, "done": colourDone, "doneBar": colourDoneBar}
}

// paragraphs splits an update's text at blank lines; single line breaks
// within a paragraph are kept as spaces.
func paragraphs(s string) []string {
	var out []string
	for p := range strings.SplitSeq(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n") {
		if p = strings.Join(strings.Fields(p), " "); p != "" {
			out = append(out, p)
		}
	}
	return out
}
