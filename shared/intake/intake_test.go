package intake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"breachnotify/shared/audience"
	"breachnotify/shared/audit"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/notice"
	"breachnotify/shared/plan"
)

// confirmedEvent is the contract's example event.
const confirmedEvent = `{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"Incident Confirmed","source":"acme.detection","account":"123456789012","time":"2014-05-27T10:00:00Z","region":"us-east-1","resources":[],
 "detail":{"incidentId":"INC-2014-0527","status":"confirmed","title":"Unauthorised access to internal systems","summary":"An attacker used a stolen support credential.",
  "detectedAt":"2014-05-26T22:10:00Z","confirmedAt":"2014-05-27T09:40:00Z","confirmedBy":"secops:jane",
  "notices":[
   {"template":"account-accessed","channels":["email","push"],"audience":{"userIds":["u-000123"]}},
   {"template":"update-app","channels":["email","push"],"audience":{"platforms":["android"],"appVersionBelow":"8.9.0"},"fixedVersion":"8.9.0"}]}}`

const (
	exampleID = "INC-2014-0527"
	// exampleTasks is the example's planning: notice 0 names one user, so
	// one shard; notice 1 is a cohort, so every shard.
	exampleTasks = 1 + audience.Shards
)

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

// detailOf decodes an event's incident.
func detailOf(t *testing.T, raw []byte) incident.Incident {
	t.Helper()
	var ev events.EventBridgeEvent
	var in incident.Incident
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ev.Detail, &in); err != nil {
		t.Fatal(err)
	}
	return in
}

// wantShards is the shards a notice's tasks cover: every shard for a
// cohort, else the shards of the users it names.
func wantShards(n incident.Notice) []int {
	var out []int
	for shard := range audience.Shards {
		if n.Audience.HasCohort() || slices.ContainsFunc(n.Audience.UserIDs, func(id string) bool { return audience.UserShard(id) == shard }) {
			out = append(out, shard)
		}
	}
	return out
}

// taskCount is how many tasks in has.
func taskCount(in incident.Incident) int {
	n := 0
	for _, nt := range in.Notices {
		n += len(wantShards(nt))
	}
	return n
}

// checkTasks checks that tasks plan every notice of in (whose ids are
// wantNoticeIDs) for each of its shards exactly once, carrying the
// incident's id (not its title) and the notice with the shard's user ids.
func checkTasks(t *testing.T, tasks []plan.Task, in incident.Incident, wantNoticeIDs []string) {
	t.Helper()
	if len(wantNoticeIDs) != len(in.Notices) {
		t.Fatalf("test bug: %d notice ids for %d notices", len(wantNoticeIDs), len(in.Notices))
	}
	if want := taskCount(in); len(tasks) != want {
		t.Errorf("queued %d tasks, want %d", len(tasks), want)
	}
	seen := map[string]int{}
	for _, task := range tasks {
		seen[fmt.Sprintf("%s#%d", task.NoticeID, task.Shard)]++
		i := slices.Index(wantNoticeIDs, task.NoticeID)
		if i < 0 {
			t.Errorf("task %s: notice id %q, want one of %q", task.ID(), task.NoticeID, wantNoticeIDs)
			continue
		}
		if !slices.Contains(wantShards(in.Notices[i]), task.Shard) {
			t.Errorf("task %s: shard %d holds none of the notice's audience", task.ID(), task.Shard)
		}
		if task.IncidentID != in.ID {
			t.Errorf("task %s: incident %q, want %q", task.ID(), task.IncidentID, in.ID)
		}
		want := in.Notices[i]
		want.Audience.UserIDs = nil
		for _, id := range in.Notices[i].Audience.UserIDs {
			if audience.UserShard(id) == task.Shard {
				want.Audience.UserIDs = append(want.Audience.UserIDs, id)
			}
		}
		if !reflect.DeepEqual(task.Notice, want) {
			t.Errorf("task %s: notice %+v, want %+v", task.ID(), task.Notice, want)
		}
	}
	for i, id := range wantNoticeIDs {
		for _, shard := range wantShards(in.Notices[i]) {
			if n := seen[fmt.Sprintf("%s#%d", id, shard)]; n != 1 {
				t.Errorf("notice %s shard %d queued %d times, want once", id, shard, n)
			}
		}
	}
}

// delivery is one Handle call.
type delivery struct {
	raw         json.RawMessage
	before      func(*env)
	wantErr     error // Handle must fail with an error wrapping this
	wantOutcome Outcome
	wantReason  string // fragment; "" means any reason (or none)
	// wantTasks is how many planning tasks this call queues; when it is
	// the example's count, their content is checked too.
	wantTasks int
}

