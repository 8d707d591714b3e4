package notice

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"unicode"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current templates")

// samples holds the data the golden files are rendered from; every template
// needs one so that no template ships without a reviewed golden file.
var samples = map[string]Data{
	"update-app": {
		Name:         "Ana García",
		IncidentID:   "INC-2014-0527",
		Title:        "Security issue in the mobile app",
		FixedVersion: "8.9.0",
		Platform:     "android",
		Brand:        "Acme",
	},
	"account-accessed": {
		Name:       "Ana García",
		IncidentID: "INC-2014-0527",
		Title:      "Unauthorised access to internal systems",
		Brand:      "Acme",
		// The page's address is named as text (TestNoLinks).
		PublicNoticeURL: "https://status.example.com/incidents",
	},
}

// variety is data that drives templates down their other branches.
var variety = []Data{
	{},
	{Platform: "ios", FixedVersion: "8.9.0"},
	{Platform: "windows", Name: "Bob", IncidentID: "INC-1"},
	{Title: "Only a title", Brand: "Globex"},
	{IncidentID: "INC-9", PublicNoticeURL: "https://status.example.com/incidents/", Platform: "ios"},
	// No incident id: no page to name.
	{PublicNoticeURL: "https://status.example.com/incidents"},
}

func dump(m Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "template: %s\nlocale: %s\nversion: %s\n", m.Template, m.Locale, m.Version)
	for _, p := range []struct{ name, body string }{
		{"email subject", m.Email.Subject},
		{"email text", m.Email.Text},
		{"email html", m.Email.HTML},
		{"push title", m.Push.Title},
		{"push body", m.Push.Body},
	} {
		fmt.Fprintf(&b, "\n----- %s -----\n%s\n", p.name, p.body)
	}
	return b.String()
}

func parts(m Message) map[string]string {
	return map[string]string{
		"subject":   m.Email.Subject,
		"text":      m.Email.Text,
		"html":      m.Email.HTML,
		"pushTitle": m.Push.Title,
		"pushBody":  m.Push.Body,
	}
}

// eachVariant runs f for every template × locale.
func eachVariant(t *testing.T, f func(t *testing.T, name, loc string)) {
	t.Helper()
	for _, name := range Templates() {
		for _, loc := range Locales(name) {
			t.Run(name+"/"+loc, func(t *testing.T) { f(t, name, loc) })
		}
	}
}

func mustRender(t *testing.T, name, loc string, d Data) Message {
	t.Helper()
	m, err := Render(name, loc, d)
	if err != nil {
		t.Fatalf("Render(%q, %q): %v", name, loc, err)
	}
	return m
}

func TestCatalogue(t *testing.T) {
	if got, want := Templates(), []string{"account-accessed", "update-app"}; !slices.Equal(got, want) {
		t.Errorf("Templates() = %v, want %v", got, want)
	}
	for _, name := range Templates() {
		if !Has(name) {
			t.Errorf("Has(%q) = false", name)
		}
		if got, want := Locales(name), []string{"de", "en", "es"}; !slices.Equal(got, want) {
			t.Errorf("Locales(%q) = %v, want %v", name, got, want)
		}
		if _, ok := samples[name]; !ok {
			t.Errorf("template %s has no sample data, so no golden file", name)
		}
	}
}

func TestRenderGolden(t *testing.T) {
	eachVariant(t, func(t *testing.T, name, loc string) {
		m := mustRender(t, name, loc, samples[name])
		if m.Template != name || m.Locale != loc {
			t.Errorf("got template %q locale %q, want %q %q", m.Template, m.Locale, name, loc)
		}
		for part, s := range parts(m) {
			if strings.TrimSpace(s) == "" {
				t.Errorf("%s is empty", part)
			}
		}
		got := dump(m)
		path := filepath.Join("testdata", name+"."+loc+".golden")
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs from rendering; if the change is intended, run go test -update and review the diff\ngot:\n%s", path, got)
		}
	})
}

