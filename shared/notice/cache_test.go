package notice

import (
	"strings"
	"testing"
)

// TestCachedRenderEqualsFullRender guards the placeholder shortcut: for
// every template, locale and awkward name, Render must give exactly what a
// full template execution gives.
func TestCachedRenderEqualsFullRender(t *testing.T) {
	names := []string{
		"", "Ana", "Ana García", `<script>alert("x")</script>`, "Tom & Jerry's + co",
		"O'Brien \"Bob\"", "a\r\nBcc: evil@example.com", strings.Repeat("Ñ", 300), namePlaceholder[:5],
	}
	for _, tpl := range Templates() {
		for _, loc := range Locales(tpl) {
			for _, platform := range []string{"", "android", "ios"} {
				for _, name := range names {
					d := Data{Name: name, IncidentID: "INC-1", Title: "Breach <b>", FixedVersion: "8.9.0", Platform: platform, Brand: "Acme+"}
					got, err := Render(tpl, loc, d)
					if err != nil {
						t.Fatal(err)
					}
					email, push, err := registry[tpl].locales[loc].render(newView(d))
					if err != nil {
						t.Fatal(err)
					}
					want := Message{Template: tpl, Locale: loc, Version: registry[tpl].version, Email: email, Push: fitPush(push)}
					if got != want {
						t.Errorf("%s/%s/%s name %q:\n got %+v\nwant %+v", tpl, loc, platform, name, got, want)
					}
				}
			}
		}
	}
}