func TestHandle(t *testing.T) {
	tests := []struct {
		name       string
		deliveries func(t *testing.T) []delivery
		// wantState is the stored incident's state at the end ("" means
		// nothing stored); wantQueued whether its planning is marked queued.
		wantState  incident.State
		wantQueued bool
	}{
		{
			name: "confirmed two-notice event is planned",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{raw: event(t, nil), wantOutcome: Planned, wantTasks: exampleTasks}}
			},
			wantState: incident.StateConfirmed, wantQueued: true,
		},
		{
			name: "same event again is a duplicate",
			deliveries: func(t *testing.T) []delivery {
				raw := event(t, nil)
				return []delivery{
					{raw: raw, wantOutcome: Planned, wantTasks: exampleTasks},
					{raw: raw, before: func(e *env) { e.clock.Advance(time.Minute) }, wantOutcome: Duplicate, wantReason: "planning queued"},
				}
			},
			wantState: incident.StateConfirmed, wantQueued: true,
		},
		{
			name: "another confirmed event for a planned incident is a duplicate",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{
					{raw: event(t, nil), wantOutcome: Planned, wantTasks: exampleTasks},
					{raw: event(t, func(ev, _ map[string]any) { ev["id"] = "second-event" }), wantOutcome: Duplicate},
				}
			},
			wantState: incident.StateConfirmed, wantQueued: true,
		},
		{
			name: "suspected event is recorded, nothing queued",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{raw: event(t, suspect("s1")), wantOutcome: Recorded}}
			},
			wantState: incident.StateSuspected,
		},
		{
			name: "confirmed detail-type with suspected status is recorded",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{
					raw:         event(t, func(_, detail map[string]any) { detail["status"] = "suspected" }),
					wantOutcome: Recorded, wantReason: `detail.status is "suspected"`,
				}}
			},
			wantState: incident.StateSuspected,
		},
		{
			name: "suspected detail-type with confirmed status is recorded",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{
					raw:         event(t, func(ev, _ map[string]any) { ev["detail-type"] = DetailSuspected }),
					wantOutcome: Recorded, wantReason: "detail-type",
				}}
			},
			wantState: incident.StateSuspected,
		},
		{
			name: "suspected then confirmed is planned",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{
					{raw: event(t, suspect("s1")), wantOutcome: Recorded},
					{raw: event(t, nil), before: func(e *env) { e.clock.Advance(time.Hour) }, wantOutcome: Planned, wantTasks: exampleTasks},
				}
			},
			wantState: incident.StateConfirmed, wantQueued: true,
		},
		{
			name: "suspected after planned changes nothing",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{
					{raw: event(t, nil), wantOutcome: Planned, wantTasks: exampleTasks},
					{raw: event(t, suspect("s2")), wantOutcome: Duplicate},
				}
			},
			wantState: incident.StateConfirmed, wantQueued: true,
		},
		{
			name: "suspected after a confirmed but unqueued incident keeps it confirmed",
			deliveries: func(t *testing.T) []delivery {
				raw := event(t, nil)
				return []delivery{
					{raw: raw, before: func(e *env) { e.queue.Fail = fake.FailOn(errUnavailable, 1) }, wantErr: errUnavailable},
					{raw: event(t, suspect("s3")), wantOutcome: Recorded, wantReason: "already confirmed"},
					{raw: raw, wantOutcome: Planned, wantTasks: exampleTasks},
				}
			},
			wantState: incident.StateConfirmed, wantQueued: true,
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
			name: "confirmed without notices is rejected",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{raw: event(t, func(_, d map[string]any) { delete(d, "notices") }), wantOutcome: Rejected, wantReason: "notice"}}
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
					{raw: event(t, nil), wantOutcome: Planned, wantTasks: exampleTasks},
				}
			},
			wantState: incident.StateConfirmed, wantQueued: true,
		},
		{
			name: "queue error is retried and the redelivery queues again",
			deliveries: func(t *testing.T) []delivery {
				raw := event(t, nil)
				return []delivery{
					{raw: raw, before: func(e *env) { e.queue.Fail = fake.FailOn(errUnavailable, 1) }, wantErr: errUnavailable},
					{raw: raw, wantOutcome: Planned, wantTasks: exampleTasks},
					{raw: raw, wantOutcome: Duplicate},
				}
			},
			wantState: incident.StateConfirmed, wantQueued: true,
		},
		{
			name: "queue error after part was queued: the redelivery queues every task",
			deliveries: func(t *testing.T) []delivery {
				raw := event(t, nil)
				return []delivery{
					{raw: raw, before: func(e *env) { e.queue.Fail, e.queue.Accept = fake.FailOn(errUnavailable, 1), 30 }, wantErr: errUnavailable, wantTasks: 30},
					{raw: raw, wantOutcome: Planned, wantTasks: exampleTasks},
				}
			},
			wantState: incident.StateConfirmed, wantQueued: true,
		},
		{
			name: "queue error alone leaves the incident confirmed, not queued",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{raw: event(t, nil), before: func(e *env) { e.queue.Fail = fake.FailOn(errUnavailable, 1) }, wantErr: errUnavailable}}
			},
			wantState: incident.StateConfirmed,
		},
		{
			name: "mark-queued error is retried and the redelivery queues again",
			deliveries: func(t *testing.T) []delivery {
				raw := event(t, nil)
				return []delivery{
					{raw: raw, before: func(e *env) { e.incidents.markErr = errUnavailable }, wantErr: errUnavailable, wantTasks: exampleTasks},
					{raw: raw, before: func(e *env) { e.incidents.markErr = nil }, wantOutcome: Planned, wantTasks: exampleTasks},
					{raw: raw, wantOutcome: Duplicate},
				}
			},
			wantState: incident.StateConfirmed, wantQueued: true,
		},
		{
			name: "incident read error is retried, nothing queued",
			deliveries: func(t *testing.T) []delivery {
				return []delivery{{raw: event(t, nil), before: func(e *env) { e.incidents.getErr = errUnavailable }, wantErr: errUnavailable}}
			},
		},
		{
			name: "incident write error is retried, nothing queued",
			deliveries: func(t *testing.T) []delivery {
				raw := event(t, nil)
				return []delivery{
					{raw: raw, before: func(e *env) { e.incidents.putErr = errUnavailable }, wantErr: errUnavailable},
					{raw: raw, before: func(e *env) { e.incidents.putErr = nil }, wantOutcome: Planned, wantTasks: exampleTasks},
				}
			},
			wantState: incident.StateConfirmed, wantQueued: true,
		},
		{
			name: "receipt error is retried; the redelivery is a duplicate",
			deliveries: func(t *testing.T) []delivery {
				raw := event(t, nil)
				return []delivery{
					{raw: raw, before: func(e *env) { e.incidents.receiptErr = errUnavailable }, wantErr: errUnavailable, wantTasks: exampleTasks},
					{raw: raw, before: func(e *env) { e.incidents.receiptErr = nil }, wantOutcome: Duplicate},
				}
			},
			wantState: incident.StateConfirmed, wantQueued: true,
		},
		{
			name: "receipt error on a rejected event is retried",
			deliveries: func(t *testing.T) []delivery {
				raw := event(t, func(_, d map[string]any) { delete(d, "title") })
				return []delivery{
					{raw: raw, before: func(e *env) { e.incidents.receiptErr = errUnavailable }, wantErr: errUnavailable},
					{raw: raw, before: func(e *env) { e.incidents.receiptErr = nil }, wantOutcome: Rejected, wantReason: "title"},
				}
			},
		},
	}
	example := detailOf(t, []byte(confirmedEvent))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			receipts := 0
			for i, d := range tc.deliveries(t) {
				if d.before != nil {
					d.before(e)
				}
				queued := e.queue.Len()
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
					if !strings.Contains(res.Reason, d.wantReason) || (d.wantReason == "" && d.wantOutcome == Planned && res.Reason != "") {
						t.Errorf("delivery %d: reason = %q, want it to mention %q (none for a plain planned event)", i, res.Reason, d.wantReason)
					}
					if (d.wantOutcome == Rejected || d.wantReason != "") && res.Reason == "" {
						t.Errorf("delivery %d: %s without a reason", i, res.Outcome)
					}
					if d.wantOutcome == Planned && res.Tasks != d.wantTasks {
						t.Errorf("delivery %d: result tasks = %d, want %d", i, res.Tasks, d.wantTasks)
					}
					receipts++
					checkReceipt(t, i, e, d.raw, res)
				}
				tasks, err := e.queue.tasks(queued)
				if err != nil {
					t.Fatalf("delivery %d: queued body does not parse: %v", i, err)
				}
				if len(tasks) != d.wantTasks {
					t.Errorf("delivery %d: queued %d tasks, want %d", i, len(tasks), d.wantTasks)
				} else if d.wantTasks == exampleTasks {
					checkTasks(t, tasks, example, []string{"n0-account-accessed", "n1-update-app"})
				}
			}
			if len(e.incidents.receipts) != receipts {
				t.Errorf("%d receipts, want one per handled event (%d)", len(e.incidents.receipts), receipts)
			}
			rec, found := e.incidents.records[exampleID]
			switch {
			case tc.wantState == "" && found:
				t.Errorf("incident stored (%+v), want nothing", rec)
			case tc.wantState != "" && !found:
				t.Fatalf("incident not stored, want state %q", tc.wantState)
			case found:
				if rec.State != tc.wantState {
					t.Errorf("stored state = %q, want %q", rec.State, tc.wantState)
				}
				if queued := !rec.PlanQueuedAt.IsZero(); queued != tc.wantQueued {
					t.Errorf("stored planQueuedAt = %v, want queued %v", rec.PlanQueuedAt, tc.wantQueued)
				}
				wantTasks := 0
				if tc.wantState == incident.StateConfirmed {
					wantTasks = exampleTasks
				}
				if rec.Tasks != wantTasks {
					t.Errorf("stored tasks = %d, want %d", rec.Tasks, wantTasks)
				}
				if !rec.PlannedAt.IsZero() || rec.Audience != nil || rec.TasksDone != 0 {
					t.Errorf("intake wrote the planner's fields: plannedAt %v audience %+v tasksDone %d", rec.PlannedAt, rec.Audience, rec.TasksDone)
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

// TestHandlePlans checks the result, the record and the order of writes for
// the example event: recorded with its task count before the tasks are
// queued, marked queued only after.
func TestHandlePlans(t *testing.T) {
	e := newEnv()
	res, err := e.handler.Handle(context.Background(), json.RawMessage(confirmedEvent))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Result{IncidentID: exampleID, Outcome: Planned, Tasks: exampleTasks}); res != want {
		t.Errorf("result = %+v, want %+v", res, want)
	}
	if want := []string{"put", "send", "mark", "receipt"}; !slices.Equal(e.log, want) {
		t.Errorf("calls = %q, want %q", e.log, want)
	}
	if e.queue.Calls() != 1 {
		t.Errorf("Tasks.Send called %d times, want once", e.queue.Calls())
	}
	rec := e.incidents.records[exampleID]
	if rec.Tasks != exampleTasks || !rec.PlanQueuedAt.Equal(t0) || rec.State != incident.StateConfirmed {
		t.Errorf("stored tasks %d planQueuedAt %v state %q, want %d %v %q", rec.Tasks, rec.PlanQueuedAt, rec.State, exampleTasks, t0, incident.StateConfirmed)
	}
	if rec.EventID != "6a7e8feb-b491-4cf7-a9f1-bf3703467718" || rec.Source != "acme.detection" || !rec.ReceivedAt.Equal(t0) {
		t.Errorf("stored event %q source %q receivedAt %v", rec.EventID, rec.Source, rec.ReceivedAt)
	}
	tasks, err := e.queue.tasks(0)
	if err != nil {
		t.Fatal(err)
	}
	checkTasks(t, tasks, detailOf(t, []byte(confirmedEvent)), []string{"n0-account-accessed", "n1-update-app"})
	// The tasks are the planner's own split of the incident.
	if want := plan.Tasks(rec.Incident, true); !reflect.DeepEqual(tasks, want) {
		t.Errorf("queued tasks differ from plan.Tasks of the incident")
	}
	// Planning tasks carry ids and the audience's selection, no contact data.
	for _, body := range e.queue.Bodies() {
		if strings.Contains(string(body), "@") {
			t.Errorf("queued body carries an address: %s", body)
		}
	}

	e.clock.Advance(time.Minute)
	res, err = e.handler.Handle(context.Background(), json.RawMessage(confirmedEvent))
	if err != nil || res.Outcome != Duplicate || res.Tasks != exampleTasks {
		t.Errorf("second delivery = %+v, %v; want duplicate of %d tasks", res, err, exampleTasks)
	}
	if e.queue.Calls() != 1 || e.incidents.marks != 1 || e.incidents.puts != 1 {
		t.Errorf("second delivery sent %d, marked %d, put %d times in all; want 1 each", e.queue.Calls(), e.incidents.marks, e.incidents.puts)
	}
}

// TestHandleTaskShards: one task per notice and shard that can hold its
// audience: every shard for a cohort, the named users' shards otherwise.
func TestHandleTaskShards(t *testing.T) {
	cohort := map[string]any{"platforms": []string{"android"}, "appVersionBelow": "8.9.0"}
	sameShard := fake.UserIDsInShards(3, fake.InShard(audience.UserShard("u-000123")))
	var spread []string // users in three different shards
	for _, id := range fake.UserIDsInShards(200, fake.AnyShard) {
		if !slices.ContainsFunc(spread, func(o string) bool { return audience.UserShard(o) == audience.UserShard(id) }) {
			spread = append(spread, id)
		}
		if len(spread) == 3 {
			break
		}
	}
	tests := []struct {
		name      string
		audiences []map[string]any
		wantTasks int
	}{
		{"one named user", []map[string]any{{"userIds": []string{"u-000123"}}}, 1},
		{"named users in one shard", []map[string]any{{"userIds": sameShard}}, 1},
		{"named users in three shards, one named twice", []map[string]any{{"userIds": append(slices.Clone(spread), spread[1])}}, 3},
		{"cohort", []map[string]any{cohort}, audience.Shards},
		{"named users and a cohort", []map[string]any{{"userIds": spread, "platforms": []string{"ios"}, "appVersionBelow": "2.0"}}, audience.Shards},
		{"two named-user notices", []map[string]any{{"userIds": []string{"u-000123"}}, {"userIds": spread}}, 4},
		{"three notices", []map[string]any{{"userIds": []string{"u-000123"}}, cohort, cohort}, 1 + 2*audience.Shards},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			var ids []string
			raw := event(t, func(_, d map[string]any) {
				var notices []any
				for i, a := range tc.audiences {
					notices = append(notices, map[string]any{"template": "account-accessed", "channels": []string{"email"}, "audience": a})
					ids = append(ids, incident.NoticeID(i, "account-accessed"))
				}
				d["notices"] = notices
			})
			res, err := e.handler.Handle(context.Background(), raw)
			if err != nil || res.Outcome != Planned || res.Tasks != tc.wantTasks {
				t.Fatalf("Handle = %+v, %v; want planned with %d tasks", res, err, tc.wantTasks)
			}
			tasks, err := e.queue.tasks(0)
			if err != nil {
				t.Fatal(err)
			}
			checkTasks(t, tasks, detailOf(t, raw), ids)
			if got := e.incidents.records[exampleID].Tasks; got != tc.wantTasks {
				t.Errorf("stored tasks = %d, want %d", got, tc.wantTasks)
			}
		})
	}
}

