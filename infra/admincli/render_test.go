package admincli

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"breachnotify/shared/admin"
	"breachnotify/shared/status"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func seconds(s float64) *float64 { return &s }

func TestBar(t *testing.T) {
	channels := func(sent, failed, skipped int) []status.Notice {
		return []status.Notice{{NoticeID: "n0-update-app", Channels: []status.Channel{
			{Channel: "email", Sent: sent - 1, Failed: failed, Skipped: skipped},
			{Channel: "push", Sent: 1},
		}}}
	}
	tests := []struct {
		name  string
		s     admin.Status
		width int
		want  string
	}{
		{"under way, with the nearest deadline", admin.Status{
			Notices: channels(88, 1, 1), Total: status.Total{Planned: 200, Done: 90, Percent: 45.2}, ETASeconds: seconds(72),
			Deadlines: []status.Deadline{{Rule: "authority", State: "on-track", LeftSeconds: 200000}, {Rule: "users", State: "on-track", LeftSeconds: 83400}},
		}, 20, "[#########...........] 45.2%  90/200  sent 88 failed 1 skipped 1  ETA 1m12s  users deadline in 23h10m"},
		{"nothing sent yet, ETA unknown", admin.Status{Total: status.Total{Planned: 200}}, 10,
			"[..........] 0.0%  0/200  sent 0 failed 0 skipped 0  ETA unknown"},
		{"done, deadlines met", admin.Status{
			Notices: channels(198, 0, 2), Total: status.Total{Planned: 200, Done: 200, Percent: 100}, ETASeconds: seconds(0),
			Deadlines: []status.Deadline{{Rule: "users", State: "met"}, {Rule: "authority", State: "not-started"}},
		}, 10, "[##########] 100.0%  200/200  sent 198 failed 0 skipped 2  ETA 0s"},
		{"a percentage out of range is clamped", admin.Status{Total: status.Total{Planned: 1, Done: 2, Percent: 200}, ETASeconds: seconds(0)}, 4,
			"[####] 100.0%  2/1  sent 0 failed 0 skipped 0  ETA 0s"},
		{"a wider bar", admin.Status{Total: status.Total{Planned: 3, Done: 1, Percent: 33.3}, ETASeconds: seconds(3 * 86400)}, 30,
			"[#########.....................] 33.3%  1/3  sent 0 failed 0 skipped 0  ETA 3d0h"},
		{"a deadline at risk", admin.Status{Total: status.Total{Planned: 10}, ETASeconds: seconds(45),
			Deadlines: []status.Deadline{{Rule: "users", State: "at-risk", LeftSeconds: 30}}}, 5,
			"[.....] 0.0%  0/10  sent 0 failed 0 skipped 0  ETA 45s  users deadline in 30s AT RISK"},
		{"a missed deadline comes first", admin.Status{Total: status.Total{Planned: 10}, ETASeconds: seconds(45),
			Deadlines: []status.Deadline{{Rule: "users", State: "on-track", LeftSeconds: 60}, {Rule: "authority", State: "missed", LeftSeconds: -7500}}}, 5,
			"[.....] 0.0%  0/10  sent 0 failed 0 skipped 0  ETA 45s  authority deadline MISSED 2h5m ago"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Bar(tc.s, tc.width); got != tc.want {
				t.Errorf("Bar =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		seconds float64
		want    string
	}{
		{0, "0s"}, {-5, "0s"}, {44.4, "44s"}, {59.6, "1m0s"}, {72, "1m12s"},
		{3600, "1h0m"}, {83400, "23h10m"}, {47*3600 + 59*60, "47h59m"}, {2 * 86400, "2d0h"},
	}
	for _, tc := range tests {
		if got := duration(tc.seconds); got != tc.want {
			t.Errorf("duration(%v) = %q, want %q", tc.seconds, got, tc.want)
		}
	}
}

// TestSummary compares each operation's summary with testdata/<name>.golden;
// go test -run TestSummary -update rewrites them.
func TestSummary(t *testing.T) {
	tests := []struct{ name, response string }{
		{"status", `{"operation":"status","incidentId":"INC-1","actor":"arn:aws:iam::123456789012:user/omar","state":"sending",
			"status":{"state":"sending","notices":[{"noticeId":"n0-update-app","channels":[
				{"channel":"email","planned":100,"sent":50,"failed":1,"skipped":2,"pending":47},
				{"channel":"push","planned":100,"sent":47,"failed":0,"skipped":0,"pending":53}],
				"reached":40,"pending":57,"unreachable":3}],
			"total":{"planned":200,"done":100,"percent":50.0},"etaSeconds":12.5,
			"deadlines":[{"rule":"users","dueAt":"2026-11-30T09:40:00Z","state":"on-track","leftSeconds":3600},
				{"rule":"authority","dueAt":"2026-11-28T09:40:00Z","state":"missed","leftSeconds":-7200},
				{"rule":"regulator","state":"not-started","leftSeconds":0}]}}`},
		{"approve", `{"operation":"approve","incidentId":"INC-1","actor":"arn:aws:iam::123456789012:user/omar","state":"sending","message":"approved by a second admin; sending"}`},
		{"export", `{"operation":"export","incidentId":"INC-1","actor":"local:omar","export":{"jsonUrl":"https://b.s3.amazonaws.com/INC-1.json?X-Amz-Signature=1","csvUrl":"https://b.s3.amazonaws.com/INC-1.csv?X-Amz-Signature=2"}}`},
		{"verify-ok", `{"operation":"verify","incidentId":"INC-1","actor":"local:omar","verify":{"ok":true,"entries":12}}`},
		{"verify-broken", `{"operation":"verify","incidentId":"INC-1","actor":"local:omar","verify":{"ok":false,"entries":7,"problem":"entry 5 does not chain to entry 4"}}`},
		{"resume", `{"operation":"resume","incidentId":"INC-1","actor":"local:omar","resumed":{"push":0,"email":3}}`},
		{"preflight", `{"operation":"preflight","incidentId":"","actor":"local:omar","message":"preflight: fail","preflight":{"status":"fail","checks":[
			{"name":"ses-account","status":"fail","reason":"the account is in the SES sandbox: it may send only to verified addresses, 200 per 24 hours; request production access"},
			{"name":"ses-sender","status":"ok","reason":"example.com is verified for sending"},
			{"name":"eventbridge-bus","status":"warn","reason":"incidents has no resource policy"}]}}`},
		{"resend-failed-none", `{"operation":"resend-failed","incidentId":"INC-1","actor":"local:omar"}`},
		{"preview", `{"operation":"preview","incidentId":"INC-1","actor":"local:omar","state":"awaiting_approval","preview":{
			"counts":[{"noticeId":"n0-update-app","channel":"email","locale":"en","count":900},{"noticeId":"n0-update-app","channel":"email","locale":"fr","count":300}],
			"members":1200,"samples":[{"noticeId":"n0-update-app","locale":"en","version":"3","subject":"Update the Acme app",
				"text":"Hello Alex Example,\nplease update the app to 8.9.0.","pushTitle":"Update the Acme app","pushBody":"Version 8.9.0 fixes a security issue."}],
			"etaSeconds":86}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r admin.Response
			if err := json.Unmarshal([]byte(tc.response), &r); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := Summary(&got, r); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want) {
				t.Errorf("summary:\n%s\nwant (%s):\n%s", got.String(), golden, want)
			}
		})
	}
}