func TestRenderVariety(t *testing.T) {
	eachVariant(t, func(t *testing.T, name, loc string) {
		for _, d := range variety {
			m := mustRender(t, name, loc, d)
			for part, s := range parts(m) {
				if strings.TrimSpace(s) == "" {
					t.Errorf("%+v: %s is empty", d, part)
				}
			}
			// An empty field must not leave a gap such as "version  or later".
			for _, part := range []string{m.Email.Subject, m.Push.Title, m.Push.Body} {
				if strings.Contains(part, "  ") || strings.Contains(part, " .") || strings.Contains(part, "()") {
					t.Errorf("%+v: gap left by an empty field in %q", d, part)
				}
			}
		}
	})
}

func TestGreeting(t *testing.T) {
	greetings := map[string]struct{ named, generic string }{
		"en": {"Hello Ana,", "Hello,"},
		"es": {"Hola, Ana:", "Hola:"},
		"de": {"Guten Tag Ana,", "Guten Tag,"},
	}
	eachVariant(t, func(t *testing.T, name, loc string) {
		g := greetings[loc]
		if got := mustRender(t, name, loc, Data{Name: "Ana"}).Email.Text; !strings.HasPrefix(got, g.named+"\n") {
			t.Errorf("named greeting: text starts %q, want %q", firstLine(got), g.named)
		}
		if got := mustRender(t, name, loc, Data{Name: " \r\n "}).Email.Text; !strings.HasPrefix(got, g.generic+"\n") {
			t.Errorf("blank name: text starts %q, want %q", firstLine(got), g.generic)
		}
	})
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func TestHTMLEscaping(t *testing.T) {
	const script = "<script>alert(1)</script>"
	eachVariant(t, func(t *testing.T, name, loc string) {
		for _, d := range []Data{
			{Name: script},
			{Title: script, IncidentID: script},
			{Brand: script},
			{Name: `"><img src=x onerror=alert(1)>`},
		} {
			m := mustRender(t, name, loc, d)
			for _, bad := range []string{"<script", "<img"} {
				if strings.Contains(m.Email.HTML, bad) {
					t.Errorf("%+v: HTML contains unescaped %q", d, bad)
				}
			}
		}
		if m := mustRender(t, name, loc, Data{Name: script}); !strings.Contains(m.Email.HTML, "&lt;script&gt;") {
			t.Errorf("HTML does not show the escaped name:\n%s", m.Email.HTML)
		}
	})
}

func isLineBreak(r rune) bool {
	return r == '\n' || r == '\r' || r == '\v' || r == '\f' || r == '\u0085' || r == '\u2028' || r == '\u2029'
}

func TestHeaderInjection(t *testing.T) {
	payloads := []string{
		"\r\nBcc: evil@example.com",
		"Ana\r\nBcc: evil@example.com",
		"\nBcc: evil@example.com",
		"\rBcc: evil@example.com",
		"\u0085Bcc: evil@example.com",
		"\u2028Bcc: evil@example.com",
		"\u2029Bcc: evil@example.com",
		"\x00\x1b\tBcc: evil@example.com",
		"x\u202eBcc: evil@example.com",
	}
	fields := map[string]func(*Data, string){
		"Name":         func(d *Data, s string) { d.Name = s },
		"Title":        func(d *Data, s string) { d.Title = s },
		"IncidentID":   func(d *Data, s string) { d.IncidentID = s },
		"FixedVersion": func(d *Data, s string) { d.FixedVersion = s },
		"Platform":     func(d *Data, s string) { d.Platform = s },
		"Brand":        func(d *Data, s string) { d.Brand = s },
	}
	eachVariant(t, func(t *testing.T, name, loc string) {
		for field, set := range fields {
			for _, p := range payloads {
				d := samples[name]
				set(&d, p)
				m := mustRender(t, name, loc, d)
				for _, header := range []string{m.Email.Subject, m.Push.Title} {
					if i := strings.IndexFunc(header, func(r rune) bool {
						return unicode.IsControl(r) || isLineBreak(r) || unicode.Is(unicode.Bidi_Control, r)
					}); i >= 0 {
						t.Errorf("%s=%q: header %q has a control character at %d", field, p, header, i)
					}
				}
				for part, s := range parts(m) {
					for _, line := range strings.FieldsFunc(s, isLineBreak) {
						if strings.HasPrefix(strings.TrimSpace(line), "Bcc:") {
							t.Errorf("%s=%q: %s has the line %q", field, p, part, line)
						}
					}
				}
			}
		}
	})
}

func TestResolveLocale(t *testing.T) {
	tests := []struct{ in, want string }{
		{"es", "es"},
		{"es-ES", "es"},
		{"es_MX", "es"},
		{"ES", "es"},
		{"ES-es", "es"},
		{" es_419 ", "es"},
		{"en-GB", "en"},
		{"en", "en"},
		{"de", "de"},
		{"de-AT", "de"},
		{"de_CH", "de"},
		{"", "en"},
		{"pt-BR", "en"},
		{"xx", "en"},
		{"-es", "en"},
		{"e", "en"},
	}
	for _, name := range Templates() {
		for _, tc := range tests {
			t.Run(name+"/"+tc.in, func(t *testing.T) {
				if got := mustRender(t, name, tc.in, samples[name]).Locale; got != tc.want {
					t.Errorf("Render used locale %q, want %q", got, tc.want)
				}
			})
		}
	}
}

// TestResolveRegionalLocale shows that a regional locale, once written, wins
// over its language.
func TestResolveRegionalLocale(t *testing.T) {
	reg, err := load(minimalFS("en", "es", "es-mx"))
	if err != nil {
		t.Fatal(err)
	}
	e := reg["t"]
	for in, want := range map[string]string{"es_MX": "es-mx", "ES-mx": "es-mx", "es-ES": "es", "es": "es", "fr": "en"} {
		if got := e.resolve(in); got != want {
			t.Errorf("resolve(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUpdateAppContent(t *testing.T) {
	const v = "8.9.0"
	platforms := []struct {
		in          string
		name        string // how the platform is shown, "" when generic
		play, store bool   // whether Google Play / App Store steps appear
		mustNotShow string
	}{
		{in: "android", name: "Android", play: true},
		{in: "Android", name: "Android", play: true},
		{in: "ios", name: "iOS", store: true},
		{in: " IOS ", name: "iOS", store: true},
		{in: "", play: true, store: true},
		{in: "windows", play: true, store: true, mustNotShow: "windows"},
	}
	for _, loc := range Locales("update-app") {
		for _, p := range platforms {
			t.Run(loc+"/"+p.in, func(t *testing.T) {
				m := mustRender(t, "update-app", loc, Data{FixedVersion: v, Platform: p.in})
				for part, s := range map[string]string{"subject": m.Email.Subject, "text": m.Email.Text, "html": m.Email.HTML, "push body": m.Push.Body} {
					if !strings.Contains(s, v) {
						t.Errorf("%s does not name version %s: %q", part, v, s)
					}
				}
				for _, body := range []string{m.Email.Text, m.Email.HTML} {
					if got := strings.Contains(body, "Google Play"); got != p.play {
						t.Errorf("Google Play steps shown = %v, want %v", got, p.play)
					}
					if got := strings.Contains(body, "App Store"); got != p.store {
						t.Errorf("App Store steps shown = %v, want %v", got, p.store)
					}
					if p.name != "" && !strings.Contains(body, p.name+" ") && !strings.Contains(body, p.name+"-") && !strings.Contains(body, p.name+".") {
						t.Errorf("body does not name the platform %s", p.name)
					}
					if p.mustNotShow != "" && strings.Contains(strings.ToLower(body), p.mustNotShow) {
						t.Errorf("body shows the unexpected platform value %q", p.mustNotShow)
					}
				}
			})
		}
	}
}

func TestAccountAccessedContent(t *testing.T) {
	d := samples["account-accessed"]
	for _, loc := range Locales("account-accessed") {
		m := mustRender(t, "account-accessed", loc, d)
		for _, body := range []string{m.Email.Text, m.Email.HTML} {
			for _, want := range []string{d.IncidentID, d.Title} {
				if !strings.Contains(body, want) {
					t.Errorf("%s: body does not contain %q", loc, want)
				}
			}
		}
	}
}

func TestNoLinks(t *testing.T) {
	// Each locale must promise not to send login links, in its own words.
	promise := map[string]string{"en": "login link", "es": "enlace de inicio de sesión", "de": "Anmeldelink"}
	eachVariant(t, func(t *testing.T, name, loc string) {
		for _, d := range append([]Data{samples[name]}, variety...) {
			m := mustRender(t, name, loc, d)
			for part, s := range parts(m) {
				lower := strings.ToLower(s)
				for _, bad := range []string{"http", "www.", "://", "href", "mailto:"} {
					if strings.Contains(lower, bad) {
						t.Errorf("%+v: %s contains %q", d, part, bad)
					}
				}
			}
			for _, body := range []string{m.Email.Text, m.Email.HTML} {
				if !strings.Contains(body, promise[loc]) {
					t.Errorf("body does not say %q", promise[loc])
				}
			}
		}
	})
}

func TestPushIsShort(t *testing.T) {
	eachVariant(t, func(t *testing.T, name, loc string) {
		m := mustRender(t, name, loc, samples[name])
		if n := utf8.RuneCountInString(m.Push.Title); n > 50 {
			t.Errorf("push title has %d runes: %q", n, m.Push.Title)
		}
		if n := utf8.RuneCountInString(m.Push.Body); n > 200 {
			t.Errorf("push body has %d runes: %q", n, m.Push.Body)
		}
	})
}

func TestOversizedFields(t *testing.T) {
	huge := strings.Repeat("€ñ😀 ", 5000)
	d := Data{Name: huge, IncidentID: huge, Title: huge, FixedVersion: huge, Platform: huge, Brand: huge}
	eachVariant(t, func(t *testing.T, name, loc string) {
		m := mustRender(t, name, loc, d)
		if n := len(m.Push.Title) + len(m.Push.Body); n > PushLimit-pushEnvelope {
			t.Errorf("push is %d bytes", n)
		}
		if n := utf8.RuneCountInString(m.Email.Subject); n > 2*proseMax {
			t.Errorf("subject has %d runes", n)
		}
		for part, s := range parts(m) {
			if !utf8.ValidString(s) {
				t.Errorf("%s is not valid UTF-8", part)
			}
		}
	})
}

func TestFitPush(t *testing.T) {
	budget := PushLimit - pushEnvelope
	tests := []struct {
		name        string
		in          Push
		titleKept   bool
		bodyCut     bool
		titleMaxLen int
	}{
		{"fits", Push{"Title", "Body"}, true, false, 5},
		{"long body", Push{"Title", strings.Repeat("ñ", budget)}, true, true, 5},
		{"long title", Push{strings.Repeat("€", budget), "Body"}, false, false, budget / 4},
		{"both long", Push{strings.Repeat("😀", budget), strings.Repeat("€", budget)}, false, true, budget / 4},
		{"exactly full", Push{"T", strings.Repeat("a", budget-1)}, true, false, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fitPush(tc.in)
			if n := len(got.Title) + len(got.Body); n > budget {
				t.Errorf("title+body = %d bytes, budget %d", n, budget)
			}
			if !utf8.ValidString(got.Title) || !utf8.ValidString(got.Body) {
				t.Error("cut inside a rune")
			}
			if (got.Title == tc.in.Title) != tc.titleKept {
				t.Errorf("title kept = %v, want %v", got.Title == tc.in.Title, tc.titleKept)
			}
			if cut := strings.HasSuffix(got.Body, ellipsis) && got.Body != tc.in.Body; cut != tc.bodyCut {
				t.Errorf("body cut = %v, want %v", cut, tc.bodyCut)
			}
			if len(got.Title) > tc.titleMaxLen {
				t.Errorf("title is %d bytes, want at most %d", len(got.Title), tc.titleMaxLen)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello world", 8, "hello…"},
		{"hello world", 9, "hello…"}, // the space before the cut is dropped
		{"hello world", 10, "hello w…"},
		{"", 0, ""},
		{"abc", 2, "ab"}, // no room for the ellipsis
		{"abc", 0, ""},
		{"abc", -1, ""},
		{"ñññ", 6, "ñññ"},
		{"ñññ", 5, "ñ…"},
		{"ñññ", 4, "…"}, // one byte past "…" would split the first ñ
		{"ñññ", 1, ""},  // no room for "ñ" or "…"
		{"€€€", 7, "€…"},
		{"€€€", 8, "€…"},
		{"€€€", 9, "€€€"},
		{"€€", 5, "…"},
		{"😀😀", 7, "😀…"},
		{"😀😀", 6, "…"},
		{"😀😀", 3, "…"},
		{"a😀", 4, "a…"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q/%d", tc.s, tc.max), func(t *testing.T) {
			if got := Truncate(tc.s, tc.max); got != tc.want {
				t.Errorf("Truncate = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestTruncateInvariants checks every cut point of strings mixing 1- to
// 4-byte runes.
func TestTruncateInvariants(t *testing.T) {
	for _, s := range []string{"añ€😀b", "😀😀😀", "ñ ñ ñ", "plain ascii text"} {
		for max := -1; max <= len(s)+1; max++ {
			got := Truncate(s, max)
			if !utf8.ValidString(got) {
				t.Errorf("Truncate(%q, %d) = %q: invalid UTF-8", s, max, got)
			}
			if len(got) > max && max >= 0 {
				t.Errorf("Truncate(%q, %d) = %q: %d bytes", s, max, got, len(got))
			}
			if !strings.HasPrefix(s, strings.TrimSuffix(got, ellipsis)) {
				t.Errorf("Truncate(%q, %d) = %q: not a prefix", s, max, got)
			}
			if len(s) <= max && got != s {
				t.Errorf("Truncate(%q, %d) = %q: cut a string that fits", s, max, got)
			}
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"Ana García", 200, "Ana García"},
		{"  Ana \r\n\r\n García  ", 200, "Ana García"},
		{"a\u0085b\u2028c\u2029d", 200, "a b c d"},
		{"a\x00\x07\x1b\x7fb", 200, "a b"},
		{"a\tb\vc\fd", 200, "a b c d"},
		{"\u202eevil\u202c", 200, "evil"},
		{"in\u200bvis\u200d\u2060i\u00adble\ufeff", 200, "invisible"},
		{"bad \xff byte", 200, "bad \uFFFD byte"},
		{"abcdef", 6, "abcdef"},
		{"abcdefg", 6, "abcde…"},
		{"ab  cdefg", 4, "ab…"},
		{"ññññññ", 3, "ññ…"},
		{"\r\n", 200, ""},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			got := clean(tc.in, tc.max)
			if got != tc.want {
				t.Errorf("clean = %q, want %q", got, tc.want)
			}
			if n := utf8.RuneCountInString(got); n > tc.max {
				t.Errorf("clean kept %d runes, cap %d", n, tc.max)
			}
		})
	}
}

func TestBrandDefault(t *testing.T) {
	for _, brand := range []string{"", "  ", "\r\n"} {
		m := mustRender(t, "account-accessed", "en", Data{Brand: brand})
		if !strings.Contains(m.Push.Title, "Acme") {
			t.Errorf("Brand %q: push title %q does not use the default brand", brand, m.Push.Title)
		}
	}
}

var versionRE = regexp.MustCompile(`^[0-9a-f]{12}$`)

func TestVersion(t *testing.T) {
	versions := map[string]string{}
	for _, name := range Templates() {
		for _, loc := range Locales(name) {
			a := mustRender(t, name, loc, samples[name]).Version
			b := mustRender(t, name, loc, Data{}).Version
			if !versionRE.MatchString(a) {
				t.Errorf("%s/%s: version %q is not 12 hex digits", name, loc, a)
			}
			if a != b {
				t.Errorf("%s/%s: version changed between renders: %q, %q", name, loc, a, b)
			}
			if v, ok := versions[name]; ok && v != a {
				t.Errorf("%s: locales have different versions %q and %q", name, v, a)
			}
			versions[name] = a
		}
	}
	if versions["update-app"] == versions["account-accessed"] {
		t.Errorf("both templates have version %q", versions["update-app"])
	}
}

// TestVersionCoversAllLocales shows that editing any locale's file of a
// template changes its version and no other template's.
func TestVersionCoversAllLocales(t *testing.T) {
	base := minimalFS("en", "es")
	base["templates/other/en.txt"] = base["templates/t/en.txt"]
	base["templates/other/en.html"] = base["templates/t/en.html"]
	before, err := load(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"templates/t/en.txt", "templates/t/es.txt", "templates/t/es.html"} {
		t.Run(file, func(t *testing.T) {
			fsys := minimalFS("en", "es")
			fsys["templates/other/en.txt"] = base["templates/t/en.txt"]
			fsys["templates/other/en.html"] = base["templates/t/en.html"]
			fsys[file] = &fstest.MapFile{Data: append(slices.Clone(fsys[file].Data), ' ')}
			after, err := load(fsys)
			if err != nil {
				t.Fatal(err)
			}
			if before["t"].version == after["t"].version {
				t.Error("version did not change")
			}
			if before["other"].version != after["other"].version {
				t.Error("another template's version changed")
			}
		})
	}
}

func TestUnknownTemplate(t *testing.T) {
	for _, name := range []string{"", "nope", "UPDATE-APP", "update-app/en", "../update-app"} {
		_, err := Render(name, "en", Data{})
		if !errors.Is(err, ErrUnknownTemplate) {
			t.Errorf("Render(%q) error = %v, want ErrUnknownTemplate", name, err)
		}
		if Has(name) {
			t.Errorf("Has(%q) = true", name)
		}
		if got := Locales(name); got != nil {
			t.Errorf("Locales(%q) = %v, want nil", name, got)
		}
	}
}

const (
	minimalText = `{{define "subject"}}S {{.Name}}{{end}}{{define "text"}}T{{end}}{{define "pushTitle"}}PT{{end}}{{define "pushBody"}}PB{{end}}{{define "data"}}D{{end}}{{define "advice"}}- A{{end}}`
	minimalHTML = `<p>{{.Name}}</p>`
)

func minimalFS(locales ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, loc := range locales {
		fsys["templates/t/"+loc+".txt"] = &fstest.MapFile{Data: []byte(minimalText)}
		fsys["templates/t/"+loc+".html"] = &fstest.MapFile{Data: []byte(minimalHTML)}
	}
	return fsys
}

func TestLoadRejects(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name   string
		change func(fstest.MapFS)
		want   string
	}{
		{"no templates", func(f fstest.MapFS) {
			for k := range f {
				delete(f, k)
			}
			f["templates/README"] = file("x")
		}, "one directory per template"},
		{"no en", func(f fstest.MapFS) {
			delete(f, "templates/t/en.txt")
			delete(f, "templates/t/en.html")
		}, "missing locale en"},
		{"no html", func(f fstest.MapFS) { delete(f, "templates/t/es.html") }, "need both"},
		{"no txt", func(f fstest.MapFS) { delete(f, "templates/t/es.txt") }, "need both"},
		{"missing block", func(f fstest.MapFS) {
			f["templates/t/es.txt"] = file(strings.Replace(minimalText, `{{define "pushBody"}}PB{{end}}`, "", 1))
		}, "pushBody"},
		{"no advice", func(f fstest.MapFS) {
			f["templates/t/es.txt"] = file(strings.Replace(minimalText, `{{define "advice"}}- A{{end}}`, "", 1))
		}, `no "advice" block in es.txt`},
		{"advice names an unknown field", func(f fstest.MapFS) {
			f["templates/t/es.txt"] = file(strings.Replace(minimalText, `- A`, `- {{.Nope}}`, 1))
		}, "Nope"},
		{"text parse error", func(f fstest.MapFS) { f["templates/t/es.txt"] = file(minimalText + "{{if}}") }, "parse"},
		{"html parse error", func(f fstest.MapFS) { f["templates/t/es.html"] = file("{{end}}") }, "parse"},
		{"unknown field", func(f fstest.MapFS) { f["templates/t/es.html"] = file("{{.Nope}}") }, "Nope"},
		{"field in one branch", func(f fstest.MapFS) {
			f["templates/t/es.html"] = file(`{{if eq .Platform "ios"}}{{.Nope}}{{end}}`)
		}, "Nope"},
		{"misnamed file", func(f fstest.MapFS) { f["templates/t/es.htm"] = file("x") }, "es.htm"},
		{"upper-case locale", func(f fstest.MapFS) { f["templates/t/ES.txt"] = file(minimalText) }, "ES.txt"},
		{"no locale", func(f fstest.MapFS) { f["templates/t/.txt"] = file(minimalText) }, ".txt"},
		{"nested directory", func(f fstest.MapFS) { f["templates/t/es/en.txt"] = file(minimalText) }, "unexpected es"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := minimalFS("en", "es")
			tc.change(fsys)
			_, err := load(fsys)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("load error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoadAccepts(t *testing.T) {
	reg, err := load(minimalFS("en", "es"))
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(reg["t"].locales)); !slices.Equal(got, []string{"en", "es"}) {
		t.Errorf("locales = %v", got)
	}
}

func TestMustLoadPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("mustLoad did not panic on broken templates")
		}
	}()
	mustLoad(minimalFS("es"))
}