// TestHandleRedeliveryKeepsPlannerProgress: when MarkQueued fails after every
// task was queued, the planner may finish (and freeze the audience) before
// the event is redelivered. The redelivery must not undo that: re-queued
// tasks are no-ops for the planner, so a reset count would never again reach
// the number of tasks and the audience would never be frozen.
func TestHandleRedeliveryKeepsPlannerProgress(t *testing.T) {
	e := newEnv()
	raw := json.RawMessage(confirmedEvent)
	e.incidents.markErr = errUnavailable
	if _, err := e.handler.Handle(context.Background(), raw); !errors.Is(err, errUnavailable) {
		t.Fatalf("first delivery error = %v, want %v", err, errUnavailable)
	}
	e.incidents.markErr = nil
	// The planner runs every task and freezes the audience (what
	// dynamo.Plans.Finish and Freeze write).
	rec := e.incidents.records[exampleID]
	rec.TasksDone, rec.PlannedAt, rec.Audience = exampleTasks, t0.Add(time.Second), &incident.FrozenAudience{Members: 4, Hash: "00000000000000ff"}
	e.incidents.records[exampleID] = rec

	e.clock.Advance(time.Minute)
	res, err := e.handler.Handle(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != Planned && res.Outcome != Duplicate {
		t.Errorf("redelivery outcome = %q, want planned or duplicate", res.Outcome)
	}
	got := e.incidents.records[exampleID]
	if got.TasksDone != exampleTasks || got.Audience == nil || got.PlannedAt.IsZero() {
		t.Errorf("the redelivery reset the planner's progress: tasksDone %d plannedAt %v audience %v", got.TasksDone, got.PlannedAt, got.Audience)
	}
}

func TestHandleRejectedIDs(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(ev, detail map[string]any)
		wantID string
	}{
		{"valid id is kept", func(_, d map[string]any) { delete(d, "title") }, exampleID},
		{"invalid id is dropped", func(_, d map[string]any) { d["incidentId"] = "INC#1" }, ""},
		{"missing id", func(_, d map[string]any) { delete(d, "incidentId") }, ""},
		{"id kept when the detail does not decode", func(_, d map[string]any) { d["title"] = 5 }, exampleID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
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
			if e.incidents.puts != 0 || e.incidents.marks != 0 || e.queue.Calls() != 0 {
				t.Errorf("rejected event stored %d times, marked %d times and queued %d times", e.incidents.puts, e.incidents.marks, e.queue.Calls())
			}
		})
	}
}

