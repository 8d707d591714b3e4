package push

import (
	"strings"
	"testing"

	"breachnotify/shared/notice"
)

// FuzzPayload: a notice rendered from any record, with the data the
// worker attaches, gives an SNS message whose FCM and APNs payloads fit
// their 4 KB (Payload refuses larger ones).
func FuzzPayload(f *testing.F) {
	f.Add("Ana", "Unauthorised access", "8.9.0", "en")
	f.Add(strings.Repeat("\"<>&\\", 1000), strings.Repeat("\u2028\"", 1000), strings.Repeat("9", 100), "es")
	f.Add(strings.Repeat("\x01", 5000), strings.Repeat("é", 5000), "", "de")
	f.Fuzz(func(t *testing.T, name, title, fixed, locale string) {
		for _, tmpl := range notice.Templates() {
			m, err := notice.Render(tmpl, locale, notice.Data{Name: name, IncidentID: "INC-2014-0527", Title: title, FixedVersion: fixed, Platform: "ios"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Payload(m.Push, map[string]string{"incidentId": strings.Repeat("I", 64), "template": tmpl}); err != nil {
				t.Fatalf("Payload(%s): %v", tmpl, err)
			}
		}
	})
}
