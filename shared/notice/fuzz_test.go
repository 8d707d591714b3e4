package notice

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzRender: whatever the user record and the incident hold, rendering
// never panics, no header (email subject, push title) holds a line break,
// a control or an invisible character, and the push fits its payload.
func FuzzRender(f *testing.F) {
	f.Add("Ana", "INC-2014-0527", "Unauthorised access", "8.9.0", "android", "es-ES", "Acme")
	f.Add("Ana\r\nBcc: evil@example.com", "INC\n1", "x\u2028y\u0085z", "8.9.0\r\n", "iOS", "de_DE", "")
	f.Add(strings.Repeat("<é>", 100), strings.Repeat("I", 100), strings.Repeat("&\u202e", 150), "", "", "zz", strings.Repeat("B", 100))
	f.Add("in\u200bvis\u00adible\ufeff", "", "\xff\xfe", "\x00", "android\x00", "", "{{.Name}}")
	f.Fuzz(func(t *testing.T, name, id, title, fixed, platform, locale, brand string) {
		for _, tmpl := range Templates() {
			m, err := Render(tmpl, locale, Data{Name: name, IncidentID: id, Title: title, FixedVersion: fixed, Platform: platform, Brand: brand})
			if err != nil {
				t.Fatalf("Render(%s): %v", tmpl, err)
			}
			for what, h := range map[string]string{"subject": m.Email.Subject, "push title": m.Push.Title} {
				if i := strings.IndexFunc(h, func(r rune) bool {
					return unicode.IsControl(r) || unicode.IsSpace(r) && r != ' ' || unicode.Is(unicode.Cf, r)
				}); i >= 0 {
					t.Fatalf("%s %q holds %U at %d", what, h, []rune(h[i:])[0], i)
				}
				if !utf8.ValidString(h) {
					t.Fatalf("%s %q is not valid UTF-8", what, h)
				}
			}
			if n := len(m.Push.Title) + len(m.Push.Body); n > PushLimit-pushEnvelope {
				t.Fatalf("push title and body are %d bytes, more than %d", n, PushLimit-pushEnvelope)
			}
		}
	})
}
