package deadline

import (
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	detected  = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	confirmed = detected.Add(2 * time.Hour)
	usersDue  = confirmed.Add(24 * time.Hour)
	authDue   = detected.Add(72 * time.Hour)
)

func TestEvaluate(t *testing.T) {
	both := Clocks{DetectedAt: detected, ConfirmedAt: confirmed}
	with := func(f func(*Clocks)) Clocks { c := both; f(&c); return c }

	tests := []struct {
		name   string
		policy Policy // DefaultPolicy when nil
		clocks Clocks
		pr     Progress
		now    time.Time
		want   Finding
	}{
		// The users rule, 24h from confirmation to the last notice.
		{name: "users not started before confirmation",
			clocks: Clocks{DetectedAt: detected}, now: detected.Add(time.Hour),
			want: Finding{Rule: Users, State: NotStarted}},
		{name: "users on track",
			clocks: both, pr: Progress{Pending: 36_000, Rate: 10}, now: confirmed.Add(time.Hour),
			want: Finding{Rule: Users, DueAt: usersDue, State: OnTrack, ETA: confirmed.Add(2 * time.Hour), Left: 23 * time.Hour}},
		{name: "users on track finishing exactly at the deadline",
			clocks: both, pr: Progress{Pending: 3600, Rate: 1}, now: confirmed.Add(23 * time.Hour),
			want: Finding{Rule: Users, DueAt: usersDue, State: OnTrack, ETA: usersDue, Left: time.Hour}},
		{name: "users on track while sending, last notice so far set",
			clocks: with(func(c *Clocks) {
				c.FirstNoticeAt, c.LastNoticeAt = confirmed.Add(time.Minute), confirmed.Add(time.Hour)
			}),
			pr: Progress{Pending: 10, Rate: 10}, now: confirmed.Add(time.Hour),
			want: Finding{Rule: Users, DueAt: usersDue, State: OnTrack, ETA: confirmed.Add(time.Hour + time.Second), Left: 23 * time.Hour}},
		{name: "users on track before the audience is planned",
			clocks: both, now: confirmed.Add(time.Minute),
			want: Finding{Rule: Users, DueAt: usersDue, State: OnTrack, ETA: confirmed.Add(time.Minute), Left: 24*time.Hour - time.Minute}},
		{name: "users at risk: quota too slow",
			clocks: both, pr: Progress{Pending: 1_000_000, Rate: 10}, now: confirmed.Add(time.Hour),
			want: Finding{Rule: Users, DueAt: usersDue, State: AtRisk, ETA: confirmed.Add(time.Hour + 100_000*time.Second), Left: 23 * time.Hour}},
		{name: "users at risk: sending paused",
			clocks: both, pr: Progress{Pending: 5, Rate: 0}, now: confirmed.Add(time.Hour),
			want: Finding{Rule: Users, DueAt: usersDue, State: AtRisk, Left: 23 * time.Hour}},
		{name: "users at risk: rate too small to measure",
			clocks: both, pr: Progress{Pending: 5, Rate: 1e-300}, now: confirmed.Add(time.Hour),
			want: Finding{Rule: Users, DueAt: usersDue, State: AtRisk, Left: 23 * time.Hour}},
		{name: "users missed",
			clocks: both, pr: Progress{Pending: 10, Rate: 100}, now: usersDue.Add(time.Second),
			want: Finding{Rule: Users, DueAt: usersDue, State: Missed, ETA: usersDue.Add(time.Second + 100*time.Millisecond), Left: -time.Second}},
		{name: "users missed when nothing was ever sent",
			clocks: both, now: usersDue.Add(time.Hour),
			want: Finding{Rule: Users, DueAt: usersDue, State: Missed, ETA: usersDue.Add(time.Hour), Left: -time.Hour}},
		{name: "users met",
			clocks: with(func(c *Clocks) { c.LastNoticeAt = confirmed.Add(20 * time.Hour) }), now: usersDue.Add(6 * time.Hour),
			want: Finding{Rule: Users, DueAt: usersDue, State: Met, ETA: confirmed.Add(20 * time.Hour), Left: -6 * time.Hour}},
		{name: "users met exactly at the deadline",
			clocks: with(func(c *Clocks) { c.LastNoticeAt = usersDue }), now: usersDue,
			want: Finding{Rule: Users, DueAt: usersDue, State: Met, ETA: usersDue}},
		{name: "users met late",
			clocks: with(func(c *Clocks) { c.LastNoticeAt = usersDue.Add(time.Hour) }), now: usersDue.Add(2 * time.Hour),
			want: Finding{Rule: Users, DueAt: usersDue, State: MetLate, ETA: usersDue.Add(time.Hour), Left: -2 * time.Hour}},
		{name: "users not met while messages are pending",
			clocks: with(func(c *Clocks) { c.LastNoticeAt = confirmed.Add(time.Hour) }), pr: Progress{Pending: 1, Rate: 1}, now: usersDue.Add(time.Hour),
			want: Finding{Rule: Users, DueAt: usersDue, State: Missed, ETA: usersDue.Add(time.Hour + time.Second), Left: -time.Hour}},
		{name: "users not met while some are unreachable, everything sent",
			clocks: with(func(c *Clocks) { c.LastNoticeAt = confirmed.Add(time.Hour) }), pr: Progress{Unreachable: 3, Rate: 10}, now: confirmed.Add(2 * time.Hour),
			want: Finding{Rule: Users, DueAt: usersDue, State: AtRisk, Left: 22 * time.Hour}},
		{name: "users missed with unreachable users at the deadline",
			clocks: with(func(c *Clocks) { c.LastNoticeAt = confirmed.Add(time.Hour) }), pr: Progress{Unreachable: 1, Rate: 10}, now: usersDue.Add(time.Hour),
			want: Finding{Rule: Users, DueAt: usersDue, State: Missed, Left: -time.Hour}},
		{name: "users counted from detection by a custom policy",
			policy: Policy{{Name: Users, From: Detected, Within: 48 * time.Hour, Until: AllUsersNotified}},
			clocks: Clocks{DetectedAt: detected}, now: detected.Add(time.Hour),
			want: Finding{Rule: Users, DueAt: detected.Add(48 * time.Hour), State: OnTrack, ETA: detected.Add(time.Hour), Left: 47 * time.Hour}},

		// The authority rule, 72h from detection to the regulator being told.
		{name: "authority not started without detection",
			clocks: Clocks{}, now: detected,
			want: Finding{Rule: Authority, State: NotStarted}},
		{name: "authority on track before confirmation",
			clocks: Clocks{DetectedAt: detected}, now: detected.Add(time.Hour),
			want: Finding{Rule: Authority, DueAt: authDue, State: OnTrack, Left: 71 * time.Hour}},
		{name: "authority on track at exactly 72h",
			clocks: both, now: authDue,
			want: Finding{Rule: Authority, DueAt: authDue, State: OnTrack}},
		{name: "authority missed at 72h+1s",
			clocks: both, now: authDue.Add(time.Second),
			want: Finding{Rule: Authority, DueAt: authDue, State: Missed, Left: -time.Second}},
		{name: "authority met",
			clocks: with(func(c *Clocks) { c.AuthorityNotifiedAt = detected.Add(70 * time.Hour) }), now: authDue.Add(time.Hour),
			want: Finding{Rule: Authority, DueAt: authDue, State: Met, ETA: detected.Add(70 * time.Hour), Left: -time.Hour}},
		{name: "authority met late",
			clocks: with(func(c *Clocks) { c.AuthorityNotifiedAt = authDue.Add(time.Second) }), now: authDue.Add(time.Hour),
			want: Finding{Rule: Authority, DueAt: authDue, State: MetLate, ETA: authDue.Add(time.Second), Left: -time.Hour}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == nil {
				p = DefaultPolicy()
			}
			findings := p.Evaluate(tc.clocks, tc.pr, tc.now)
			if len(findings) != len(p) {
				t.Fatalf("%d findings for %d rules", len(findings), len(p))
			}
			i := slices.IndexFunc(findings, func(f Finding) bool { return f.Rule == tc.want.Rule })
			if i < 0 {
				t.Fatalf("no finding for rule %q in %+v", tc.want.Rule, findings)
			}
			got := findings[i]
			if got.Rule != tc.want.Rule || got.State != tc.want.State || !got.DueAt.Equal(tc.want.DueAt) ||
				!got.ETA.Equal(tc.want.ETA) || got.Left != tc.want.Left {
				t.Errorf("finding\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestAlarm(t *testing.T) {
	want := map[State]bool{Met: false, MetLate: false, OnTrack: false, NotStarted: false, AtRisk: true, Missed: true}
	for s, alarm := range want {
		t.Run(string(s), func(t *testing.T) {
			if got := (Finding{State: s}).Alarm(); got != alarm {
				t.Errorf("Alarm = %v, want %v", got, alarm)
			}
		})
	}
}

func TestParsePolicy(t *testing.T) {
	users := func(d time.Duration, from Clock) Rule {
		return Rule{Name: Users, From: from, Within: d, Until: AllUsersNotified}
	}
	authority := func(d time.Duration, from Clock) Rule {
		return Rule{Name: Authority, From: from, Within: d, Until: AuthorityNotified}
	}
	tests := []struct {
		in   string
		want Policy
		// wantErr is a fragment the error must contain; empty means success.
		wantErr string
	}{
		{in: "", want: DefaultPolicy()},
		{in: "  ", want: DefaultPolicy()},
		{in: "users=24h@confirmed,authority=72h@detected", want: DefaultPolicy()},
		{in: " users = 48h @ detected , authority=96h@confirmed ", want: Policy{users(48*time.Hour, Detected), authority(96*time.Hour, Confirmed)}},
		{in: "authority=72h@detected,users=1h30m@confirmed", want: Policy{authority(72*time.Hour, Detected), users(90*time.Minute, Confirmed)}},
		{in: "authority=72h@detected", want: Policy{authority(72*time.Hour, Detected)}},

		{in: "users", wantErr: "want name=duration@clock"},
		{in: "users=24h", wantErr: "missing @clock"},
		{in: "user=24h@confirmed", wantErr: `unknown name "user"`},
		{in: "=24h@confirmed", wantErr: `unknown name ""`},
		{in: "users=1d@confirmed", wantErr: "use hours"},
		{in: "users=@confirmed", wantErr: "use hours"},
		{in: "users=0s@confirmed", wantErr: "must be positive"},
		{in: "users=-1h@confirmed", wantErr: "must be positive"},
		{in: "users=24h@noticed", wantErr: `unknown clock "noticed"`},
		{in: "users=24h@", wantErr: `unknown clock ""`},
		{in: "users=24h@confirmed,", wantErr: "want name=duration@clock"},
		{in: "users=24h@confirmed,users=12h@confirmed", wantErr: `"users" given twice`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePolicy(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParsePolicy = %v, %v; want an error mentioning %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePolicy: %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ParsePolicy =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}
