package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The flags become the admin function's own Request: what the function
// reads is what the operator typed.
func TestRunSendsTheRequest(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    map[string]any // the request body; nil: nothing is sent
		wantErr string
	}{
		{name: "authority notified at a time", args: []string{"-incident", "INC-1", "authority-notified", "-at", "2026-11-30T08:00:00+01:00"},
			want: map[string]any{"operation": "authority-notified", "incidentId": "INC-1", "at": "2026-11-30T08:00:00+01:00"}},
		{name: "authority notified now", args: []string{"-incident", "INC-1", "authority-notified"},
			want: map[string]any{"operation": "authority-notified", "incidentId": "INC-1"}},
		{name: "one channel", args: []string{"-incident", "INC-1", "-channel", "push", "resume"},
			want: map[string]any{"operation": "resume", "incidentId": "INC-1", "channel": "push"}},
		{name: "no incident for preflight", args: []string{"preflight"},
			want: map[string]any{"operation": "preflight"}},
		{name: "-at with another operation", args: []string{"-incident", "INC-1", "status", "-at", "2026-11-30T08:00:00Z"},
			wantErr: "-at goes with authority-notified"},
		{name: "-at not RFC 3339", args: []string{"-incident", "INC-1", "authority-notified", "-at", "yesterday"},
			wantErr: "-at: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got map[string]any
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
					t.Errorf("request body: %v", err)
				}
				_, _ = io.WriteString(w, `{"operation":"x","incidentId":"INC-1","actor":"arn:aws:iam::1:user/a"}`)
			}))
			defer srv.Close()
			// Credentials and region from the environment alone, whatever
			// the machine's own AWS configuration says.
			t.Setenv("AWS_PROFILE", "")
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
			t.Setenv("AWS_REGION", "eu-west-1")
			t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
			out, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()

			err = run(context.Background(), append([]string{"-url", srv.URL}, tc.args...), out)

			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || got != nil {
					t.Errorf("err %v after sending %v; want %q and nothing sent", err, got, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g, w := mustJSON(t, got), mustJSON(t, tc.want); g != w {
				t.Errorf("sent %s, want %s", g, w)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
