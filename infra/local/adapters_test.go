package local

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"breachnotify/shared/dispatch"
	"breachnotify/shared/dynamo"
	"breachnotify/shared/incident"
	"breachnotify/shared/intake"
	"breachnotify/shared/ledger"
	"breachnotify/shared/plan"
)

// The DynamoDB adapters against moto, with the tables the template
// declares: the conditions they write are the exactly-once rules, so they
// are tested where the conditions are evaluated.

func TestLedgerClaimRules(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	l := &dynamo.Ledger{Client: dynamodb.NewFromConfig(s.Config()), Table: s.Names["DeliveriesTable"]}
	now := time.Now().UTC().Truncate(time.Second)
	entry := func(user string, at time.Time) ledger.Entry {
		return ledger.Entry{Key: ledger.Key{IncidentID: "INC-ADAPTER", NoticeID: "n0-x", UserID: user, Channel: incident.Email},
			Template: "account-accessed", Status: ledger.Claimed, UpdatedAt: at}
	}
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"a new delivery is claimed once", func(t *testing.T) {
			if err := l.Claim(ctx, entry("u-1", now), now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := l.Claim(ctx, entry("u-1", now), now.Add(time.Minute)); !errors.Is(err, ledger.ErrInFlight) {
				t.Errorf("second claim: %v, want ErrInFlight", err)
			}
		}},
		{"an expired claim is taken over", func(t *testing.T) {
			if err := l.Claim(ctx, entry("u-2", now), now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			later := now.Add(2 * time.Minute)
			if err := l.Claim(ctx, entry("u-2", later), later.Add(time.Minute)); err != nil {
				t.Errorf("claim after the lease: %v", err)
			}
		}},
		{"a finished delivery is never claimed again", func(t *testing.T) {
			e := entry("u-3", now)
			if err := l.Claim(ctx, e, now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			e.Status, e.ProviderMessageID = ledger.Sent, "m-1"
			if err := l.Finish(ctx, e); err != nil {
				t.Fatal(err)
			}
			later := now.Add(time.Hour)
			if err := l.Claim(ctx, entry("u-3", later), later.Add(time.Minute)); !errors.Is(err, ledger.ErrDone) {
				t.Errorf("claim of a sent delivery: %v, want ErrDone", err)
			}
		}},
		{"a released claim can be claimed at once", func(t *testing.T) {
			e := entry("u-4", now)
			if err := l.Claim(ctx, e, now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := l.Release(ctx, e.Key); err != nil {
				t.Fatal(err)
			}
			if err := l.Claim(ctx, e, now.Add(time.Minute)); err != nil {
				t.Errorf("claim after release: %v", err)
			}
		}},
		{"finish needs a claim", func(t *testing.T) {
			e := entry("u-5", now)
			e.Status = ledger.Sent
			if err := l.Finish(ctx, e); err == nil {
				t.Error("finished a delivery nobody claimed")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestPlansFreezeOnceAfterTheLastTask(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(s.Config())
	inc := &dynamo.Incidents{Client: db, Table: s.Names["IncidentsTable"]}
	plans := &dynamo.Plans{Client: db, Table: s.Names["IncidentsTable"]}
	in := incident.Incident{ID: "INC-ADAPTER-PLAN", Status: incident.Confirmed, Title: "t",
		Notices: []incident.Notice{{Template: "account-accessed", Channels: []incident.Channel{incident.Email}, Audience: incident.Audience{UserIDs: []string{"u-1", "u-2"}}}}}
	tasks := plan.Tasks(in)
	// Intake writes the whole record, as it does for a new incident.
	if err := inc.Put(ctx, intake.Record{Incident: in, State: incident.Confirmed, Tasks: len(tasks)}); err != nil {
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
	if other, _ := inc.Parked(ctx, id, incident.Push); len(other) != 0 {
		t.Errorf("push has parked batches: %+v", other)
	}
	if err := inc.Unpark(ctx, id, parked[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := inc.Unpause(ctx, id, incident.Email); err != nil {
		t.Fatal(err)
	}
	if paused, _ := inc.Paused(ctx, id); len(paused) != 0 {
		t.Errorf("still paused: %v", paused)
	}
	if left, _ := inc.Parked(ctx, id, incident.Email); len(left) != 0 {
		t.Errorf("still parked: %d", len(left))
	}
}
