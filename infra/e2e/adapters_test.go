package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/intake"
	"breachnotify/shared/ledger"
	"breachnotify/shared/lifecycle"
	"breachnotify/shared/plan"
)

// The DynamoDB adapters against moto, with the tables the template
// declares: the conditions they write are the exactly-once rules, so they
// are tested where the conditions are evaluated.

// The ledger's rules, by the same cases as the unit tests' fake.Ledger.
func TestLedgerClaimRules(t *testing.T) {
	s := needStack(t)
	l := &dynamo.Ledger{Client: dynamodb.NewFromConfig(s.Config()), Table: s.Names["DeliveriesTable"]}
	fake.LedgerContract(t, l, "INC-ADAPTER")
}

func TestPlansFreezeOnceAfterTheLastTask(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(s.Config())
	inc := &dynamo.Incidents{Client: db, Table: s.Names["IncidentsTable"]}
	plans := &dynamo.Plans{Client: db, Table: s.Names["IncidentsTable"]}
	in := incident.Incident{ID: "INC-ADAPTER-PLAN", Status: incident.Confirmed, Title: "t",
		Notices: []incident.Notice{{Template: "account-accessed", Channels: []incident.Channel{incident.Email}, Audience: incident.Audience{UserIDs: []string{"u-1", "u-2"}}}}}
	tasks := plan.Tasks(in, false)
	// Intake writes the whole record, as it does for a new incident.
	if err := inc.Put(ctx, incident.Record{Incident: in, State: incident.StateConfirmed, Tasks: len(tasks)}); err != nil {
		t.Fatal(err)
	}
	for i, task := range tasks {
		p := plan.Progress{Done: true, Members: 1, Batches: 1, Fingerprint: uint64(i + 1)}
		for range 2 { // a redelivered task is counted once
			if err := plans.Finish(ctx, task, p); err != nil {
				t.Fatal(err)
			}
		}
		ready, err := plans.ReadyToFreeze(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if last := i == len(tasks)-1; ready != last {
			t.Fatalf("after task %d of %d: ready %v", i+1, len(tasks), ready)
		}
	}
	for range 2 {
		if err := plans.Freeze(ctx, in.ID); err != nil {
			t.Fatal(err)
		}
	}
	if ready, err := plans.ReadyToFreeze(ctx, in.ID); err != nil || ready {
		t.Errorf("still ready after freezing (%v)", err)
	}
	rec, _, err := inc.Get(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Audience == nil || rec.Audience.Members != len(tasks) || rec.PlannedAt.IsZero() || rec.TasksDone != len(tasks) {
		t.Errorf("frozen record = %+v, audience %+v", rec, rec.Audience)
	}
}

func TestPauseParkUnpark(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	inc := &dynamo.Incidents{Client: dynamodb.NewFromConfig(s.Config()), Table: s.Names["IncidentsTable"]}
	const id = "INC-ADAPTER-PAUSE"
	if err := inc.Pause(ctx, id, incident.Email, "SendingPaused"); err != nil {
		t.Fatal(err)
	}
	b := dispatch.Batch{IncidentID: id, NoticeID: "n0-x", Template: "account-accessed", Channels: []incident.Channel{incident.Email}}
	for range 2 { // parking the same batch twice keeps one
		if err := inc.Park(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := inc.Park(ctx, dispatch.Batch{IncidentID: id, Channels: []incident.Channel{incident.Email, incident.Push}}); err == nil {
		t.Error("parked a batch of two channels")
	}
	paused, err := inc.Paused(ctx, id)
	if err != nil || paused[incident.Email] != "SendingPaused" || len(paused) != 1 {
		t.Fatalf("paused = %v (%v)", paused, err)
	}
	parked, err := inc.Parked(ctx, id, incident.Email)
	if err != nil || len(parked) != 1 || parked[0].Batch.NoticeID != "n0-x" {
		t.Fatalf("parked = %+v (%v)", parked, err)
	}
	if other, err := inc.Parked(ctx, id, incident.Push); err != nil || len(other) != 0 {
		t.Errorf("push has parked batches: %+v (%v)", other, err)
	}
	if err := inc.Unpark(ctx, id, parked[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := inc.Unpause(ctx, id, incident.Email); err != nil {
		t.Fatal(err)
	}
	if paused, err := inc.Paused(ctx, id); err != nil || len(paused) != 0 {
		t.Errorf("still paused: %v (%v)", paused, err)
	}
	if left, err := inc.Parked(ctx, id, incident.Email); err != nil || len(left) != 0 {
		t.Errorf("still parked: %d (%v)", len(left), err)
	}
}

// The deadline watch lists incidents from the sparse active index: every
// write of an incident's state (intake's Put, the manual send's Create, a
// lifecycle Transition) keeps the index holding exactly the incidents on
// their way, and the items written beside an incident never enter it.
func TestActiveIndexFollowsState(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	inc := &dynamo.Incidents{Client: dynamodb.NewFromConfig(s.Config()), Table: s.Names["IncidentsTable"]}
	const prefix = "INC-ACTIVE-"
	now := time.Now().UTC()
	record := func(id string, st incident.State) incident.Record {
		return incident.Record{Incident: incident.Incident{ID: prefix + id, Status: incident.Confirmed, Title: "t"}, State: st}
	}
	move := func(id string, from, to incident.State) func() error {
		return func() error {
			return inc.Transition(ctx, prefix+id, from, to, lifecycle.Change{At: now, Actor: "test"})
		}
	}
	steps := []struct {
		name string
		do   func() error
		want []string
	}{
		{"intake records a suspected incident", func() error { return inc.Put(ctx, record("A", incident.StateSuspected)) }, nil},
		{"intake records a confirmed incident", func() error { return inc.Put(ctx, record("B", incident.StateConfirmed)) }, []string{"B"}},
		{"a manual send creates a sending incident", func() error { return inc.Create(ctx, record("C", incident.StateSending)) }, []string{"B", "C"}},
		{"confirmed → awaiting approval", move("B", incident.StateConfirmed, incident.StateAwaitingApproval), []string{"B", "C"}},
		{"intake confirms the suspected incident", func() error { return inc.Put(ctx, record("A", incident.StateConfirmed)) }, []string{"A", "B", "C"}},
		{"awaiting approval → sending", move("B", incident.StateAwaitingApproval, incident.StateSending), []string{"A", "B", "C"}},
		{"sending → completed", move("C", incident.StateSending, incident.StateCompleted), []string{"A", "B"}},
		{"confirmed → cancelled", move("A", incident.StateConfirmed, incident.StateCancelled), []string{"B"}},
		{"events, notices and marks beside an incident stay out of the index", func() error {
			return errors.Join(
				inc.AddReceipt(ctx, intake.Receipt{IncidentID: prefix + "B", EventID: "e-1", ReceivedAt: now}),
				inc.AddNotice(ctx, prefix+"B", incident.Notice{Template: "account-accessed", Channels: []incident.Channel{incident.Email}}),
				inc.MarkQueued(ctx, prefix+"B", now),
				inc.Pause(ctx, prefix+"B", incident.Email, "test"))
		}, []string{"B"}},
		{"sending → cancelled", move("B", incident.StateSending, incident.StateCancelled), nil},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		ids, err := inc.Active(ctx)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		var got []string
		for _, id := range ids {
			if rest, ok := strings.CutPrefix(id, prefix); ok {
				got = append(got, rest)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, st.want) {
			t.Errorf("after %s: active %v, want %v", st.name, got, st.want)
		}
	}
}

// Each reads an incident's records from all 32 shards of the ledger,
// merged into (notice, user) order, each once: the order the evidence
// export promises and checks.
func TestLedgerEachMergesShardsInOrder(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	l := &dynamo.Ledger{Client: dynamodb.NewFromConfig(s.Config()), Table: s.Names["DeliveriesTable"]}
	const id = "INC-ADAPTER-EACH"
	now := time.Now().UTC()
	var want []string
	for _, notice := range []string{"n0-account-accessed", "n1-update-app"} {
		for i := range 150 {
			user := fmt.Sprintf("user-%03d", (i*37)%150) // claimed out of order
			c := ledger.Claim{Recipient: ledger.Recipient{IncidentID: id, NoticeID: notice, UserID: user},
				Template: "account-accessed", Owner: "w", At: now, LeaseUntil: now.Add(time.Minute)}
			if _, err := l.Claim(ctx, c); err != nil {
				t.Fatal(err)
			}
			want = append(want, notice+"/"+user)
		}
	}
	slices.Sort(want)
	var got []string
	shards := map[int]bool{}
	if err := l.Each(ctx, id, func(r ledger.Record) error {
		got = append(got, r.NoticeID+"/"+r.UserID)
		shards[r.Shard()] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Each gave %d records, want %d in (notice, user) order; first %v", len(got), len(want), got[:min(5, len(got))])
	}
	if len(shards) != ledger.Shards {
		t.Errorf("the records covered %d shards, want all %d: the merge is not exercised", len(shards), ledger.Shards)
	}
}
