package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"breachnotify/shared/audience"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/incident"
	"breachnotify/shared/notice"
)

// confirmedEvent is the contract's example event.
const confirmedEvent = `{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"Incident Confirmed","source":"acme.detection","account":"123456789012","time":"2014-05-27T10:00:00Z","region":"us-east-1","resources":[],
 "detail":{"incidentId":"INC-2014-0527","status":"confirmed","title":"Unauthorised access to internal systems","summary":"An attacker used a stolen support credential.",
  "detectedAt":"2014-05-26T22:10:00Z","confirmedAt":"2014-05-27T09:40:00Z","confirmedBy":"secops:jane",
  "notices":[
   {"template":"account-accessed","channels":["email","push"],"audience":{"userIds":["u-000123"]}},
   {"template":"update-app","channels":["email","push"],"audience":{"platforms":["android"],"appVersionBelow":"8.9.0"},"fixedVersion":"8.9.0"}]}}`

// event returns the example event after edit changes its envelope (a
// generic map, "detail" included).
func event(t *testing.T, edit func(ev map[string]any, detail map[string]any)) json.RawMessage {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal([]byte(confirmedEvent), &ev); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		detail, _ := ev["detail"].(map[string]any)
		edit(ev, detail)
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// suspect turns the example into a suspected event with a new event id.
func suspect(eventID string) func(ev, detail map[string]any) {
	return func(ev, detail map[string]any) {
		ev["id"], ev["detail-type"] = eventID, DetailSuspected
		detail["status"] = "suspected"
		delete(detail, "confirmedAt")
		delete(detail, "confirmedBy")
	}
}

// delivery is one Handle call.
type delivery struct {
	raw         json.RawMessage
	before      func(*env)
	wantErr     error // Handle must fail with an error wrapping this
	wantOutcome Outcome
	wantReason  string // fragment; "" means any reason (or none)
	// wantQueued lists the notice ids of the batches this call queues.
	wantQueued []string
}

func TestHandle(t *testing.T) {
	const id = "INC-2014-0527"
	both := []string{"n0-account-accessed", "n1-update-app", "n1-update-app"} // BatchSize 2: 1 + 2 messages
	tests := []struct {
		name       string
		deliveries func(t *testing.T) []delivery
		// wantState is the stored incident's state at the end ("" means
		// nothing stored), and wantPlanned whether it was planned.
		wantState   incident.Status
		wantPlanned bool
	}{
		{
			name: "confirmed two-notice event is planned",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{raw: event(t, nil), wantOutcome: Planned, wantQueued: both}}
			},
			wantState: incident.Confirmed, wantPlanned: true,
		},
		{
			name: "same event again is a duplicate",
			deliveries: func(t *testing.T) []delivery {
				raw := event(t, nil)
				return []delivery{
					{raw: raw, wantOutcome: Planned, wantQueued: both},
					{raw: raw, before: func(e *env) { e.clock.Advance(time.Minute) }, wantOutcome: Duplicate, wantReason: "already planned"},
				}
			},
			wantState: incident.Confirmed, wantPlanned: true,
		},
		{
			name: "another confirmed event for a planned incident is a duplicate",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{
					{raw: event(t, nil), wantOutcome: Planned, wantQueued: both},
					{raw: event(t, func(ev, _ map[string]any) { ev["id"] = "second-event" }), wantOutcome: Duplicate},
				}
			},
			wantState: incident.Confirmed, wantPlanned: true,
		},
		{
			name: "suspected event is recorded, nothing queued",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{raw: event(t, suspect("s1")), wantOutcome: Recorded}}
			},
			wantState: incident.Suspected,
		},
		{
			name: "confirmed detail-type with suspected status is recorded",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{
					raw:         event(t, func(_, detail map[string]any) { detail["status"] = "suspected" }),
					wantOutcome: Recorded, wantReason: `detail.status is "suspected"`,
				}}
			},
			wantState: incident.Suspected,
		},
		{
			name: "suspected detail-type with confirmed status is recorded",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{
					raw:         event(t, func(ev, _ map[string]any) { ev["detail-type"] = DetailSuspected }),
					wantOutcome: Recorded, wantReason: "detail-type",
				}}
			},
			wantState: incident.Suspected,
		},
		{
			name: "suspected then confirmed is planned",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{
					{raw: event(t, suspect("s1")), wantOutcome: Recorded},
					{raw: event(t, nil), before: func(e *env) { e.clock.Advance(time.Hour) }, wantOutcome: Planned, wantQueued: both},
				}
			},
			wantState: incident.Confirmed, wantPlanned: true,
		},
		{
			name: "suspected after planned changes nothing",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{
					{raw: event(t, nil), wantOutcome: Planned, wantQueued: both},
					{raw: event(t, suspect("s2")), wantOutcome: Duplicate},
				}
			},
			wantState: incident.Confirmed, wantPlanned: true,
		},
		{
			name: "missing title is rejected",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{raw: event(t, func(_, d map[string]any) { delete(d, "title") }), wantOutcome: Rejected, wantReason: "title"}}
			},
		},
		{
			name: "unknown template is rejected",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{raw: event(t, func(_, d map[string]any) {
					d["notices"].([]any)[1].(map[string]any)["template"] = "reset-password"
				}), wantOutcome: Rejected, wantReason: "reset-password"}}
			},
		},
		{
			name: "bad JSON is rejected",
			deliveries: func(*testing.T) []delivery {
				return []delivery{{raw: json.RawMessage(`{"version":"0","id":"x",`), wantOutcome: Rejected}}
			},
		},
		{
			name: "wrong detail-type is rejected",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{raw: event(t, func(ev, _ map[string]any) { ev["detail-type"] = "Incident Resolved" }), wantOutcome: Rejected, wantReason: "detail-type"}}
			},
		},
		{
			name: "missing detail is rejected",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{raw: event(t, func(ev, _ map[string]any) { delete(ev, "detail") }), wantOutcome: Rejected, wantReason: "detail"}}
			},
		},
		{
			name: "null detail is rejected",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{raw: event(t, func(ev, _ map[string]any) { ev["detail"] = nil }), wantOutcome: Rejected, wantReason: "detail"}}
			},
		},
		{
			name: "detail of the wrong type is rejected",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{raw: event(t, func(_, d map[string]any) { d["detectedAt"] = "yesterday" }), wantOutcome: Rejected}}
			},
		},
		{
			name: "rejected then corrected event is planned",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{
					{raw: event(t, func(_, d map[string]any) { d["title"] = "" }), wantOutcome: Rejected, wantReason: "title"},
					{raw: event(t, nil), wantOutcome: Planned, wantQueued: both},
				}
			},
			wantState: incident.Confirmed, wantPlanned: true,
		},
		{
			name: "queue error is retried and the redelivery plans again",
			deliveries: func(t *testing.T) []delivery {
				raw := event(t, nil)
				return []delivery{
					{
						raw: raw,
						// The first notice is queued, the second fails.
						before: func(e *env) {
							e.queue.fail = func(call int) error {
								if call == 2 {
									return errUnavailable
								}
								return nil
							}
						},
						wantErr:    errUnavailable,
						wantQueued: []string{"n0-account-accessed"},
					},
					{raw: raw, before: func(e *env) { e.queue.fail = nil }, wantOutcome: Planned, wantQueued: both},
					{raw: raw, wantOutcome: Duplicate},
				}
			},
			wantState: incident.Confirmed, wantPlanned: true,
		},
		{
			name: "directory error is retried",
			deliveries: func(t *testing.T) []delivery {
				raw := event(t, nil)
				return []delivery{
					{raw: raw, before: func(e *env) { e.directory.err = errUnavailable }, wantErr: errUnavailable},
					{raw: raw, before: func(e *env) { e.directory.err = nil }, wantOutcome: Planned, wantQueued: both},
				}
			},
			wantState: incident.Confirmed, wantPlanned: true,
		},
		{
			name: "incident store error is retried, nothing queued",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{raw: event(t, nil), before: func(e *env) { e.incidents.getErr = errUnavailable }, wantErr: errUnavailable}}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(2)
			receipts := 0
			for i, d := range tc.deliveries(t) {
				if d.before != nil {
					d.before(e)
				}
				queued := len(e.queue.bodies)
				res, err := e.handler.Handle(context.Background(), d.raw)
				if d.wantErr != nil {
					if !errors.Is(err, d.wantErr) {
						t.Fatalf("delivery %d: Handle error = %v, want errors.Is %v", i, err, d.wantErr)
					}
				} else {
					if err != nil {
						t.Fatalf("delivery %d: Handle error = %v, want nil", i, err)
					}
					if res.Outcome != d.wantOutcome {
						t.Errorf("delivery %d: outcome = %q (reason %q), want %q", i, res.Outcome, res.Reason, d.wantOutcome)
					}
					if !strings.Contains(res.Reason, d.wantReason) {
						t.Errorf("delivery %d: reason = %q, want it to mention %q", i, res.Reason, d.wantReason)
					}
					if (d.wantOutcome == Rejected || d.wantReason != "") && res.Reason == "" {
						t.Errorf("delivery %d: %s without a reason", i, res.Outcome)
					}
					receipts++
					checkReceipt(t, i, e, d.raw, res)
				}
				var got []string
				for _, body := range e.queue.bodies[queued:] {
					b, err := dispatch.ParseBatch(body)
					if err != nil {
						t.Fatalf("delivery %d: queued body does not parse: %v", i, err)
					}
					got = append(got, b.NoticeID)
				}
				if !slices.Equal(got, d.wantQueued) {
					t.Errorf("delivery %d: queued batches for %q, want %q", i, got, d.wantQueued)
				}
			}
			if len(e.incidents.receipts) != receipts {
				t.Errorf("%d receipts, want one per handled event (%d)", len(e.incidents.receipts), receipts)
			}
			rec, found := e.incidents.records[id]
			switch {
			case tc.wantState == "" && found:
				t.Errorf("incident stored (%+v), want nothing", rec)
			case tc.wantState != "" && !found:
				t.Fatalf("incident not stored, want state %q", tc.wantState)
			case found:
				if rec.State != tc.wantState {
					t.Errorf("stored state = %q, want %q", rec.State, tc.wantState)
				}
				if planned := !rec.PlannedAt.IsZero(); planned != tc.wantPlanned {
					t.Errorf("stored planned = %v (at %v), want %v", planned, rec.PlannedAt, tc.wantPlanned)
				}
				if tc.wantPlanned && len(rec.Plan) != 2 {
					t.Errorf("stored plan = %+v, want two notices", rec.Plan)
				}
			}
		})
	}
}

