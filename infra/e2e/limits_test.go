package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"breachnotify/shared/incident"
	"breachnotify/shared/intake"
)

// TestHostileEventsAreRejectedAndRecorded: through the real intake
// bootstrap and store, events that used to break intake (a receipt too
// large to write, trailing data dropped unseen, a case-variant key read as
// confirmed) are rejected with a bounded reason, and the rejection is
// recorded with the event's SHA-256.
func TestHostileEventsAreRejectedAndRecorded(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	// Its own incident id: rejections are recorded under the id, and the
	// demo incident's receipts are TestConfirmedIncident's to count.
	confirmed := strings.ReplaceAll(string(readEvent(t, "incident-confirmed.json")), "INC-2014-0527", "INC-LIMITS-1")
	edit := func(f func(detail map[string]any)) string {
		var ev map[string]any
		if err := json.Unmarshal([]byte(confirmed), &ev); err != nil {
			t.Fatal(err)
		}
		f(ev["detail"].(map[string]any))
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	emptyIDs := make([]any, 10_000)
	for i := range emptyIDs {
		emptyIDs[i] = ""
	}
	tests := []struct {
		name, payload, want string
	}{
		{"trailing data", confirmed + " junk", "trailing data"},
		{"10,000 empty user ids", edit(func(d map[string]any) {
			d["notices"].([]any)[0].(map[string]any)["audience"] = map[string]any{"userIds": emptyIDs}
		}), "more problems"},
		{"100 KB incident id", edit(func(d map[string]any) { d["incidentId"] = strings.Repeat("I", 100_000) }), "incidentId"},
		{"case-variant status", edit(func(d map[string]any) { d["Status"] = "suspected" }), `key must be spelt "status"`},
		{"year 9999", edit(func(d map[string]any) { d["confirmedAt"] = "9999-01-01T00:00:00Z" }), "confirmedAt 9999"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body, err := s.Invoke(ctx, "IntakeFunction", []byte(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			var res intake.Result
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if res.Outcome != intake.Rejected || !strings.Contains(res.Reason, tc.want) || len(res.Reason) > incident.MaxReasonBytes {
				t.Errorf("result = %s %.200q (%d bytes), want rejected mentioning %q", res.Outcome, res.Reason, len(res.Reason), tc.want)
			}
			sum := sha256.Sum256([]byte(tc.payload))
			receipts, err := s.Receipts(ctx, res.IncidentID)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, rc := range receipts {
				found = found || rc.RawSHA256 == hex.EncodeToString(sum[:]) && rc.Outcome == intake.Rejected && rc.RawBytes == len(tc.payload)
			}
			if !found {
				t.Errorf("no rejected receipt with the event's SHA-256 under %q (%d receipts)", res.IncidentID, len(receipts))
			}
		})
	}
}
