package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"breachnotify/shared/admin"
	"breachnotify/shared/preflight"
)

// TestPreflight: the local stack answers preflight's reads as a deployed
// account that has done its setup would (the sender verified, production
// access, the configuration set, enabled platform applications), through
// the same SES, SNS and EventBridge calls as on AWS.
func TestPreflight(t *testing.T) {
	s := needStack(t)
	body, err := s.Invoke(context.Background(), "AdminFunction", []byte(`{"operation":"preflight","actor":"secops:omar"}`))
	if err != nil {
		t.Fatal(err)
	}
	var r admin.Response
	if err := json.Unmarshal(body, &r); err != nil || r.Preflight == nil {
		t.Fatalf("preflight answered %s (%v)", body, err)
	}
	got := map[string]preflight.Check{}
	for _, c := range r.Preflight.Checks {
		got[c.Name] = c
	}
	for _, name := range []string{"ses-account", "ses-quota", "ses-sender", "ses-configuration-set", "sns-android", "sns-ios"} {
		if c := got[name]; c.Status != preflight.OK {
			t.Errorf("%s = %+v, want ok", name, c)
		}
	}
	if c := got["ses-sender"]; !strings.Contains(c.Reason, "example.com") {
		t.Errorf("ses-sender = %+v, want the verified identity named", c)
	}
	// The bus check is there; its verdict depends on the bus the template
	// declares (no resource policy on the default bus: warn).
	if c, ok := got["eventbridge-bus"]; !ok || c.Status == preflight.Fail {
		t.Errorf("eventbridge-bus = %+v, want a check that does not fail", c)
	}
	if len(got) != 7 || r.Preflight.Status == preflight.Fail {
		t.Errorf("verdict %s with %d checks: %+v", r.Preflight.Status, len(got), r.Preflight.Checks)
	}
}