// checkReceipt checks the receipt the last Handle call added.
func checkReceipt(t *testing.T, i int, e *env, raw json.RawMessage, res Result) {
	t.Helper()
	if len(e.incidents.receipts) == 0 {
		t.Errorf("delivery %d: no receipt", i)
		return
	}
	rc := e.incidents.receipts[len(e.incidents.receipts)-1]
	var ev struct {
		ID         string `json:"id"`
		DetailType string `json:"detail-type"`
		Source     string `json:"source"`
	}
	_ = json.Unmarshal(raw, &ev)
	if rc.Outcome != res.Outcome || rc.Reason != res.Reason || rc.IncidentID != res.IncidentID {
		t.Errorf("delivery %d: receipt %+v does not match result %+v", i, rc, res)
	}
	if rc.EventID != ev.ID || rc.DetailType != ev.DetailType || rc.Source != ev.Source {
		t.Errorf("delivery %d: receipt event %q/%q/%q, want %q/%q/%q", i, rc.EventID, rc.DetailType, rc.Source, ev.ID, ev.DetailType, ev.Source)
	}
	if !rc.ReceivedAt.Equal(e.clock.Now()) {
		t.Errorf("delivery %d: receipt receivedAt %v, want %v", i, rc.ReceivedAt, e.clock.Now())
	}
	if res.Outcome == Rejected {
		if rc.Raw != string(raw) {
			t.Errorf("delivery %d: rejected receipt raw = %q, want the event", i, rc.Raw)
		}
	} else if rc.Raw != "" {
		t.Errorf("delivery %d: %s receipt keeps raw %q", i, rc.Outcome, rc.Raw)
	}
}

