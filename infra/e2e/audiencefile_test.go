package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"breachnotify/infra/local"
	"breachnotify/shared/admin"
	"breachnotify/shared/audience"
	"breachnotify/shared/aws/dynamo"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
	"breachnotify/shared/plan"
)

// TestAudienceFile: a notice names a file of 100,000 ids, of which a few
// hundred over the auto-send limit belong to users. Planning counts the
// file before anything is sent; the audience, above the limit, waits for
// a second admin, whose preview shows the count and the unknown ids; once
// approved, exactly the named users are notified, once each, and the ids
// outside the users table are reported.
func TestAudienceFile(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	const (
		id    = "INC-FILE-100K"
		key   = "incidents/INC-FILE-100K/affected.csv"
		total = 100_000
		every = 80 // one id in every 80 is a user: 1,250, over AutoSendLimit (1,000)
	)
	start := time.Now()
	var file strings.Builder
	file.WriteString("userId,source\n")
	var known, unknown []string
	for i := range total {
		uid := fmt.Sprintf("fl-%06d", i)
		if i%every == 0 {
			known = append(known, uid)
		} else {
			unknown = append(unknown, uid)
		}
		if i%2 == 0 {
			fmt.Fprintf(&file, "%s,siem\n", uid)
		} else {
			fmt.Fprintf(&file, "{\"userId\":%q}\r\n", uid)
		}
		if i%25_000 == 0 {
			file.WriteString("\nnot an id\n") // a blank line, and one that names no id
		}
	}
	putUsers(t, s, known)
	if err := s.PutAudienceFile(ctx, key, []byte(file.String())); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d users and a file of %d bytes written in %s", len(known), file.Len(), time.Since(start).Round(time.Millisecond))

	ev := fileEvent(t, id, key)
	if err := s.PutEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if err := s.Drain(ctx, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("counted in %s", time.Since(start).Round(time.Millisecond))
	a := &adminClient{t: t, s: s}
	a.wantState(id, incident.StateAwaitingApproval)

	p := a.direct(admin.Request{Operation: "preview", Actor: "secops:omar", IncidentID: id}).Preview
	if p == nil || p.Audience == nil || len(p.Audience.Notices) != 1 {
		t.Fatalf("preview = %+v, want the frozen audience", p)
	}
	n := p.Audience.Notices[0]
	if p.Audience.Members != len(known) || n.Unknown != len(unknown) || n.InvalidLines[audience.LineBadUserID] != 4 || len(n.InvalidLines) != 1 {
		t.Errorf("preview: %d members, %d unknown, invalid lines %v; want %d, %d, 4 not ids", p.Audience.Members, n.Unknown, n.InvalidLines, len(known), len(unknown))
	}
	if len(n.UnknownUserIDs) == 0 || slices.ContainsFunc(n.UnknownUserIDs, func(u string) bool { return !slices.Contains(unknown, u) }) {
		t.Errorf("unknown sample %v, want ids of the file outside the users table", n.UnknownUserIDs)
	}
	for _, m := range outbox(t, s) {
		if strings.HasSuffix(m.To, "@filelist.example.com") {
			t.Fatalf("a notice was sent before approval: %s", m.To)
		}
	}

	a.signed(admin.Request{Operation: "approve", IncidentID: id})
	if err := s.Drain(ctx, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("sent in %s", time.Since(start).Round(time.Millisecond))

	var to []string
	for _, m := range outbox(t, s) {
		if m.Channel == "email" && strings.HasSuffix(m.To, "@filelist.example.com") {
			to = append(to, strings.TrimSuffix(m.To, "@filelist.example.com"))
		}
	}
	slices.Sort(to)
	if !slices.Equal(to, known) {
		t.Errorf("%d emails to the file's users (%d distinct), want exactly the %d known users once each", len(to), len(slices.Compact(slices.Clone(to))), len(known))
	}
	// The ledger, not the progress counters: a worker killed after its
	// ledger writes and before it counts them (a timeout on a loaded
	// machine) leaves the counters short, not the ledger.
	entries, err := s.Deliveries(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var recorded []string
	for _, e := range entries {
		if e.Status != ledger.Sent || e.Channel != incident.Email {
			t.Errorf("ledger entry %+v, want sent emails only", e.Key)
		}
		recorded = append(recorded, e.UserID)
	}
	slices.Sort(recorded)
	if !slices.Equal(recorded, known) {
		t.Errorf("ledger holds %d deliveries, want one for each of the %d known users", len(recorded), len(known))
	}
	st := a.direct(admin.Request{Operation: "status", Actor: "secops:omar", IncidentID: id}).Status
	if st == nil || st.Total.Planned != len(known) {
		t.Errorf("status = %+v, want %d recipients planned", st, len(known))
	}
}

// putUsers writes users with an email and nothing else straight into the
// users table, 25 to a BatchWriteItem, in the profile item's shape
// (package dynamo): a thousand users through the importer would take
// minutes on moto.
func putUsers(t *testing.T, s *local.State, ids []string) {
	t.Helper()
	db := dynamodb.NewFromConfig(s.Config())
	table := s.Names["UsersTable"]
	for start := 0; start < len(ids); start += 25 {
		var reqs []types.WriteRequest
		for _, uid := range ids[start:min(start+25, len(ids))] {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
				"pk":     &types.AttributeValueMemberS{Value: uid},
				"sk":     &types.AttributeValueMemberS{Value: "profile"},
				"userId": &types.AttributeValueMemberS{Value: uid},
				"email":  &types.AttributeValueMemberS{Value: uid + "@filelist.example.com"},
				"locale": &types.AttributeValueMemberS{Value: "en"},
			}}})
		}
		for len(reqs) > 0 {
			out, err := db.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
			if err != nil {
				t.Fatal(err)
			}
			reqs = out.UnprocessedItems[table]
		}
	}
}