func TestRejectedReceiptKeepsAnExcerptAndAHash(t *testing.T) {
	e := newEnv()
	raw := event(t, func(_, d map[string]any) {
		delete(d, "title")
		d["summary"] = strings.Repeat("x", 2*incident.MaxExcerptBytes)
	})
	res, err := e.handler.Handle(context.Background(), raw)
	if err != nil || res.Outcome != Rejected {
		t.Fatalf("Handle = %+v, %v; want rejected", res, err)
	}
	rc := e.incidents.receipts[0]
	kept := strings.TrimSuffix(rc.Raw, "…")
	if len(rc.Raw) > incident.MaxExcerptBytes || len(kept) < incident.MaxExcerptBytes-8 || !strings.HasPrefix(string(raw), kept) {
		t.Errorf("raw kept is %d bytes, want the first %d of the event", len(rc.Raw), incident.MaxExcerptBytes)
	}
	sum := sha256.Sum256(raw)
	if rc.RawBytes != len(raw) || rc.RawSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("receipt says %d bytes, sha256 %s; want %d, %x", rc.RawBytes, rc.RawSHA256, len(raw), sum)
	}
}

// TestHostileEventsAreRejectedWithinBounds: whatever an event holds, it is
// rejected with a bounded reason, its receipt stays far below a DynamoDB
// item, and nothing is stored or queued.
func TestHostileEventsAreRejectedWithinBounds(t *testing.T) {
	big := strings.Repeat("<", 200_000)
	emptyIDs := make([]any, 10_000)
	for i := range emptyIDs {
		emptyIDs[i] = ""
	}
	notices := func(n int) []any {
		var out []any
		for range n {
			out = append(out, map[string]any{"template": "update-app", "channels": []any{"push"}, "fixedVersion": "8.9.0",
				"audience": map[string]any{"platforms": []any{"android"}, "appVersionBelow": "8.9.0"}})
		}
		return out
	}
	detail := func(edit func(d map[string]any)) json.RawMessage {
		return event(t, func(_, d map[string]any) { edit(d) })
	}
	replace := func(old, new string) json.RawMessage {
		return json.RawMessage(strings.Replace(confirmedEvent, old, new, 1))
	}
	tests := []struct {
		name string
		raw  json.RawMessage
		want string // in the reason
	}{
		{"10,000 empty user ids", detail(func(d map[string]any) {
			d["notices"].([]any)[0].(map[string]any)["audience"] = map[string]any{"userIds": emptyIDs}
		}), "more problems"},
		{"100 KB incident id", detail(func(d map[string]any) { d["incidentId"] = strings.Repeat("I", 100_000) }), "incidentId"},
		{"200 KB title of '<'", detail(func(d map[string]any) { d["title"] = big }), "event is"},
		{"140 KB title", detail(func(d map[string]any) { d["title"] = strings.Repeat("t", 140_000) }), "detail is"},
		{"title over the limit", detail(func(d map[string]any) { d["title"] = strings.Repeat("t", incident.MaxTitleRunes+1) }), "title has 201 characters"},
		{"title with a line separator", detail(func(d map[string]any) { d["title"] = "a\u2028b" }), "title holds"},
		{"summary of 1 MB", detail(func(d map[string]any) { d["summary"] = strings.Repeat("s", 1<<20) }), "event is"},
		{"summary over the limit", detail(func(d map[string]any) { d["summary"] = strings.Repeat("s", incident.MaxSummaryRunes+1) }), "summary has"},
		{"eleven notices", detail(func(d map[string]any) { d["notices"] = notices(incident.MaxNotices + 1) }), "notices has 11 notices"},
		{"2,100 cohort notices", detail(func(d map[string]any) { d["notices"] = notices(2100) }), "event is"},
		{"900 cohort notices", detail(func(d map[string]any) { d["notices"] = notices(900) }), "notices has 900 notices"},
		{"user id longer than a key", detail(func(d map[string]any) {
			d["notices"].([]any)[0].(map[string]any)["audience"] = map[string]any{"userIds": []any{strings.Repeat("u", 3000)}}
		}), "is not a user id"},
		{"user id with a bidi override", detail(func(d map[string]any) {
			d["notices"].([]any)[0].(map[string]any)["audience"] = map[string]any{"userIds": []any{"u-\u202e1"}}
		}), "is not a user id"},
		{"user id with a C1 control", detail(func(d map[string]any) {
			d["notices"].([]any)[0].(map[string]any)["audience"] = map[string]any{"userIds": []any{"u-\u00851"}}
		}), "is not a user id"},
		{"detected in the year 9999", detail(func(d map[string]any) { d["detectedAt"] = "9999-01-01T00:00:00Z" }), "detectedAt 9999"},
		{"confirmed before 2000", detail(func(d map[string]any) { d["confirmedAt"] = "1999-12-31T00:00:00Z" }), "confirmedAt 1999"},
		{"unparseable long time", detail(func(d map[string]any) { d["detectedAt"] = strings.Repeat("9", 100_000) }), "detail: parsing time"},
		{"long unknown template", detail(func(d map[string]any) {
			d["notices"].([]any)[0].(map[string]any)["template"] = strings.Repeat("x", 50_000)
		}), "is unknown"},
		{"trailing data", json.RawMessage(confirmedEvent + " junk"), "trailing data"},
		{"case-variant key confirms", replace(`"status":"confirmed"`, `"status":"suspected","Status":"confirmed"`), `key must be spelt "status"`},
		{"duplicate key", replace(`"status":"confirmed"`, `"status":"suspected","status":"confirmed"`), "duplicate key"},
		{"unknown field by name", replace(`"status":"confirmed"`, `"status":"confirmed","severity":"high"`), `"severity": unknown field`},
		{"envelope key in another case", replace(`"detail-type"`, `"Detail-Type"`), "key must be spelt"},
		{"event id longer than a key", replace(`"6a7e8feb-b491-4cf7-a9f1-bf3703467718"`, `"`+strings.Repeat("e", 5000)+`"`), "not an event id"},
		{"long source", replace(`"acme.detection"`, `"`+strings.Repeat("s", 5000)+`"`), "not a source name"},
		{"whole event over the limit", json.RawMessage(`{"x":"` + strings.Repeat("x", incident.MaxEventBytes) + `"}`), "event is"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			res, err := e.handler.Handle(context.Background(), tc.raw)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if res.Outcome != Rejected || !strings.Contains(res.Reason, tc.want) {
				t.Errorf("result = %s %.300q, want rejected mentioning %q", res.Outcome, res.Reason, tc.want)
			}
			if len(res.Reason) > incident.MaxReasonBytes {
				t.Errorf("reason is %d bytes, more than %d", len(res.Reason), incident.MaxReasonBytes)
			}
			if len(e.incidents.receipts) != 1 {
				t.Fatalf("%d receipts, want 1", len(e.incidents.receipts))
			}
			b, _ := json.Marshal(e.incidents.receipts[0])
			if len(b) > 16<<10 {
				t.Errorf("receipt is %d bytes", len(b))
			}
			if e.incidents.puts != 0 || e.queue.Calls() != 0 {
				t.Errorf("rejected event stored %d times and queued %d times", e.incidents.puts, e.queue.Calls())
			}
		})
	}
}