// TestHandlePlansBatches checks the content of the queued batches and the
// plan of the example event.
func TestHandlePlansBatches(t *testing.T) {
	tests := []struct {
		name      string
		batchSize int
		// wantMembers lists each queued batch's members, in order.
		wantMembers [][]audience.Member
		wantPlan    []NoticePlan
	}{
		{
			name:      "batch size 2 splits three cohort members",
			batchSize: 2,
			wantMembers: [][]audience.Member{
				{{UserID: "u-000123", AllDevices: true}},
				{{UserID: "u-100", DeviceIDs: []string{"d-a"}}, {UserID: "u-101", DeviceIDs: []string{"d-b"}}},
				{{UserID: "u-103", DeviceIDs: []string{"d-d", "d-e"}}},
			},
			wantPlan: []NoticePlan{
				{NoticeID: "n0-account-accessed", Template: "account-accessed", Members: 1, Messages: 1},
				{NoticeID: "n1-update-app", Template: "update-app", Members: 3, CohortDevices: 4, UnparsedVersions: 1, Messages: 2},
			},
		},
		{
			name:      "batch size 50 sends one message per notice",
			batchSize: 50,
			wantMembers: [][]audience.Member{
				{{UserID: "u-000123", AllDevices: true}},
				{{UserID: "u-100", DeviceIDs: []string{"d-a"}}, {UserID: "u-101", DeviceIDs: []string{"d-b"}}, {UserID: "u-103", DeviceIDs: []string{"d-d", "d-e"}}},
			},
			wantPlan: []NoticePlan{
				{NoticeID: "n0-account-accessed", Template: "account-accessed", Members: 1, Messages: 1},
				{NoticeID: "n1-update-app", Template: "update-app", Members: 3, CohortDevices: 4, UnparsedVersions: 1, Messages: 1},
			},
		},
		{
			name:      "batch size 1",
			batchSize: 1,
			wantMembers: [][]audience.Member{
				{{UserID: "u-000123", AllDevices: true}},
				{{UserID: "u-100", DeviceIDs: []string{"d-a"}}},
				{{UserID: "u-101", DeviceIDs: []string{"d-b"}}},
				{{UserID: "u-103", DeviceIDs: []string{"d-d", "d-e"}}},
			},
			wantPlan: []NoticePlan{
				{NoticeID: "n0-account-accessed", Template: "account-accessed", Members: 1, Messages: 1},
				{NoticeID: "n1-update-app", Template: "update-app", Members: 3, CohortDevices: 4, UnparsedVersions: 1, Messages: 3},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(tc.batchSize)
			res, err := e.handler.Handle(context.Background(), json.RawMessage(confirmedEvent))
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != Planned || res.IncidentID != "INC-2014-0527" {
				t.Fatalf("result = %+v, want planned INC-2014-0527", res)
			}
			if !slices.EqualFunc(res.Notices, tc.wantPlan, equalPlan) {
				t.Errorf("plan =\n  %+v\nwant\n  %+v", res.Notices, tc.wantPlan)
			}
			if stored := e.incidents.records["INC-2014-0527"]; !slices.EqualFunc(stored.Plan, tc.wantPlan, equalPlan) ||
				!stored.PlannedAt.Equal(t0) {
				t.Errorf("stored plan %+v at %v, want %+v at %v", stored.Plan, stored.PlannedAt, tc.wantPlan, t0)
			}
			batches, err := e.queue.batches()
			if err != nil {
				t.Fatalf("queued batch does not parse: %v", err)
			}
			if e.queue.calls != 2 {
				t.Errorf("Queue.Send called %d times, want once per notice", e.queue.calls)
			}
			if len(batches) != len(tc.wantMembers) {
				t.Fatalf("queued %d batches, want %d", len(batches), len(tc.wantMembers))
			}
			for i, b := range batches {
				if len(b.Members) > tc.batchSize {
					t.Errorf("batch %d has %d members, more than BatchSize %d", i, len(b.Members), tc.batchSize)
				}
				if !slices.EqualFunc(b.Members, tc.wantMembers[i], equalMember) {
					t.Errorf("batch %d members = %+v, want %+v", i, b.Members, tc.wantMembers[i])
				}
				if b.IncidentID != "INC-2014-0527" || b.Title != "Unauthorised access to internal systems" ||
					!slices.Equal(b.Channels, []incident.Channel{incident.Email, incident.Push}) {
					t.Errorf("batch %d = %+v", i, b)
				}
				wantNotice, wantTemplate, wantFixed := "n1-update-app", "update-app", "8.9.0"
				if i == 0 {
					wantNotice, wantTemplate, wantFixed = "n0-account-accessed", "account-accessed", ""
				}
				if b.NoticeID != wantNotice || b.Template != wantTemplate || b.FixedVersion != wantFixed {
					t.Errorf("batch %d notice %q template %q fixedVersion %q, want %q %q %q",
						i, b.NoticeID, b.Template, b.FixedVersion, wantNotice, wantTemplate, wantFixed)
				}
			}
			// The queue must carry ids only: no contact data.
			for _, body := range e.queue.bodies {
				if strings.Contains(string(body), "@") {
					t.Errorf("queued body carries an address: %s", body)
				}
			}
		})
	}
}

