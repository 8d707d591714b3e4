package admin

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"breachnotify/shared/audience"
	"breachnotify/shared/audit"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

// memProgress adds up what is planned per incident and notice.
type memProgress map[string]map[string]int

func (p memProgress) Read(_ context.Context, id string) (ledger.Progress, error) {
	return ledger.Progress{Planned: p[id]}, nil
}

func (p memProgress) Plan(_ context.Context, id string, planned map[string]int, add bool) error {
	if p[id] == nil || !add {
		p[id] = map[string]int{}
	}
	for n, c := range planned {
		p[id][n] += c
	}
	return nil
}

// refusingIncidents fails every create, as the store does when another
// door created the incident first.
type refusingIncidents struct{ *memIncidents }

var errExists = errors.New("conditional check failed")

func (refusingIncidents) Create(context.Context, incident.Record) error { return errExists }

func sendHandler() (*Handler, memProgress) {
	h := newHandler()
	h.KnownTemplate = func(s string) bool { return s == "account-accessed" || s == "update-app" }
	h.Ledger = &fake.Ledger{}
	progress := memProgress{}
	h.Progress = progress
	android := func(v string) []audience.Device {
		return []audience.Device{{ID: "d-1", Platform: "android", AppVersion: v}}
	}
	h.Users = fake.NewUsers(
		audience.User{ID: "u-old", Devices: android("8.8.2")},
		audience.User{ID: "u-new", Devices: android("8.10.0")},
	)
	return h, progress
}

// TestManualSendCountsWhatItQueues: the recipients a manual send queues
// are counted as planned, so that status and the deadline watch see them;
// on an incident whose planning counted some of them, only the others.
func TestManualSendCountsWhatItQueues(t *testing.T) {
	cohort := incident.Notice{Template: "update-app", Channels: []incident.Channel{incident.Email}, FixedVersion: "8.9.0",
		Audience: incident.Audience{Platforms: []string{"android"}, AppVersionBelow: "8.9.0"}}
	at := time.Date(2014, 5, 27, 9, 0, 0, 0, time.UTC)
	sending := &incident.Record{Incident: incident.Incident{ID: "INC-1", Status: incident.Confirmed, Title: "t", DetectedAt: at,
		ConfirmedAt: at, ConfirmedBy: "secops:jane", Notices: []incident.Notice{cohort}}, State: incident.StateSending, Automated: true}
	tests := []struct {
		name     string
		existing *incident.Record
		req      Request
		want     map[string]int
		audit    []audit.Kind
	}{
		{"a send that creates its incident counts every user it queues",
			nil,
			Request{Template: "account-accessed", Title: "Manual notice", UserIDs: []string{"u-old", "u-new", "u-gone", "u-old"}},
			map[string]int{"n0-account-accessed": 3}, []audit.Kind{audit.Confirmed, audit.ManualSend}},
		{"a send joining a planned notice counts only users outside its audience",
			sending,
			Request{Template: "update-app", FixedVersion: "8.9.0", UserIDs: []string{"u-old", "u-new", "u-gone"}},
			map[string]int{"n0-update-app": 2}, []audit.Kind{audit.ManualSend}},
		{"a send adding a notice counts every user it queues",
			sending,
			Request{Template: "account-accessed", UserIDs: []string{"u-old", "u-new"}},
			map[string]int{"n1-account-accessed": 2}, []audit.Kind{audit.ManualSend}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, progress := sendHandler()
			if tc.existing != nil {
				h.Incidents.(*memIncidents).recs["INC-1"] = *tc.existing
			}
			tc.req.Operation, tc.req.Actor, tc.req.IncidentID, tc.req.Channel = "send", "secops:omar", "INC-1", "email"
			resp, err := h.Handle(context.Background(), Caller{Door: DoorURL}, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(progress["INC-1"], tc.want) {
				t.Errorf("planned = %v, want %v", progress["INC-1"], tc.want)
			}
			if got := h.Audit.(*fake.Audit).Kinds("INC-1"); !slices.Equal(got, tc.audit) {
				t.Errorf("audit = %q, want %q", got, tc.audit)
			}
			if resp.Requeued == 0 || h.Queue.(*fake.Queue).Len() != resp.Requeued {
				t.Errorf("%d batches queued (%d reported)", h.Queue.(*fake.Queue).Len(), resp.Requeued)
			}
		})
	}
}

// TestManualSendThatCannotCreateLeavesNoTrace: when the incident cannot
// be created, no audit entry claims it was confirmed, and nothing is
// counted or queued.
func TestManualSendThatCannotCreateLeavesNoTrace(t *testing.T) {
	h, progress := sendHandler()
	h.Incidents = refusingIncidents{&memIncidents{recs: map[string]incident.Record{}}}
	_, err := h.Handle(context.Background(), Caller{Door: DoorURL}, Request{Operation: "send", Actor: "secops:omar", IncidentID: "INC-1",
		Template: "account-accessed", Title: "Manual notice", UserIDs: []string{"u-old"}})
	if !errors.Is(err, errExists) {
		t.Fatalf("err = %v, want the store's refusal", err)
	}
	if n := len(h.Audit.(*fake.Audit).Entries()); n != 0 {
		t.Errorf("a failed create left %d audit entries: %q", n, h.Audit.(*fake.Audit).Kinds("INC-1"))
	}
	if len(progress) != 0 || h.Queue.(*fake.Queue).Len() != 0 {
		t.Errorf("a failed create counted %v and queued %d batches", progress, h.Queue.(*fake.Queue).Len())
	}
}
