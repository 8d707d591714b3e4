package local

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The emulator ends an invocation at its timeout with a plain-text body and
// HTTP 200; Invoke reports it as a function error that timed out, and the
// mapper counts it.
func TestInvokeReportsATimeout(t *testing.T) {
	tests := []struct {
		name         string
		body         string
		wantErr      bool
		wantTimedOut bool
	}{
		{"timed out", "Task timed out after 15.00 seconds", true, true},
		{"handler error", `{"errorMessage":"boom","errorType":"x"}`, true, false},
		{"success", `{"batchItemFailures":[]}`, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(tc.body)) }))
			defer srv.Close()
			s := &State{Dir: t.TempDir(), Functions: map[string]Function{"WorkerFunction": {URL: srv.URL, Timeout: 1}}, PIDs: map[string]int{}}
			_, err := s.Invoke(context.Background(), "WorkerFunction", []byte(`{}`))
			s.count("WorkerFunction", err)
			var fe *FunctionError
			if (err != nil) != tc.wantErr || (err != nil && (!errors.As(err, &fe) || fe.TimedOut != tc.wantTimedOut)) {
				t.Fatalf("err = %v, want error %v, timed out %v", err, tc.wantErr, tc.wantTimedOut)
			}
			want := Invocations{All: 1}
			if tc.wantTimedOut {
				want.TimedOut = 1
			}
			if got := s.InvocationsOf("WorkerFunction"); got != want {
				t.Errorf("counted %+v, want %+v", got, want)
			}
		})
	}
}
