package status

import (
	"testing"
	"time"

	"breachnotify/shared/deadline"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

func TestCompute(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	rec := incident.Record{Incident: incident.Incident{ID: "INC-1", DetectedAt: t0, ConfirmedAt: t0, Notices: []incident.Notice{
		{Template: "update-app", Channels: []incident.Channel{incident.Email, incident.Push}},
	}}, State: incident.StateSending}
	p := ledger.Progress{Planned: map[string]int{"n0-update-app": 100}, Done: map[string]map[incident.Channel]map[ledger.Status]int{
		"n0-update-app": {incident.Email: {ledger.Sent: 60, ledger.Failed: 5, ledger.Skipped: 5}, incident.Push: {ledger.Sent: 100}},
	}}
	tests := []struct {
		name    string
		rates   map[incident.Channel]float64
		wantETA float64 // -1: unknown
	}{
		{"30 emails left at 10/s", map[incident.Channel]float64{incident.Email: 10, incident.Push: 100}, 3},
		{"no email rate", map[incident.Channel]float64{incident.Push: 100}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Compute(rec, p, tc.rates, deadline.DefaultPolicy(), t0.Add(time.Hour))
			email, push := s.Notices[0].Channels[0], s.Notices[0].Channels[1]
			if email.Pending != 30 || email.Percent != 70 || push.Pending != 0 || push.Percent != 100 {
				t.Errorf("email %+v, push %+v", email, push)
			}
			if s.Total.Planned != 200 || s.Total.Done != 170 || s.Total.Percent != 85 {
				t.Errorf("total %+v", s.Total)
			}
			switch {
			case tc.wantETA < 0 && s.ETASeconds != nil:
				t.Errorf("ETA %v, want unknown", *s.ETASeconds)
			case tc.wantETA >= 0 && (s.ETASeconds == nil || *s.ETASeconds != tc.wantETA):
				t.Errorf("ETA %v, want %v", s.ETASeconds, tc.wantETA)
			}
			if len(s.Deadlines) != 2 || s.Deadlines[0].Rule != deadline.Users || s.Deadlines[0].LeftSeconds != 23*3600 {
				t.Errorf("deadlines %+v", s.Deadlines)
			}
			if n := s.Notices[0]; n.Reached != 0 || n.Unreachable != 0 || n.Pending != 100 {
				t.Errorf("reach %d/%d/%d, want all 100 pending", n.Reached, n.Pending, n.Unreachable)
			}
		})
	}
	t.Run("reach", func(t *testing.T) {
		p := p
		p.Reach = map[string]map[ledger.Reach]int{"n0-update-app": {ledger.Reached: 90, ledger.Unreachable: 4}}
		s := Compute(rec, p, map[incident.Channel]float64{incident.Email: 10, incident.Push: 100}, deadline.DefaultPolicy(), t0.Add(time.Hour))
		if n := s.Notices[0]; n.Reached != 90 || n.Pending != 6 || n.Unreachable != 4 {
			t.Errorf("reached/pending/unreachable %d/%d/%d, want 90/6/4", n.Reached, n.Pending, n.Unreachable)
		}
		// Unreachable users are not informed: the users' deadline is at risk.
		if s.Deadlines[0].State != deadline.AtRisk {
			t.Errorf("users deadline %+v, want at risk", s.Deadlines[0])
		}
	})
	rec.State = incident.StateCancelled
	if s := Compute(rec, p, nil, deadline.DefaultPolicy(), t0); len(s.Deadlines) != 0 {
		t.Errorf("a cancelled incident has deadlines %+v", s.Deadlines)
	}
}
