package notice

import (
	htmltemplate "html/template"
	"strings"
	"testing"
)

// The public page gives the notice's own advice: each item PublicText
// returns is in the notice's text and HTML, word for word, in every
// template and locale.
func TestPublicTextIsTheNoticesAdvice(t *testing.T) {
	eachVariant(t, func(t *testing.T, name, loc string) {
		d := samples[name]
		pub, err := PublicText(name, loc, d)
		if err != nil {
			t.Fatal(err)
		}
		if pub.Locale != loc || strings.TrimSpace(pub.Data) == "" || len(pub.Advice) < 2 {
			t.Fatalf("PublicText = %+v, want the locale, a data sentence and the advice", pub)
		}
		// The page addresses everyone: the notice it quotes is the one
		// for a recipient of no particular platform.
		d.Platform, d.Name = "", ""
		m := mustRender(t, name, loc, d)
		for _, item := range pub.Advice {
			if strings.HasPrefix(item, "-") || strings.Contains(item, "{{") {
				t.Errorf("advice item %q is not clean prose", item)
			}
			if !strings.Contains(m.Email.Text, item) {
				t.Errorf("advice %q is not in the notice's text", item)
			}
			if !strings.Contains(m.Email.HTML, strings.ReplaceAll(htmltemplate.HTMLEscapeString(item), "+", "&#43;")) {
				t.Errorf("advice %q is not in the notice's HTML", item)
			}
		}
	})
}

func TestPublicTextFallsBackAndRefusesUnknown(t *testing.T) {
	pub, err := PublicText("account-accessed", "fr-FR", Data{Brand: "Globex"})
	if err != nil || pub.Locale != "en" || !strings.Contains(pub.Data, "Globex") {
		t.Errorf("PublicText(fr-FR) = %+v, %v; want English about Globex", pub, err)
	}
	if _, err := PublicText("nope", "en", Data{}); err == nil {
		t.Error("an unknown template has public text")
	}
}
