// Package notice renders breach notices (email and push) from templates that
// are compiled into the binary, so a deployed function can never send a notice
// whose wording was not reviewed with the code.
//
// Each template lives in templates/<name>/ as one <locale>.txt (text/template
// blocks "subject", "text", "pushTitle" and "pushBody") and one <locale>.html
// (html/template, the HTML email body) per locale.
package notice

import (
	"breachnotify/shared/errs"
	"breachnotify/shared/publicpage"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	texttemplate "text/template"
	"unicode"
	"unicode/utf8"
)

// PushLimit is the size in bytes of a mobile push payload (APNs and FCM both
// allow 4 KB).
const PushLimit = 4096

const (
	// pushEnvelope is kept free for the JSON keys and quoting around the push
	// title and body.
	pushEnvelope = 512
	// fallbackLocale must exist for every template: it is what a user with an
	// unsupported or missing locale receives.
	fallbackLocale = "en"
	defaultBrand   = "Acme"
	ellipsis       = "…"
	// Field caps keep one oversized record from producing an unreadable
	// subject or eating the push budget; names and titles are prose, the
	// rest are identifiers.
	proseMax = 200
	idMax    = 64
)

// ErrUnknownTemplate is wrapped by Render for a template name that is not
// compiled in.
var ErrUnknownTemplate = errs.New(errs.Invalid, "unknown template")

// Data is what a template may use. Every string field comes from outside (user
// records, events) and is untrusted.
type Data struct {
	Name         string // user's display name; empty makes templates greet generically
	IncidentID   string // e.g. "INC-2014-0527"
	Title        string // incident title, e.g. "Unauthorised access to internal systems"
	FixedVersion string // for update-app: the app version that fixes the issue, e.g. "8.9.0"
	Platform     string // for update-app: "android" or "ios" (may be empty or another value)
	Brand        string // company or product name; empty means "Acme"
	// PublicNoticeURL is where the public notice pages are served (the
	// template's PublicNoticeUrl, e.g. "https://status.example.com/incidents");
	// empty: the notice names no page. A notice names its locale's page as
	// plain text without the scheme, never as a link (see publicpage.Text).
	PublicNoticeURL string
}

// Email is a rendered email. Subject is always a single line.
type Email struct{ Subject, Text, HTML string }

// Push is a rendered push notification. Title is always a single line, and
// Title and Body together fit a push payload.
type Push struct{ Title, Body string }

// Message is one rendered notice.
type Message struct {
	Template string // template name, e.g. "update-app"
	Locale   string // the locale actually used after fallback, e.g. "es"
	// Version identifies the wording that was sent: the first 12 hex digits
	// of a SHA-256 over all source files of the template, all locales.
	Version string
	Email   Email
	Push    Push
}

//go:embed templates
var sources embed.FS

// registry is filled at package initialisation; templates are compiled in,
// so a broken one must stop the binary at start rather than fail per message.
var registry = mustLoad(sources)

type entry struct {
	version string
	locales map[string]variant
}

type variant struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// view is what templates see: Data after sanitising, so no template can
// forget to clean a field.
type view struct {
	Name, IncidentID, Title, FixedVersion, Brand string
	// Platform is "android", "ios" or "": templates branch on it, and an
	// unexpected value must not reach the text.
	Platform string
	// Page is the address of the incident's public page in the notice's
	// locale, as text to type (publicpage.Text), or "".
	Page string
}

// Render renders template in the best available match for locale (see
// ResolveLocale).
func Render(template, locale string, d Data) (Message, error) {
	e, ok := registry[template]
	if !ok {
		return Message{}, fmt.Errorf("render %q: %w", template, ErrUnknownTemplate)
	}
	loc := e.resolve(locale)
	v := newView(d)
	if d.PublicNoticeURL != "" && v.IncidentID != "" {
		v.Page = clean(publicpage.Text(d.PublicNoticeURL, v.IncidentID, loc), proseMax)
	}
	email, push, err := renderCached(template, loc, e.locales[loc], v)
	if err != nil {
		return Message{}, fmt.Errorf("render %s/%s: %w", template, loc, err)
	}
	return Message{Template: template, Locale: loc, Version: e.version, Email: email, Push: fitPush(push)}, nil
}