// TestInvokeSeesTrailingData: the Lambda entry point gets the payload
// whole, so data after the event is rejected rather than dropped unseen.
func TestInvokeSeesTrailingData(t *testing.T) {
	for name, tc := range map[string]struct {
		payload string
		want    Outcome
	}{
		"event":              {confirmedEvent, Planned},
		"event and junk":     {confirmedEvent + " junk", Rejected},
		"two events":         {confirmedEvent + confirmedEvent, Rejected},
		"event and newlines": {confirmedEvent + "\n\n", Planned},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv()
			out, err := e.handler.Invoke(context.Background(), []byte(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			var res Result
			if err := json.Unmarshal(out, &res); err != nil || res.Outcome != tc.want {
				t.Errorf("Invoke = %s (%v), want outcome %s", out, err, tc.want)
			}
		})
	}
}

// TestSampleEvents runs the files in events/ through the handler with the
// real template registry.
func TestSampleEvents(t *testing.T) {
	tests := []struct {
		file        string
		wantOutcome Outcome
		wantID      string
		wantNotices []string // notice ids planned
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
			e := newEnv()
			e.handler.KnownTemplate = notice.Has
			// The samples are dated up to June 2014: receive them after.
			e.clock.t = time.Date(2014, 6, 3, 0, 0, 0, 0, time.UTC)
			res, err := e.handler.Handle(context.Background(), raw)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if res.Outcome != tc.wantOutcome || res.IncidentID != tc.wantID {
				t.Errorf("result = %+v, want %s for %s", res, tc.wantOutcome, tc.wantID)
			}
			// An empty wantReason wants no reason at all: Contains(x, "")
			// would hold for any x.
			if (tc.wantReason == "") != (res.Reason == "") || !strings.Contains(res.Reason, tc.wantReason) {
				t.Errorf("reason %q, want one mentioning %q (none if empty)", res.Reason, tc.wantReason)
			}
			if tc.wantOutcome == Rejected && !strings.Contains(res.Reason, "title") {
				t.Errorf("reason %q does not mention the missing title", res.Reason)
			}
			wantTasks := 0
			if tc.wantNotices != nil {
				wantTasks = taskCount(detailOf(t, raw))
			}
			if res.Tasks != wantTasks {
				t.Errorf("result tasks = %d, want %d", res.Tasks, wantTasks)
			}
			tasks, err := e.queue.tasks(0)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantNotices == nil {
				if len(tasks) != 0 {
					t.Errorf("queued %d tasks, want none", len(tasks))
				}
			} else {
				checkTasks(t, tasks, detailOf(t, raw), tc.wantNotices)
			}
			if len(e.incidents.receipts) != 1 || e.incidents.receipts[0].Outcome != tc.wantOutcome {
				t.Errorf("receipts = %+v", e.incidents.receipts)
			}
		})
	}
}