func TestHandleUnknownUserIDs(t *testing.T) {
	e := newEnv(10)
	raw := event(t, func(_, d map[string]any) {
		d["notices"].([]any)[0].(map[string]any)["audience"] = map[string]any{"userIds": []string{"u-404", "u-000123", "u-405"}}
	})
	res, err := e.handler.Handle(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Planned || len(res.Notices) != 2 {
		t.Fatalf("result = %+v", res)
	}
	if got := res.Notices[0]; got.Members != 1 || !slices.Equal(got.UnknownUserIDs, []string{"u-404", "u-405"}) {
		t.Errorf("notice 0 plan = %+v, want 1 member and unknown u-404, u-405", got)
	}
}

func TestHandleRejectedIDs(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(ev, detail map[string]any)
		wantID string
	}{
		{"valid id is kept", func(_, d map[string]any) { delete(d, "title") }, "INC-2014-0527"},
		{"invalid id is dropped", func(_, d map[string]any) { d["incidentId"] = "INC#1" }, ""},
		{"missing id", func(_, d map[string]any) { delete(d, "incidentId") }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(10)
			res, err := e.handler.Handle(context.Background(), event(t, tc.edit))
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != Rejected || res.IncidentID != tc.wantID {
				t.Errorf("result = %+v, want rejected with incident id %q", res, tc.wantID)
			}
			if len(e.incidents.receipts) != 1 || e.incidents.receipts[0].IncidentID != tc.wantID {
				t.Errorf("receipts = %+v, want one filed under %q", e.incidents.receipts, tc.wantID)
			}
			if e.incidents.puts != 0 || e.queue.calls != 0 {
				t.Errorf("rejected event stored %d times and queued %d times", e.incidents.puts, e.queue.calls)
			}
		})
	}
}