// fileEvent is the example confirmed event with one notice to the users of
// an audience file.
func fileEvent(t *testing.T, id, key string) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(readEvent(t, "incident-confirmed.json"), &ev); err != nil {
		t.Fatal(err)
	}
	d := ev["detail"].(map[string]any)
	d["incidentId"] = id
	d["notices"] = []any{map[string]any{"template": "account-accessed", "channels": []any{"email"}, "audience": map[string]any{"file": key}}}
	return mustJSON(t, ev)
}

// TestPlansExpand: a file's split counts its ranges on the incident once,
// however often it is redelivered, so the audience freezes after the last
// range and not before.
func TestPlansExpand(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	db := dynamodb.NewFromConfig(s.Config())
	inc := &dynamo.Incidents{Client: db, Table: s.Names["IncidentsTable"]}
	plans := &dynamo.Plans{Client: db, Table: s.Names["IncidentsTable"]}
	in := incident.Incident{ID: "INC-ADAPTER-EXPAND", Status: incident.Confirmed, Title: "t",
		Notices: []incident.Notice{{Template: "account-accessed", Channels: []incident.Channel{incident.Email}, Audience: incident.Audience{File: "f.csv"}}}}
	split := plan.Tasks(in, false)[0]
	if err := inc.Put(ctx, incident.Record{Incident: in, State: incident.StateConfirmed, Tasks: 1}); err != nil {
		t.Fatal(err)
	}
	p := plan.Progress{ETag: `"abc"`, Parts: 3}
	for range 2 {
		if err := plans.Expand(ctx, split, p); err != nil {
			t.Fatal(err)
		}
	}
	p.Done = true
	if err := plans.Finish(ctx, split, p); err != nil {
		t.Fatal(err)
	}
	for part := range p.Parts {
		if ready, err := plans.ReadyToFreeze(ctx, in.ID); err != nil || ready {
			t.Fatalf("ready to freeze with %d of %d ranges finished (%v)", part, p.Parts, err)
		}
		rt := split
		rt.Range = &plan.FileRange{Part: part, ETag: p.ETag}
		if err := plans.Finish(ctx, rt, plan.Progress{Done: true, Members: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if ready, err := plans.ReadyToFreeze(ctx, in.ID); err != nil || !ready {
		t.Errorf("not ready to freeze after every range (%v)", err)
	}
	if cp, err := plans.Progress(ctx, split); err != nil || cp.ETag != p.ETag || cp.Parts != p.Parts || !cp.Done {
		t.Errorf("split checkpoint %+v (%v), want done with the ETag and parts", cp, err)
	}
}

// TestUserLookupOnMoto: the parallel lookup finds exactly the users among
// ids that mostly are not.
func TestUserLookupOnMoto(t *testing.T) {
	s := needStack(t)
	users := []string{"ul-000007", "ul-000150", "ul-000299"}
	putUsers(t, s, users)
	var ids []string
	for i := range 300 {
		ids = append(ids, fmt.Sprintf("ul-%06d", i))
	}
	l := &dynamo.UserLookup{Client: dynamodb.NewFromConfig(s.Config()), Table: s.Names["UsersTable"], Workers: 3}
	got, err := l.Existing(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, users) {
		t.Errorf("found %v, want %v", got, users)
	}
}