// Executing the templates costs far more than everything else the worker
// does for a recipient, yet within one incident only the user's name
// varies. So each (template, locale, fields but the name) is executed once
// with a placeholder for the name, and each recipient gets a copy with the
// placeholder replaced: as the sanitised name in text parts and HTML-escaped
// the way html/template escapes text. A test checks that this equals a full
// execution for every template, locale and awkward name.
const namePlaceholder = "Nx7Pq2PLACEHOLDERk9Zw4"

type cacheKey struct {
	template, locale string
	view             view // Name is "" or namePlaceholder
}

type rendered struct {
	email Email
	push  Push
}

var (
	cacheMu sync.RWMutex
	cache   = map[cacheKey]rendered{}
)

// cacheMax bounds the cache; an incident needs a handful of entries.
const cacheMax = 1024

func renderCached(template, loc string, vr variant, v view) (Email, Push, error) {
	name := v.Name
	key := cacheKey{template: template, locale: loc, view: v}
	if name != "" {
		key.view.Name = namePlaceholder
	}
	cacheMu.RLock()
	r, ok := cache[key]
	cacheMu.RUnlock()
	if !ok {
		email, push, err := vr.render(key.view)
		if err != nil {
			return Email{}, Push{}, err
		}
		r = rendered{email, push}
		cacheMu.Lock()
		if len(cache) >= cacheMax {
			clear(cache)
		}
		cache[key] = r
		cacheMu.Unlock()
	}
	if name == "" {
		return r.email, r.push, nil
	}
	htmlName := strings.ReplaceAll(htmltemplate.HTMLEscapeString(name), "+", "&#43;")
	sub := func(s, with string) string { return strings.ReplaceAll(s, namePlaceholder, with) }
	return Email{Subject: sub(r.email.Subject, name), Text: sub(r.email.Text, name), HTML: sub(r.email.HTML, htmlName)},
		Push{Title: sub(r.push.Title, name), Body: sub(r.push.Body, name)}, nil
}

// Public is what a template says for the public notice page (package
// publicpage), in the words the notice uses.
type Public struct {
	// Locale is the locale used after fallback.
	Locale string
	// Data says what data the incident concerns (the "data" block).
	Data string
	// Advice is what the user should do, one item a line of the "advice"
	// block, which the notice's own list is checked against.
	Advice []string
}

// PublicText renders template's public wording in the best match for
// locale. It addresses no one in particular: no name and no platform.
func PublicText(template, locale string, d Data) (Public, error) {
	e, ok := registry[template]
	if !ok {
		return Public{}, fmt.Errorf("public text of %q: %w", template, ErrUnknownTemplate)
	}
	loc := e.resolve(locale)
	v := newView(d)
	v.Name, v.Platform = "", ""
	out := Public{Locale: loc}
	var data, advice strings.Builder
	if err := e.locales[loc].text.ExecuteTemplate(&data, "data", v); err != nil {
		return Public{}, fmt.Errorf("public text of %s/%s: %w", template, loc, err)
	}
	if err := e.locales[loc].text.ExecuteTemplate(&advice, "advice", v); err != nil {
		return Public{}, fmt.Errorf("public text of %s/%s: %w", template, loc, err)
	}
	out.Data = oneLine(data.String())
	for line := range strings.SplitSeq(advice.String(), "\n") {
		if item := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "- ")); item != "" {
			out.Advice = append(out.Advice, item)
		}
	}
	return out, nil
}

// Has reports whether template can be rendered.
func Has(template string) bool {
	_, ok := registry[template]
	return ok
}

// Resolve returns the locale Render would use for template and locale, and
// whether the template exists.
func Resolve(template, locale string) (string, bool) {
	e, ok := registry[template]
	if !ok {
		return "", false
	}
	return e.resolve(locale), true
}

// Version identifies a template's wording, as Message.Version does; "" for
// an unknown template.
func Version(template string) string { return registry[template].version }

// Templates returns the names of all templates, sorted.
func Templates() []string {
	return slices.Sorted(maps.Keys(registry))
}

// Locales returns the locales template is written in, sorted; nil for an
// unknown template.
func Locales(template string) []string {
	e, ok := registry[template]
	if !ok {
		return nil
	}
	return slices.Sorted(maps.Keys(e.locales))
}

