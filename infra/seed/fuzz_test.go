package seed

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"breachnotify/shared/audience"
	"breachnotify/shared/incident"
)

// FuzzImport runs any input through the user-line parser. Whatever it
// holds: no panic, no error (the store never fails), every skipped line
// reported with a bounded message, and every imported user valid and
// within the limits of the stores.
func FuzzImport(f *testing.F) {
	f.Add([]byte(`{"userId":"u-1","email":"a@example.com","locale":"es-ES","devices":[{"deviceId":"d-1","platform":"android","appVersion":"8.8.2","pushToken":"tok-1"}]}`))
	f.Add([]byte("{\"userId\":\"u-1\"} junk\n{\"USERID\":\"u-2\"}\n{\"userId\":\"u-3\",\"userId\":\"u-4\"}\n\n{\"userId\":\"u\u202e5\"}"))
	f.Add([]byte(`{"userId":"u-6","email":"a@[127.0.0.1]","name":"x` + "\u2028" + `y"}`))
	f.Add([]byte(`{"userId":"u-7","devices":[{"deviceId":"d","platform":"ios","appVersion":"` + strings.Repeat("9", 2000) + `"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		store := newStore()
		rep, err := Import(context.Background(), bytes.NewReader(in), store, nil)
		if err != nil {
			t.Fatalf("Import = %v", err)
		}
		for _, b := range append(rep.Bad, rep.Refused...) {
			if len(b.Error()) > 2048 {
				t.Fatalf("line %d: a message of %d bytes", b.Line, len(b.Error()))
			}
		}
		for _, u := range store.All() {
			id := u.ID
			if err := u.Validate(); err != nil {
				t.Fatalf("imported an invalid user: %v", err)
			}
			if !incident.ValidKey(id, incident.MaxUserIDBytes) || len(u.Devices) > incident.MaxDevices {
				t.Fatalf("imported user of %d bytes with %d devices", len(id), len(u.Devices))
			}
			if u.Email != "" && audience.ValidEmail(u.Email) != nil {
				t.Fatal("imported an invalid email")
			}
		}
	})
}
