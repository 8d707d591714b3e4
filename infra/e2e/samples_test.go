package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"breachnotify/infra/local"
	"breachnotify/shared/admin"
	"breachnotify/shared/incident"
	"breachnotify/shared/watch"
)

// Every admin sample event runs, in an order that makes each meaningful:
// confirm the suspected incident, look at the demo incident, send to it by
// hand, and finally cancel it. It runs on a stack of its own: the samples'
// incidents are then its own, and the export's multipart upload stays out
// of the main stack, where it would break every later outbox read (moto
// 5.2's /moto-api/data.json answers 500 once a multipart upload has left a
// part: the part's key has no bucket, and its status property raises
// NoSuchBucket as the state is walked).
func TestAdminSampleEvents(t *testing.T) {
	needStack(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(tmpDir, "samples")
	s, err := startStack(ctx, dir, local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Down(dir)
	for _, name := range []string{"incident-confirmed.json", "incident-suspected.json"} {
		if err := s.PutEvent(ctx, readEvent(t, name)); err != nil {
			t.Fatal(err)
		}
		if err := s.Drain(ctx, drainWait); err != nil {
			t.Fatal(err)
		}
	}
	// The operations a direct invocation may not run have samples shaped
	// as the Function URL events Lambda builds, naming local directory
	// principals. They are delivered here as `sam local invoke -e` does;
	// on AWS only the URL may deliver them (docs/admin.md).
	invoke := func(t *testing.T, name string) (admin.Response, error) {
		t.Helper()
		event := readEvent(t, name)
		out, err := s.Invoke(ctx, "AdminFunction", event)
		if err != nil {
			return admin.Response{}, err
		}
		if bytes.Contains(event, []byte(`"requestContext"`)) {
			var resp events.LambdaFunctionURLResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				return admin.Response{}, fmt.Errorf("HTTP %d: %s", resp.StatusCode, resp.Body)
			}
			out = []byte(resp.Body)
		}
		var resp admin.Response
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		return resp, nil
	}
	tests := []struct {
		event string
		check func(t *testing.T, r admin.Response, err error)
	}{
		{"admin-confirm.json", func(t *testing.T, r admin.Response, err error) {
			if err != nil || r.State != incident.StateConfirmed {
				t.Fatalf("confirm: %+v %v", r, err)
			}
			if err := s.Drain(ctx, drainWait); err != nil {
				t.Fatal(err)
			}
		}},
		{"admin-status.json", func(t *testing.T, r admin.Response, err error) {
			if err != nil || r.Status == nil || r.Status.Total.Planned == 0 || len(r.Status.Deadlines) != 2 {
				t.Errorf("status: %+v %v", r.Status, err)
			}
		}},
		{"admin-preview.json", func(t *testing.T, r admin.Response, err error) {
			if err != nil || r.Preview == nil || len(r.Preview.Samples) == 0 {
				t.Errorf("preview: %+v %v", r.Preview, err)
			}
			if r.Preview != nil && (r.Preview.Preflight == nil || len(r.Preview.Preflight.Checks) == 0) {
				t.Errorf("preview shows no preflight verdict: %+v", r.Preview.Preflight)
			}
		}},
		{"admin-preflight.json", func(t *testing.T, r admin.Response, err error) {
			if err != nil || r.Preflight == nil || r.Preflight.Status == "" || len(r.Preflight.Checks) == 0 {
				t.Errorf("preflight: %+v %v", r.Preflight, err)
			}
		}},
		{"admin-verify.json", func(t *testing.T, r admin.Response, err error) {
			if err != nil || r.Verify == nil || !r.Verify.OK || r.Verify.Entries == 0 {
				t.Errorf("verify: %+v %v", r.Verify, err)
			}
		}},
		{"admin-export.json", func(t *testing.T, r admin.Response, err error) {
			if err != nil || r.Export == nil || r.Export.Outcomes == 0 {
				t.Errorf("export: %+v %v", r.Export, err)
			}
		}},
		{"admin-authority-notified.json", func(t *testing.T, r admin.Response, err error) {
			if err != nil {
				t.Error(err)
			}
		}},
		{"admin-publish.json", func(t *testing.T, r admin.Response, err error) {
			if err != nil || r.Published == nil || len(r.Published.Pages) != 4 || r.Published.Updates != 1 {
				t.Errorf("publish: %+v %v", r.Published, err)
			}
		}},
		{"admin-resume.json", func(t *testing.T, r admin.Response, err error) {
			if err != nil || r.Resumed["email"] != 0 {
				t.Errorf("resume with nothing parked: %+v %v", r, err)
			}
		}},
		{"admin-send.json", func(t *testing.T, r admin.Response, err error) {
			if err != nil || len(r.AlreadyNotified) != 1 {
				t.Errorf("send: %+v %v", r, err)
			}
		}},
		{"admin-resend-failed.json", func(t *testing.T, r admin.Response, err error) {
			if err != nil || r.Requeued != 0 {
				t.Errorf("resend-failed with nothing failed: %+v %v", r, err)
			}
		}},
		{"admin-approve.json", func(t *testing.T, r admin.Response, err error) {
			if err == nil || !strings.Contains(err.Error(), "cannot approve a sending incident") {
				t.Errorf("approve of a sending incident: %v, want refused", err)
			}
		}},
		{"admin-cancel.json", func(t *testing.T, r admin.Response, err error) {
			if err != nil || r.State != incident.StateCancelled {
				t.Errorf("cancel: %+v %v", r, err)
			}
		}},
	}
	names, err := filepath.Glob(filepath.Join(root, "events", "admin-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(tests) {
		t.Errorf("%d admin samples, %d tested", len(names), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.event, func(t *testing.T) {
			r, err := invoke(t, tc.event)
			tc.check(t, r, err)
		})
	}
	if err := s.Drain(ctx, drainWait); err != nil {
		t.Fatal(err)
	}

	t.Run("deadlinewatch-schedule.json", func(t *testing.T) {
		out, err := s.Invoke(ctx, "DeadlineWatchFunction", readEvent(t, "deadlinewatch-schedule.json"))
		if err != nil {
			t.Fatal(err)
		}
		var r watch.Report
		if err := json.Unmarshal(out, &r); err != nil || r.Watched == 0 {
			t.Errorf("watch report %s (%v)", out, err)
		}
	})
}