// TestHandleAudits checks what each kind of event leaves in the audit trail:
// who confirmed comes from the event, and a repeated event adds a receipt
// entry but no second confirmation.
func TestHandleAudits(t *testing.T) {
	suspected := event(t, suspect("e-suspected"))
	invalid := event(t, func(ev, d map[string]any) { delete(d, "title") })
	confirmed := json.RawMessage(confirmedEvent)
	tests := []struct {
		name   string
		events []json.RawMessage
		want   []audit.Kind
	}{
		{"confirmed", []json.RawMessage{confirmed}, []audit.Kind{audit.EventReceived, audit.Confirmed}},
		{"confirmed twice", []json.RawMessage{confirmed, confirmed}, []audit.Kind{audit.EventReceived, audit.Confirmed, audit.EventReceived}},
		{"suspected, then confirmed", []json.RawMessage{suspected, confirmed}, []audit.Kind{audit.EventReceived, audit.EventReceived, audit.Confirmed}},
		{"invalid", []json.RawMessage{invalid}, []audit.Kind{audit.EventRejected}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			for _, ev := range tc.events {
				if _, err := e.handler.Handle(context.Background(), ev); err != nil {
					t.Fatal(err)
				}
			}
			if got := e.audit.Kinds(exampleID); !slices.Equal(got, tc.want) {
				t.Errorf("audit kinds = %q, want %q", got, tc.want)
			}
			for _, en := range e.audit.Entries() {
				if en.Kind == audit.Confirmed && en.Actor != "secops:jane" {
					t.Errorf("confirmed by %q, want the event's confirmedBy", en.Actor)
				}
			}
		})
	}
}

