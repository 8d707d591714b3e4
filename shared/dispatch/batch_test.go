package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"breachnotify/shared/audience"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

const validBody = `{"incidentId":"INC-2014-0527","title":"Unauthorised access to internal systems","noticeId":"n1-update-app","template":"update-app","channels":["email","push"],"fixedVersion":"8.9.0","members":[{"userId":"u-1","allDevices":true},{"userId":"u-2","deviceIds":["d3","d4"]}]}`

func TestParseBatch(t *testing.T) {
	t.Run("valid", func(t *testing.T) {
		b, err := ParseBatch([]byte(validBody))
		if err != nil {
			t.Fatalf("ParseBatch: %v", err)
		}
		want := Batch{
			IncidentID: "INC-2014-0527",
			NoticeID:   "n1-update-app", Template: "update-app",
			Channels: []incident.Channel{incident.Email, incident.Push}, FixedVersion: "8.9.0",
			Members: []audience.Member{{UserID: "u-1", AllDevices: true}, {UserID: "u-2", DeviceIDs: []string{"d3", "d4"}}},
		}
		if !equalBatch(b, want) {
			t.Errorf("ParseBatch =\n  %+v\nwant\n  %+v", b, want)
		}
	})

	// edit returns validBody with one field replaced (or removed when to is "").
	edit := func(field, to string) string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(validBody), &m); err != nil {
			panic(err)
		}
		if to == "" {
			delete(m, field)
		} else {
			m[field] = json.RawMessage(to)
		}
		b, err := json.Marshal(m)
		if err != nil {
			panic(err)
		}
		return string(b)
	}
	tests := []struct {
		name string
		body string
	}{
		{"malformed JSON", `{"incidentId":`},
		{"not an object", `["INC-2014-0527"]`},
		{"null", `null`},
		{"empty body", ``},
		{"wrong type", edit("members", `"u-1"`)},
		{"missing incidentId", edit("incidentId", "")},
		{"bad incidentId", edit("incidentId", `"INC#1"`)},
		{"incidentId too long", edit("incidentId", `"`+strings.Repeat("x", 65)+`"`)},
		{"missing noticeId", edit("noticeId", "")},
		{"missing template", edit("template", "")},
		{"missing channels", edit("channels", "")},
		{"empty channels", edit("channels", `[]`)},
		{"missing members", edit("members", "")},
		{"empty members", edit("members", `[]`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBatch([]byte(tc.body))
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseBatch(%s) err = %v, want errors.Is ErrMalformed", tc.body, err)
			}
		})
	}
}

func TestBatchRoundTrip(t *testing.T) {
	b := batch("update-app", emailPush, []audience.Member{{UserID: "u-1", AllDevices: true}, {UserID: "u-2", DeviceIDs: []string{"d3"}}})
	body, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseBatch(body)
	if err != nil {
		t.Fatalf("ParseBatch(%s): %v", body, err)
	}
	if !equalBatch(got, b) {
		t.Errorf("round trip =\n  %+v\nwant\n  %+v", got, b)
	}
}

// TestSampleWorkerEvent decodes events/worker-batch.json as Lambda would
// and processes its batch with fakes.
func TestSampleWorkerEvent(t *testing.T) {
	raw, err := os.ReadFile("../../events/worker-batch.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("decode SQS event: %v", err)
	}
	if len(ev.Records) == 0 {
		t.Fatal("no records")
	}
	for _, rec := range ev.Records {
		t.Run(rec.MessageId, func(t *testing.T) {
			if rec.EventSource != "aws:sqs" || !strings.HasSuffix(rec.EventSourceARN, ":RecipientsQueue") {
				t.Errorf("eventSource %q arn %q", rec.EventSource, rec.EventSourceARN)
			}
			if rec.Attributes["ApproximateReceiveCount"] == "" {
				t.Error("no ApproximateReceiveCount attribute")
			}
			b, err := ParseBatch([]byte(rec.Body))
			if err != nil {
				t.Fatalf("ParseBatch: %v", err)
			}
			want := Batch{
				IncidentID: "INC-2014-0527",
				NoticeID:   "n0-account-accessed", Template: "account-accessed",
				Channels: []incident.Channel{incident.Email, incident.Push},
				Members:  []audience.Member{{UserID: "u-000123", AllDevices: true}},
			}
			if !equalBatch(b, want) {
				t.Errorf("batch =\n  %+v\nwant\n  %+v", b, want)
			}

			e := newEnv(fake.NewUsers(audience.User{ID: "u-000123", Name: "Ana", Email: "ana@example.com",
				Devices: []audience.Device{device("d1", "android")}}))
			counts, err := e.worker.Process(context.Background(), b)
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if counts != (Counts{Sent: 2}) || !slices.Equal(e.mailer.to(), []string{"ana@example.com"}) ||
				!slices.Equal(e.pusher.endpoints(), []string{arn("d1")}) {
				t.Errorf("counts %+v, mailed %q, pushed %q", counts, e.mailer.to(), e.pusher.endpoints())
			}
			for k, entry := range snapshot(e.ledger) {
				if entry.Status != ledger.Sent {
					t.Errorf("%s status %q, want sent", k, entry.Status)
				}
			}
		})
	}
}

func equalBatch(a, b Batch) bool {
	return a.IncidentID == b.IncidentID && a.NoticeID == b.NoticeID &&
		a.Template == b.Template && a.FixedVersion == b.FixedVersion &&
		slices.Equal(a.Channels, b.Channels) &&
		slices.EqualFunc(a.Members, b.Members, func(x, y audience.Member) bool {
			return x.UserID == y.UserID && x.AllDevices == y.AllDevices && slices.Equal(x.DeviceIDs, y.DeviceIDs)
		})
}