// resolve returns the locale Render would use: locale itself after
// normalising case and "_" to "-" (so "es_ES" and "ES-es" match "es-es"),
// else its language part ("es"), else "en".
func (e entry) resolve(locale string) string {
	want := normaliseLocale(locale)
	if _, ok := e.locales[want]; ok {
		return want
	}
	lang, _, _ := strings.Cut(want, "-")
	if _, ok := e.locales[lang]; ok {
		return lang
	}
	return fallbackLocale
}

func normaliseLocale(s string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "_", "-"))
}

func (v variant) render(d view) (Email, Push, error) {
	var email Email
	var push Push
	for _, part := range []struct {
		block string
		dst   *string
	}{
		{"subject", &email.Subject},
		{"text", &email.Text},
		{"pushTitle", &push.Title},
		{"pushBody", &push.Body},
	} {
		var b strings.Builder
		if err := v.text.ExecuteTemplate(&b, part.block, d); err != nil {
			return Email{}, Push{}, fmt.Errorf("execute %s: %w", part.block, err)
		}
		*part.dst = strings.TrimSpace(b.String())
	}
	var b strings.Builder
	if err := v.html.Execute(&b, d); err != nil {
		return Email{}, Push{}, fmt.Errorf("execute html: %w", err)
	}
	email.HTML = strings.TrimSpace(b.String())
	// Sanitised fields already cannot break a header line; collapsing again
	// here keeps that true whatever a template edit does.
	email.Subject = oneLine(email.Subject)
	push.Title = oneLine(push.Title)
	return email, push, nil
}

func newView(d Data) view {
	v := view{
		Name:         clean(d.Name, proseMax),
		Title:        clean(d.Title, proseMax),
		IncidentID:   clean(d.IncidentID, idMax),
		FixedVersion: clean(d.FixedVersion, idMax),
		Brand:        clean(d.Brand, idMax),
	}
	if v.Brand == "" {
		v.Brand = defaultBrand
	}
	switch p := strings.ToLower(clean(d.Platform, idMax)); p {
	case "android", "ios":
		v.Platform = p
	}
	return v
}

// clean makes an untrusted field safe to place anywhere, headers included.
func clean(s string, maxRunes int) string {
	s = oneLine(s)
	if utf8.RuneCountInString(s) <= maxRunes {
		return s
	}
	n := 0
	for i := range s {
		if n == maxRunes-1 {
			return strings.TrimRightFunc(s[:i], unicode.IsSpace) + ellipsis
		}
		n++
	}
	return s
}

// oneLine turns every run of whitespace and control characters into one
// space and trims the ends. unicode.IsSpace covers CR, LF, NEL (U+0085) and
// the line and paragraph separators (U+2028, U+2029), so no line break
// survives. Bidi controls are dropped too: they can make a subject display
// something other than what it says, and other invisible format characters
// are removed. Invalid UTF-8 comes out as U+FFFD.
func oneLine(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	gap := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			gap = true
			continue
		}
		if unicode.Is(unicode.Cf, r) {
			// Other format characters (zero-width space and joiners, the
			// soft hyphen, the BOM) are invisible: they would hide text
			// from whoever reads or filters the notice.
			continue
		}
		if gap && b.Len() > 0 {
			b.WriteByte(' ')
		}
		gap = false
		b.WriteRune(r)
	}
	return b.String()
}

// fitPush cuts the body first because it is the part a device truncates
// anyway; the title is capped at a quarter of the budget so that the body
// always keeps room to say something.
func fitPush(p Push) Push {
	budget := PushLimit - pushEnvelope
	p.Title = Truncate(p.Title, budget/4)
	p.Body = Truncate(p.Body, budget-len(p.Title))
	return p
}

// Truncate returns s if it fits in maxBytes bytes, else the longest prefix
// ending on a rune boundary that fits together with a trailing "…". The
// result is at most maxBytes bytes; below the size of the ellipsis the
// prefix is returned without it.
func Truncate(s string, maxBytes int) string {
	if len(s) <= maxBytes {
		return s
	}
	if maxBytes < len(ellipsis) {
		return runePrefix(s, maxBytes)
	}
	return strings.TrimRightFunc(runePrefix(s, maxBytes-len(ellipsis)), unicode.IsSpace) + ellipsis
}