// An incident that may need approval is counted first; one that cannot
// (explicit users within the limit) sends at once.
func TestPlanCountsFirstWhenApprovalMayBeNeeded(t *testing.T) {
	oneUser := func(ev, d map[string]any) {
		d["notices"] = []any{map[string]any{"template": "account-accessed", "channels": []any{"email"},
			"audience": map[string]any{"userIds": []any{"u-1", "u-2"}}}}
	}
	file := func(ev, d map[string]any) {
		d["notices"] = []any{map[string]any{"template": "account-accessed", "channels": []any{"email"},
			"audience": map[string]any{"file": "INC-1/affected.csv"}}}
	}
	tests := []struct {
		name      string
		edit      func(ev, d map[string]any)
		limit     int
		wantCount bool
		wantState incident.State
	}{
		{"a cohort", nil, 1000, true, incident.StateConfirmed},
		{"a file", file, 1000, true, incident.StateConfirmed},
		{"two users, limit 1000", oneUser, 1000, false, incident.StateSending},
		{"two users, limit 1", oneUser, 1, true, incident.StateConfirmed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			e.handler.AutoSendLimit = tc.limit
			if _, err := e.handler.Handle(context.Background(), event(t, tc.edit)); err != nil {
				t.Fatal(err)
			}
			tasks, err := e.queue.tasks(0)
			if err != nil || len(tasks) == 0 {
				t.Fatalf("tasks %v, %v", tasks, err)
			}
			if tasks[0].Count != tc.wantCount {
				t.Errorf("count = %v, want %v", tasks[0].Count, tc.wantCount)
			}
			if st := e.incidents.records[exampleID].State; st != tc.wantState {
				t.Errorf("state %s, want %s", st, tc.wantState)
			}
		})
	}
}

