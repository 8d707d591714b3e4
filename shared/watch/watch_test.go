package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"testing"
	"time"

	"breachnotify/shared/deadline"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
	"breachnotify/shared/metrics"
)

var confirmedAt = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

type fakes struct {
	recs      map[string]incident.Record
	progress  map[string]ledger.Progress
	raised    map[string]bool
	completed []string
	frozen    []string
	// Audit is the trail the watch appends its alarms to.
	fake.Audit
	// lagging are ids the list still returns whatever their state, as an
	// eventually consistent index may.
	lagging []string
}

func (f *fakes) Active(_ context.Context) ([]string, error) {
	var ids []string
	for id, r := range f.recs {
		if r.State.Active() || slices.Contains(f.lagging, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func (f *fakes) Get(_ context.Context, id string) (incident.Record, bool, error) {
	r, ok := f.recs[id]
	return r, ok, nil
}

func (f *fakes) Read(_ context.Context, id string) (ledger.Progress, error) {
	return f.progress[id], nil
}

func (f *fakes) Frozen(_ context.Context, id string) error {
	f.frozen = append(f.frozen, id)
	return nil
}

func (f *fakes) Complete(_ context.Context, rec incident.Record, _ map[string]string) error {
	f.completed = append(f.completed, rec.ID)
	return nil
}

func (f *fakes) Raise(_ context.Context, a Alarm) (bool, error) {
	k := a.IncidentID + a.Rule + string(a.State)
	if f.raised[k] {
		return false, nil
	}
	f.raised[k] = true
	return true, nil
}

// sending is an incident confirmed at confirmedAt with 10,000 recipients
// to email, done of them sent.
func sending(done int) (incident.Record, ledger.Progress) {
	rec := incident.Record{Incident: incident.Incident{ID: "INC-1", DetectedAt: confirmedAt.Add(-time.Hour), ConfirmedAt: confirmedAt,
		Notices: []incident.Notice{{Template: "update-app", Channels: []incident.Channel{incident.Email}}}},
		State: incident.StateSending, Audience: &incident.FrozenAudience{Members: 10000}}
	p := ledger.Progress{Planned: map[string]int{"n0-update-app": 10000},
		Done: map[string]map[incident.Channel]map[ledger.Status]int{"n0-update-app": {incident.Email: {ledger.Sent: done}}}}
	if done > 0 {
		p.FirstNoticeAt, p.LastNoticeAt = confirmedAt.Add(time.Minute), confirmedAt.Add(time.Hour)
	}
	return rec, p
}

func TestRun(t *testing.T) {
	policy := deadline.Policy{{Name: deadline.Users, From: deadline.Confirmed, Within: 24 * time.Hour, Until: deadline.AllUsersNotified}}
	tests := []struct {
		name          string
		done          int
		rate          float64
		now           time.Time
		wantAlarms    []string
		wantCompleted bool
	}{
		// 9,000 left at 1/s is 2.5 h; 1 h is left.
		{"at the quota it will be late", 1000, 1, confirmedAt.Add(23 * time.Hour), []string{"users:at-risk"}, false},
		{"at the quota it is on time", 1000, 10, confirmedAt.Add(23 * time.Hour), nil, false},
		{"missed", 1000, 10, confirmedAt.Add(25 * time.Hour), []string{"users:missed"}, false},
		{"everyone reached: completed, no alarm", 10000, 10, confirmedAt.Add(2 * time.Hour), nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, p := sending(tc.done)
			f := &fakes{recs: map[string]incident.Record{"INC-1": rec}, progress: map[string]ledger.Progress{"INC-1": p}, raised: map[string]bool{}}
			var emitted bytes.Buffer
			w := &Watch{Incidents: f, Progress: f, Lifecycle: f, Alarms: f, Audit: f, Policy: policy, Metrics: &metrics.Emitter{W: &emitted},
				Rates: func(context.Context) (map[incident.Channel]float64, error) {
					return map[incident.Channel]float64{incident.Email: tc.rate}, nil
				},
				Now: func() time.Time { return tc.now }, Log: slog.New(slog.DiscardHandler)}
			r, err := w.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range r.Alarms {
				got = append(got, a.Rule+":"+string(a.State))
			}
			if !slices.Equal(got, tc.wantAlarms) || (len(f.completed) == 1) != tc.wantCompleted {
				t.Errorf("alarms %v, completed %v; want %v, %v", got, f.completed, tc.wantAlarms, tc.wantCompleted)
			}
			if len(f.Entries()) != len(tc.wantAlarms) {
				t.Errorf("audited %d alarms, want %d", len(f.Entries()), len(tc.wantAlarms))
			}
			var emf map[string]any
			if err := json.Unmarshal(emitted.Bytes(), &emf); err != nil || emf["DeadlineAlarms"] != float64(len(tc.wantAlarms)) || emf["WatchHeartbeat"] != 1.0 {
				t.Errorf("metric line %s (%v)", emitted.String(), err)
			}
			// The next run raises nothing new.
			if r, err := w.Run(context.Background()); err != nil || len(r.Alarms) != 0 {
				t.Errorf("second run raised %v again (%v)", r.Alarms, err)
			}
		})
	}
}

func TestRunMovesOnAConfirmedIncidentWithAFrozenAudience(t *testing.T) {
	rec, p := sending(0)
	rec.State = incident.StateConfirmed
	f := &fakes{recs: map[string]incident.Record{"INC-1": rec}, progress: map[string]ledger.Progress{"INC-1": p}, raised: map[string]bool{}}
	w := &Watch{Incidents: f, Progress: f, Lifecycle: f, Alarms: f, Audit: f, Policy: deadline.DefaultPolicy(),
		Rates: func(context.Context) (map[incident.Channel]float64, error) { return nil, nil },
		Now:   func() time.Time { return confirmedAt }, Log: slog.New(slog.DiscardHandler)}
	if _, err := w.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.frozen, []string{"INC-1"}) {
		t.Errorf("frozen %v: a planner stopped after freezing must not leave the incident confirmed", f.frozen)
	}
}

// The active list may lag the records: an incident already completed or
// cancelled is neither alarmed on nor completed again.
func TestRunSkipsAnIncidentNoLongerActive(t *testing.T) {
	for _, st := range []incident.State{incident.StateCompleted, incident.StateCancelled} {
		t.Run(string(st), func(t *testing.T) {
			rec, p := sending(10000)
			rec.State = st
			f := &fakes{recs: map[string]incident.Record{"INC-1": rec}, progress: map[string]ledger.Progress{"INC-1": p}, raised: map[string]bool{},
				lagging: []string{"INC-1"}}
			w := &Watch{Incidents: f, Progress: f, Lifecycle: f, Alarms: f, Audit: f, Policy: deadline.DefaultPolicy(), Metrics: &metrics.Emitter{W: &bytes.Buffer{}},
				Rates: func(context.Context) (map[incident.Channel]float64, error) { return nil, nil },
				// Long past every deadline: an active incident would alarm.
				Now: func() time.Time { return confirmedAt.Add(90 * 24 * time.Hour) }, Log: slog.New(slog.DiscardHandler)}
			r, err := w.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Alarms) != 0 || len(f.completed) != 0 || len(f.Entries()) != 0 {
				t.Errorf("alarms %v, completed %v, audited %d for a %s incident", r.Alarms, f.completed, len(f.Entries()), st)
			}
		})
	}
}