// runePrefix returns the longest prefix of s of at most n bytes that does not
// split a rune; n must be less than len(s).
func runePrefix(s string, n int) string {
	if n <= 0 {
		return ""
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func mustLoad(fsys fs.FS) map[string]entry {
	reg, err := load(fsys)
	if err != nil {
		panic(fmt.Sprintf("notice: %v", err))
	}
	return reg
}

func load(fsys fs.FS) (map[string]entry, error) {
	dirs, err := fs.ReadDir(fsys, "templates")
	if err != nil {
		return nil, fmt.Errorf("read templates: %w", err)
	}
	reg := make(map[string]entry, len(dirs))
	for _, d := range dirs {
		if !d.IsDir() {
			return nil, fmt.Errorf("templates/%s: want one directory per template", d.Name())
		}
		e, err := loadTemplate(fsys, d.Name())
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", d.Name(), err)
		}
		reg[d.Name()] = e
	}
	if len(reg) == 0 {
		return nil, errors.New("no templates")
	}
	return reg, nil
}

// probes cover every branch on Platform and on empty fields, so that a
// template referring to a missing field or block fails at start-up.
var probes = []view{
	{Brand: defaultBrand},
	{Name: "Name", IncidentID: "INC-0", Title: "Title", FixedVersion: "1.0.0", Platform: "android", Brand: defaultBrand},
	{Name: "Name", IncidentID: "INC-0", Title: "Title", FixedVersion: "1.0.0", Platform: "ios", Brand: defaultBrand, Page: "example.com/incidents/INC-0/en.html"},
}

func loadTemplate(fsys fs.FS, name string) (entry, error) {
	dir := path.Join("templates", name)
	files, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return entry{}, fmt.Errorf("read: %w", err)
	}
	e := entry{locales: make(map[string]variant)}
	// fs.ReadDir sorts by name, which makes the hash stable.
	h := sha256.New()
	for _, f := range files {
		loc, ext, _ := strings.Cut(f.Name(), ".")
		// A misnamed file would otherwise be ignored silently and its
		// readers would get English.
		if f.IsDir() || loc == "" || loc != normaliseLocale(loc) || (ext != "txt" && ext != "html") {
			return entry{}, fmt.Errorf("unexpected %s: want <locale>.txt and <locale>.html with a lower-case locale", f.Name())
		}
		src, err := fs.ReadFile(fsys, path.Join(dir, f.Name()))
		if err != nil {
			return entry{}, fmt.Errorf("read: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f.Name(), len(src))
		h.Write(src)

		v := e.locales[loc]
		if ext == "txt" {
			v.text, err = texttemplate.New(f.Name()).Parse(string(src))
		} else {
			v.html, err = htmltemplate.New(f.Name()).Parse(string(src))
		}
		if err != nil {
			return entry{}, fmt.Errorf("parse: %w", err)
		}
		e.locales[loc] = v
	}
	e.version = hex.EncodeToString(h.Sum(nil))[:12]

	if _, ok := e.locales[fallbackLocale]; !ok {
		return entry{}, fmt.Errorf("missing locale %s, which every template falls back to", fallbackLocale)
	}
	for loc, v := range e.locales {
		if v.text == nil || v.html == nil {
			return entry{}, fmt.Errorf("locale %s: need both %[1]s.txt and %[1]s.html", loc)
		}
		for _, p := range probes {
			if _, _, err := v.render(p); err != nil {
				return entry{}, fmt.Errorf("locale %s: %w", loc, err)
			}
		}
		// The public page needs these of every template it may name.
		for _, block := range []string{"data", "advice"} {
			if v.text.Lookup(block) == nil {
				return entry{}, fmt.Errorf("locale %s: no %q block in %s.txt", loc, block, loc)
			}
			for _, p := range probes {
				if err := v.text.ExecuteTemplate(io.Discard, block, p); err != nil {
					return entry{}, fmt.Errorf("locale %s: execute %s: %w", loc, block, err)
				}
			}
		}
	}
	return e, nil
}