// TestConfirmedEventNeverRewritesAnIncident: a confirmed event for an
// incident that an admin created, or that has moved on, is a duplicate:
// the record, its state and its notices stay as they are.
func TestConfirmedEventNeverRewritesAnIncident(t *testing.T) {
	manual := incident.Notice{Template: "account-accessed", Channels: []incident.Channel{incident.Email}, Audience: incident.Audience{UserIDs: []string{"u-9"}}}
	tests := []struct {
		name string
		old  incident.Record
	}{
		{"an admin's send, sending", incident.Record{Incident: incident.Incident{ID: exampleID, Status: incident.Confirmed, Title: "t", ConfirmedBy: "admin:omar", Notices: []incident.Notice{manual}},
			State: incident.StateSending, Source: "admin"}},
		{"an admin's send, completed", incident.Record{Incident: incident.Incident{ID: exampleID, Status: incident.Confirmed, Title: "t", ConfirmedBy: "admin:omar", Notices: []incident.Notice{manual}},
			State: incident.StateCompleted, Source: "admin"}},
		{"an event's incident, completed", incident.Record{Incident: incident.Incident{ID: exampleID, Status: incident.Confirmed, Title: "t", ConfirmedBy: "secops:jane"},
			State: incident.StateCompleted, Automated: true, Tasks: 65}},
		{"an event's incident, awaiting approval", incident.Record{Incident: incident.Incident{ID: exampleID, Status: incident.Confirmed, Title: "t", ConfirmedBy: "secops:jane"},
			State: incident.StateAwaitingApproval, Automated: true, Tasks: 65}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			e.incidents.records[exampleID] = tc.old
			res, err := e.handler.Handle(context.Background(), event(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != Duplicate || !strings.Contains(res.Reason, "already "+string(tc.old.State)) {
				t.Errorf("result = %+v, want a duplicate naming the state", res)
			}
			if got := e.incidents.records[exampleID]; !reflect.DeepEqual(got, tc.old) {
				t.Errorf("record changed:\n  %+v\nwas\n  %+v", got, tc.old)
			}
			if e.incidents.puts != 0 || e.queue.Calls() != 0 {
				t.Errorf("%d writes, %d queue calls; want none", e.incidents.puts, e.queue.Calls())
			}
			if slices.Contains(e.audit.Kinds(exampleID), audit.Confirmed) {
				t.Error("a confirmation was audited")
			}
		})
	}
}
