package publicpage

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"breachnotify/shared/incident"
)

func sample(loc string) Page {
	at := func(d, h int) time.Time { return time.Date(2014, 5, d, h, 0, 0, 0, time.UTC) }
	return Page{
		Locale: loc, Brand: "Acme", IncidentID: "INC-2014-0527", Title: "Unauthorised access to internal systems",
		Summary: "Attackers used an employee's credentials.", State: incident.StateSending,
		DetectedAt: at(26, 22), ConfirmedAt: at(27, 9), SendingAt: at(27, 10), AuthorityNotifiedAt: at(28, 8),
		Channels: []incident.Channel{incident.Email, incident.Push},
		Data:     []string{"Names and email addresses."}, Advice: []string{"Be wary of messages.", "Change your password."},
		Updates: []incident.Update{
			{At: at(27, 11), Text: "We are telling the people affected.", By: "secops:omar"},
			{At: at(29, 16), Text: "All notices sent.\n\nThe investigation continues.", By: "dpo:ann"},
		},
		PublishedAt: at(29, 16),
	}
}

func render(t *testing.T, p Page) string {
	t.Helper()
	b, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var headingRE = regexp.MustCompile(`<h([1-6])[ >]`)

// headings returns the levels of the headings in document order.
func headings(doc string) []int {
	var out []int
	for _, m := range headingRE.FindAllStringSubmatch(doc, -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

func TestPageIsAccessibleAndSelfContained(t *testing.T) {
	for _, loc := range Locales {
		t.Run(loc, func(t *testing.T) {
			doc := render(t, sample(loc))
			if !strings.Contains(doc, `<html lang="`+loc+`">`) {
				t.Errorf("no <html lang=%q>", loc)
			}
			hs := headings(doc)
			if n := strings.Count(doc, "<h1"); n != 1 || hs[0] != 1 {
				t.Errorf("%d h1, headings %v: want exactly one h1, first", n, hs)
			}
			for i := 1; i < len(hs); i++ {
				if hs[i] > hs[i-1]+1 {
					t.Errorf("heading levels %v skip a level at %d", hs, i)
				}
			}
			// Six sections under the h1, Art. 34(2)'s contents and the timeline.
			if got := strings.Count(doc, "<h2"); got != 6 {
				t.Errorf("%d h2 sections, want 6", got)
			}
			lower := strings.ToLower(doc)
			for _, bad := range []string{"<script", "javascript:", "<link", "@import", "href", "src=", "url(", "http:", "https:", "<img", "<iframe", " on"} {
				if bad == " on" {
					// Event handler attributes (onload=...) are script too.
					if regexp.MustCompile(`<[^>]*\son[a-z]+=`).MatchString(lower) {
						t.Errorf("an element carries an event handler attribute")
					}
					continue
				}
				if strings.Contains(lower, bad) {
					t.Errorf("page contains %q: no scripts, links or remote resources", bad)
				}
			}
			w := lang[loc]
			for _, want := range []string{w.Heading("Acme"), "INC-2014-0527", "Unauthorised access to internal systems", "Names and email addresses.",
				"Be wary of messages.", "Change your password.", w.Ongoing, w.date(time.Date(2014, 5, 29, 16, 0, 0, 0, time.UTC)),
				fmt.Sprintf(w.ContactApp, "Acme"), w.Channel[incident.Email], w.Channel[incident.Push]} {
				if !strings.Contains(doc, escape(want)) {
					t.Errorf("page lacks %q", want)
				}
			}
			if strings.Contains(doc, "secops:omar") || strings.Contains(doc, "dpo:ann") {
				t.Error("the page names who published an update")
			}
		})
	}
}

func escape(s string) string {
	return strings.NewReplacer("'", "&#39;", "&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;").Replace(s)
}

func TestTimelineIsNewestFirstAndDated(t *testing.T) {
	doc := render(t, sample("de"))
	newest := strings.Index(doc, "All notices sent.")
	oldest := strings.Index(doc, "We are telling the people affected.")
	if newest < 0 || oldest < 0 || newest > oldest {
		t.Errorf("timeline order: newest at %d, oldest at %d; want newest first", newest, oldest)
	}
	for _, want := range []string{`<ol reversed class="timeline">`, `<time datetime="2014-05-29T16:00:00Z">29. Mai 2014, 16:00 UTC</time>`,
		"<p>The investigation continues.</p>", `<time datetime="2014-05-27T11:00:00Z">27. Mai 2014, 11:00 UTC</time>`} {
		if !strings.Contains(doc, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	p := sample("es")
	p.Updates = nil
	if doc := render(t, p); !strings.Contains(doc, lang["es"].NoUpdates) || strings.Contains(doc, "<ol reversed") {
		t.Error("a page without updates should say so, with no empty list")
	}
}

// Status is said in words: each state has its own text, not only a colour.
func TestStatusIsInWords(t *testing.T) {
	for _, loc := range Locales {
		p := sample(loc)
		ongoing := render(t, p)
		p.State, p.CompletedAt = incident.StateCompleted, p.PublishedAt
		done := render(t, p)
		w := lang[loc]
		if !strings.Contains(ongoing, w.Ongoing) || strings.Contains(ongoing, w.Done) {
			t.Errorf("%s: sending page does not say %q alone", loc, w.Ongoing)
		}
		if !strings.Contains(done, w.Done) || !strings.Contains(done, `class="status done"`) {
			t.Errorf("%s: completed page does not say %q", loc, w.Done)
		}
		if !strings.Contains(done, escape(fmt.Sprintf(w.DidNotifyDone, w.date(p.CompletedAt)))) {
			t.Errorf("%s: completed page does not say when notifying finished", loc)
		}
	}
}

func TestUntrustedTextIsEscaped(t *testing.T) {
	p := sample("en")
	p.Title = `<script>alert(1)</script>`
	p.Summary = `<img src=x onerror=alert(1)>`
	p.Contact = `privacy@example.com"><script>`
	p.Updates = []incident.Update{{At: p.PublishedAt, Text: "<b>bold</b>"}}
	doc := render(t, p)
	for _, bad := range []string{"<script", "<img", "<b>"} {
		if strings.Contains(doc, bad) {
			t.Errorf("untrusted %q reached the page unescaped", bad)
		}
	}
	if !strings.Contains(doc, "privacy@example.com") {
		t.Error("contact point missing")
	}
}

// luminance is WCAG 2.1's relative luminance of a #rrggbb colour.
func luminance(hex string) float64 {
	v, _ := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	ch := func(c uint64) float64 {
		s := float64(c) / 255
		if s <= 0.03928 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(v>>16&0xff) + 0.7152*ch(v>>8&0xff) + 0.0722*ch(v&0xff)
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

// The colours and their contrast ratios (WCAG 2.1 1.4.3 text 4.5:1, 1.4.11
// a component's boundary 3:1):
//
//	text  #1a1a1a on page #ffffff       17.4:1
//	muted #4d4d4d on page #ffffff        8.5:1
//	text  #1a1a1a on ongoing #fff4ce    15.8:1
//	text  #1a1a1a on done #e3f1e6       14.9:1
//	ongoing border #8a5a00 on page       5.9:1
//	done border #1e6b34 on page          6.5:1
func TestColoursContrast(t *testing.T) {
	tests := []struct {
		name     string
		fg, bg   string
		min, was float64
	}{
		{"text on page", colourText, colourPage, 4.5, 17.4},
		{"muted on page", colourMuted, colourPage, 4.5, 8.5},
		{"text on ongoing status", colourText, colourOngoing, 4.5, 15.8},
		{"text on done status", colourText, colourDone, 4.5, 14.9},
		{"ongoing border on page", colourOngoingBar, colourPage, 3, 5.9},
		{"done border on page", colourDoneBar, colourPage, 3, 6.55},
	}
	for _, tc := range tests {
		got := contrast(tc.fg, tc.bg)
		if got < tc.min {
			t.Errorf("%s: %s on %s is %.2f:1, below %.1f:1", tc.name, tc.fg, tc.bg, got, tc.min)
		}
		if math.Abs(got-tc.was) > 0.05 {
			t.Errorf("%s: %.2f:1, the comment says %.1f:1: update it", tc.name, got, tc.was)
		}
	}
	// Every colour the page uses is one of these.
	doc := render(t, sample("en"))
	for _, c := range regexp.MustCompile(`#[0-9a-f]{6}`).FindAllString(doc, -1) {
		if !slices.Contains([]string{colourText, colourPage, colourMuted, colourOngoing, colourOngoingBar, colourDone, colourDoneBar}, c) {
			t.Errorf("page uses %s, whose contrast no test checks", c)
		}
	}
}

func TestUnknownLocale(t *testing.T) {
	p := sample("fr")
	if _, err := Render(p); !errors.Is(err, ErrLocale) {
		t.Errorf("err = %v, want ErrLocale", err)
	}
}

func TestIndexListsEveryLanguageAsText(t *testing.T) {
	b, err := RenderIndex(Index{Brand: "Acme", IncidentID: "INC-1", Title: "T", Base: "https://status.example.com/incidents", PublishedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, want := range []string{`<li lang="es">Español: status.example.com/incidents/INC-1/es.html</li>`, `<span lang="de">Sicherheitshinweis von Acme</span>`} {
		if !strings.Contains(doc, want) {
			t.Errorf("index lacks %s", want)
		}
	}
	if strings.Contains(doc, "href") || strings.Contains(doc, "https:") || strings.Count(doc, "<h1") != 1 {
		t.Error("the index must name addresses as text, with one h1")
	}
}

func TestParseBase(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"", "", ""},
		{"https://status.example.com/incidents/", "https://status.example.com/incidents", ""},
		{"http://127.0.0.1:5000/bucket/incidents", "http://127.0.0.1:5000/bucket/incidents", ""},
		{"status.example.com/incidents", "", "want https://host/path"},
		{"ftp://example.com", "", "want https://host/path"},
		{"https://user@example.com/x", "", "no user, query or fragment"},
		{"https://example.com/x?a=1", "", "no user, query or fragment"},
		{"https://example.com/x#top", "", "no user, query or fragment"},
	}
	for _, tc := range tests {
		got, err := ParseBase(tc.in)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseBase(%q) = %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
	if got := Text("https://status.example.com/incidents", "INC-1", "de"); got != "status.example.com/incidents/INC-1/de.html" {
		t.Errorf("Text = %q", got)
	}
	if got := Key("INC-1", "es"); got != "incidents/INC-1/es.html" {
		t.Errorf("Key = %q", got)
	}
}