func TestHandleTruncatesRaw(t *testing.T) {
	e := newEnv(10)
	raw := event(t, func(_, d map[string]any) {
		delete(d, "title")
		d["summary"] = strings.Repeat("x", 2*maxRaw)
	})
	res, err := e.handler.Handle(context.Background(), raw)
	if err != nil || res.Outcome != Rejected {
		t.Fatalf("Handle = %+v, %v; want rejected", res, err)
	}
	if got := e.incidents.receipts[0].Raw; len(got) != maxRaw || !strings.HasPrefix(string(raw), got) {
		t.Errorf("raw kept is %d bytes, want the first %d of the event", len(got), maxRaw)
	}
}

// TestSampleEvents runs the files in events/ through the handler with the
// real template registry.
func TestSampleEvents(t *testing.T) {
	tests := []struct {
		file        string
		wantOutcome Outcome
		wantID      string
		wantQueued  []string
		wantReason  string
	}{
		{"incident-confirmed.json", Planned, "INC-2014-0527", []string{"n0-account-accessed", "n1-update-app"}, ""},
		{"incident-suspected.json", Recorded, "INC-2014-0601", nil, ""},
		{"incident-mislabelled.json", Recorded, "INC-2014-0602", nil, "detail.status"},
		{"incident-invalid.json", Rejected, "INC-2014-0603", nil, "reset-password"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile("../../events/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			e := newEnv(50)
			e.handler.KnownTemplate = notice.Has
			res, err := e.handler.Handle(context.Background(), raw)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if res.Outcome != tc.wantOutcome || res.IncidentID != tc.wantID {
				t.Errorf("result = %+v, want %s for %s", res, tc.wantOutcome, tc.wantID)
			}
			if !strings.Contains(res.Reason, tc.wantReason) {
				t.Errorf("reason %q does not mention %q", res.Reason, tc.wantReason)
			}
			if tc.wantOutcome == Rejected && !strings.Contains(res.Reason, "title") {
				t.Errorf("reason %q does not mention the missing title", res.Reason)
			}
			batches, err := e.queue.batches()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, b := range batches {
				got = append(got, b.NoticeID)
			}
			if !slices.Equal(got, tc.wantQueued) {
				t.Errorf("queued %q, want %q", got, tc.wantQueued)
			}
			if len(e.incidents.receipts) != 1 || e.incidents.receipts[0].Outcome != tc.wantOutcome {
				t.Errorf("receipts = %+v", e.incidents.receipts)
			}
		})
	}
}

func equalMember(a, b audience.Member) bool {
	return a.UserID == b.UserID && a.AllDevices == b.AllDevices && slices.Equal(a.DeviceIDs, b.DeviceIDs)
}

func equalPlan(a, b NoticePlan) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}
