package incident

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// knownTemplates stands in for the notice registry.
func knownTemplates(name string) bool {
	return name == "account-accessed" || name == "update-app"
}

// validConfirmed is a valid confirmed incident with two notices: one to an
// explicit user, one to a cohort, like the contract example.
func validConfirmed() Incident {
	return Incident{
		ID:          "INC-2014-0527",
		Status:      Confirmed,
		Title:       "Unauthorised access to internal systems",
		Summary:     "An attacker used a stolen credential.",
		DetectedAt:  time.Date(2014, 5, 26, 22, 10, 0, 0, time.UTC),
		ConfirmedAt: time.Date(2014, 5, 27, 9, 40, 0, 0, time.UTC),
		ConfirmedBy: "secops:jane",
		Notices: []Notice{
			{
				Template: "account-accessed",
				Channels: []Channel{Email, Push},
				Audience: Audience{UserIDs: []string{"u-000123"}},
			},
			{
				Template:     "update-app",
				Channels:     []Channel{Email, Push},
				Audience:     Audience{Platforms: []string{"android"}, AppVersionBelow: "8.9.0"},
				FixedVersion: "8.9.0",
			},
		},
	}
}

func TestValidate(t *testing.T) {
	manyIDs := make([]string, MaxUserIDs+1)
	for i := range manyIDs {
		manyIDs[i] = fmt.Sprintf("u-%06d", i)
	}
	tests := []struct {
		name   string
		mutate func(*Incident)
		// wantField is a fragment the error must contain: the offending
		// field. Empty means the incident must be valid.
		wantField string
	}{
		{name: "valid confirmed two notices", mutate: func(*Incident) {}},
		{name: "valid suspected without notices", mutate: func(in *Incident) {
			in.Status, in.Notices = Suspected, nil
			in.ConfirmedAt, in.ConfirmedBy = time.Time{}, ""
		}},
		{name: "valid explicit and cohort in one audience", mutate: func(in *Incident) {
			in.Notices[1].Audience.UserIDs = []string{"u-1", "u-2"}
			in.Notices[1].Audience.Platforms = []string{"android", "ios"}
		}},
		{name: "valid confirmedAt equal to detectedAt", mutate: func(in *Incident) { in.ConfirmedAt = in.DetectedAt }},
		{name: "valid 64-char id", mutate: func(in *Incident) { in.ID = strings.Repeat("a", 64) }},
		{name: "valid exactly MaxUserIDs ids", mutate: func(in *Incident) { in.Notices[0].Audience.UserIDs = manyIDs[:MaxUserIDs] }},

		{name: "missing incidentId", mutate: func(in *Incident) { in.ID = "" }, wantField: "incidentId"},
		{name: "incidentId with #", mutate: func(in *Incident) { in.ID = "INC#1" }, wantField: "incidentId"},
		{name: "incidentId with space", mutate: func(in *Incident) { in.ID = "INC 1" }, wantField: "incidentId"},
		{name: "incidentId too long", mutate: func(in *Incident) { in.ID = strings.Repeat("a", 65) }, wantField: "incidentId"},
		{name: "missing status", mutate: func(in *Incident) { in.Status = "" }, wantField: "status"},
		{name: "unknown status", mutate: func(in *Incident) { in.Status = "resolved" }, wantField: "status"},
		{name: "missing title", mutate: func(in *Incident) { in.Title = "" }, wantField: "title"},
		{name: "blank title", mutate: func(in *Incident) { in.Title = " \t" }, wantField: "title"},
		{name: "missing detectedAt", mutate: func(in *Incident) { in.DetectedAt = time.Time{} }, wantField: "detectedAt"},
		{name: "confirmed without confirmedAt", mutate: func(in *Incident) { in.ConfirmedAt = time.Time{} }, wantField: "confirmedAt"},
		{name: "confirmed without confirmedBy", mutate: func(in *Incident) { in.ConfirmedBy = "" }, wantField: "confirmedBy"},
		{name: "confirmed without notices", mutate: func(in *Incident) { in.Notices = nil }, wantField: "notice"},
		{name: "confirmedAt before detectedAt", mutate: func(in *Incident) {
			in.ConfirmedAt = in.DetectedAt.Add(-time.Minute)
		}, wantField: "confirmedAt"},
		{name: "missing template", mutate: func(in *Incident) { in.Notices[0].Template = "" }, wantField: "notices[0].template"},
		{name: "unknown template", mutate: func(in *Incident) { in.Notices[1].Template = "reset-password" }, wantField: "notices[1].template"},
		{name: "empty channels", mutate: func(in *Incident) { in.Notices[0].Channels = nil }, wantField: "notices[0].channels"},
		{name: "unknown channel", mutate: func(in *Incident) { in.Notices[0].Channels = []Channel{Email, "sms"} }, wantField: "notices[0].channels[1]"},
		{name: "duplicate channel", mutate: func(in *Incident) { in.Notices[1].Channels = []Channel{Push, Email, Push} }, wantField: "notices[1].channels"},
		{name: "empty audience", mutate: func(in *Incident) { in.Notices[0].Audience = Audience{} }, wantField: "notices[0].audience"},
		{name: "platforms without appVersionBelow", mutate: func(in *Incident) {
			in.Notices[1].Audience.AppVersionBelow = ""
		}, wantField: "notices[1].audience.appVersionBelow"},
		{name: "appVersionBelow without platforms", mutate: func(in *Incident) {
			in.Notices[0].Audience.AppVersionBelow = "8.9.0"
		}, wantField: "notices[0].audience.appVersionBelow"},
		{name: "unparseable appVersionBelow", mutate: func(in *Incident) {
			in.Notices[1].Audience.AppVersionBelow = "junk"
		}, wantField: "notices[1].audience.appVersionBelow"},
		{name: "unknown platform", mutate: func(in *Incident) {
			in.Notices[1].Audience.Platforms = []string{"android", "windows"}
		}, wantField: "notices[1].audience.platforms[1]"},
		{name: "update-app without fixedVersion", mutate: func(in *Incident) { in.Notices[1].FixedVersion = "" }, wantField: "notices[1].fixedVersion"},
		{name: "unparseable fixedVersion", mutate: func(in *Incident) { in.Notices[1].FixedVersion = "8.9.0-rc1" }, wantField: "notices[1].fixedVersion"},
		{name: "too many userIds", mutate: func(in *Incident) { in.Notices[0].Audience.UserIDs = manyIDs }, wantField: "notices[0].audience.userIds"},
		{name: "userId with #", mutate: func(in *Incident) { in.Notices[0].Audience.UserIDs = []string{"u#1"} }, wantField: "notices[0].audience.userIds[0]"},
		{name: "blank userId", mutate: func(in *Incident) { in.Notices[0].Audience.UserIDs = []string{"u-1", " "} }, wantField: "notices[0].audience.userIds[1]"},
		{name: "title at the limit", mutate: func(in *Incident) { in.Title = strings.Repeat("é", MaxTitleRunes) }},
		{name: "title over the limit", mutate: func(in *Incident) { in.Title = strings.Repeat("t", MaxTitleRunes+1) }, wantField: "title has 201 characters"},
		{name: "title with a zero-width space", mutate: func(in *Incident) { in.Title = "a\u200bb" }, wantField: "title holds"},
		{name: "title with a line separator", mutate: func(in *Incident) { in.Title = "a\u2028b" }, wantField: "title holds"},
		{name: "title with a newline", mutate: func(in *Incident) { in.Title = "a\nb" }, wantField: "title holds"},
		{name: "title not UTF-8", mutate: func(in *Incident) { in.Title = "a\xffb" }, wantField: "title is not valid UTF-8"},
		{name: "summary may hold lines", mutate: func(in *Incident) { in.Summary = "line one\n\tline two" }},
		{name: "summary with a bidi override", mutate: func(in *Incident) { in.Summary = "a\u202eb" }, wantField: "summary holds"},
		{name: "summary over the limit", mutate: func(in *Incident) { in.Summary = strings.Repeat("s", MaxSummaryRunes+1) }, wantField: "summary has"},
		{name: "confirmedBy too long", mutate: func(in *Incident) { in.ConfirmedBy = strings.Repeat("c", MaxActorBytes+1) }, wantField: "confirmedBy is"},
		{name: "detected in the year 9999", mutate: func(in *Incident) {
			in.Status, in.ConfirmedAt, in.ConfirmedBy = Suspected, time.Time{}, ""
			in.DetectedAt = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		}, wantField: "detectedAt 9999"},
		{name: "detected before 2000", mutate: func(in *Incident) { in.DetectedAt = time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC) }, wantField: "detectedAt 1999"},
		{name: "too many notices", mutate: func(in *Incident) {
			for len(in.Notices) <= MaxNotices {
				in.Notices = append(in.Notices, in.Notices[1])
			}
		}, wantField: "notices has 11 notices"},
		{name: "userId longer than a key", mutate: func(in *Incident) { in.Notices[0].Audience.UserIDs = []string{strings.Repeat("u", MaxUserIDBytes+1)} }, wantField: "notices[0].audience.userIds[0]"},
		{name: "userId with a C1 control", mutate: func(in *Incident) { in.Notices[0].Audience.UserIDs = []string{"u\u0085"} }, wantField: "notices[0].audience.userIds[0]"},
		{name: "userId with a bidi override", mutate: func(in *Incident) { in.Notices[0].Audience.UserIDs = []string{"u\u202e1"} }, wantField: "notices[0].audience.userIds[0]"},
		{name: "userId with NBSP", mutate: func(in *Incident) { in.Notices[0].Audience.UserIDs = []string{"u\u00a01"} }, wantField: "notices[0].audience.userIds[0]"},
		{name: "platform listed twice", mutate: func(in *Incident) { in.Notices[1].Audience.Platforms = []string{"android", "android"} }, wantField: "notices[1].audience.platforms lists"},
		{name: "valid file audience", mutate: func(in *Incident) { in.Notices[0].Audience = Audience{File: "INC-2014-0527/affected.csv.gz"} }},
		{name: "file with userIds", mutate: func(in *Incident) {
			in.Notices[0].Audience.File = "affected.csv"
		}, wantField: "notices[0].audience.file cannot be combined"},
		{name: "file with a cohort", mutate: func(in *Incident) {
			in.Notices[1].Audience.File = "affected.csv"
		}, wantField: "notices[1].audience.file cannot be combined"},
		{name: "file key too long", mutate: func(in *Incident) {
			in.Notices[0].Audience = Audience{File: strings.Repeat("k", MaxFileKeyBytes+1)}
		}, wantField: "notices[0].audience.file is 1025 bytes"},
		{name: "file key with a newline", mutate: func(in *Incident) {
			in.Notices[0].Audience = Audience{File: "a\nb.csv"}
		}, wantField: "notices[0].audience.file"},
		{name: "file key with a trailing space", mutate: func(in *Incident) {
			in.Notices[0].Audience = Audience{File: "affected.csv "}
		}, wantField: "notices[0].audience.file"},
		{name: "valid fallback", mutate: func(in *Incident) {
			in.Notices[0].Channels, in.Notices[0].Fallback, in.Notices[0].FallbackAfter = nil, []Channel{Email, Push}, "45m"
		}},
		{name: "fallback and channels", mutate: func(in *Incident) { in.Notices[0].Fallback = []Channel{Email, Push} }, wantField: "notices[0] has both channels and fallback"},
		{name: "fallback lists a channel twice", mutate: func(in *Incident) { in.Notices[0].Channels, in.Notices[0].Fallback = nil, []Channel{Email, Email} }, wantField: "notices[0].fallback lists"},
		{name: "fallbackAfter not a duration", mutate: func(in *Incident) {
			in.Notices[0].Channels, in.Notices[0].Fallback, in.Notices[0].FallbackAfter = nil, []Channel{Email, Push}, "soon"
		}, wantField: "notices[0].fallbackAfter"},
		{name: "fallbackAfter without fallback", mutate: func(in *Incident) { in.Notices[0].FallbackAfter = "30m" }, wantField: "notices[0].fallbackAfter"},
		{name: "suspected notices are still checked", mutate: func(in *Incident) {
			in.Status = Suspected
			in.Notices[0].Template = "reset-password"
		}, wantField: "notices[0].template"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := validConfirmed()
			tc.mutate(&in)
			err := in.Validate(knownTemplates)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want an error about %s", tc.wantField)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
			}
			if !strings.Contains(err.Error(), tc.wantField) {
				t.Errorf("error %q does not mention %q", err, tc.wantField)
			}
			var ie *InvalidError
			if !errors.As(err, &ie) || len(ie.Problems) == 0 {
				t.Fatalf("error %T is not an *InvalidError with problems", err)
			}
			// Only the one thing that was broken is reported.
			if len(ie.Problems) != 1 {
				t.Errorf("problems = %q, want exactly one", ie.Problems)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	in := validConfirmed()
	in.Title = ""
	in.Notices[1].Template = "reset-password"
	err := in.Validate(knownTemplates)
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("Validate = %v, want *InvalidError", err)
	}
	for _, want := range []string{"title", "notices[1].template"} {
		if !slices.ContainsFunc(ie.Problems, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("problems %q do not mention %q", ie.Problems, want)
		}
	}
}

// TestValidateBoundsItsReason: an incident with thousands of problems is
// described in a bounded reason that names the first and counts the rest.
func TestValidateBoundsItsReason(t *testing.T) {
	in := validConfirmed()
	in.ID = strings.Repeat("I", 100_000)
	in.Notices[0].Audience.UserIDs = make([]string, 10_000)
	err := in.ValidateAt(knownTemplates, in.ConfirmedAt)
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("Validate = %v, want *InvalidError", err)
	}
	if len(ie.Problems) != MaxReasonProblems || ie.More < 10_000-MaxReasonProblems {
		t.Errorf("%d problems named and %d counted, want %d named and the rest counted", len(ie.Problems), ie.More, MaxReasonProblems)
	}
	if msg := err.Error(); len(msg) > MaxReasonBytes || !strings.Contains(msg, "more problems") || !strings.Contains(msg, "(100000 bytes)") {
		t.Errorf("reason is %d bytes: %.300s", len(msg), msg)
	}
}

func TestValidateJudgesTimesAgainstNow(t *testing.T) {
	in := validConfirmed()
	if err := in.ValidateAt(knownTemplates, in.ConfirmedAt.Add(-MaxAhead+time.Minute)); err != nil {
		t.Errorf("a confirmation less than a day ahead of the clock: %v", err)
	}
	if err := in.ValidateAt(knownTemplates, in.ConfirmedAt.Add(-MaxAhead-time.Minute)); err == nil || !strings.Contains(err.Error(), "confirmedAt") {
		t.Errorf("a confirmation more than a day ahead of the clock: %v", err)
	}
}

func TestValidKey(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"u-000123", true}, {"Zoë_1", true}, {"用户1", true},
		{"", false}, {"u#1", false}, {"u 1", false}, {"u\u00a01", false}, {"u\u200b1", false},
		{"u\u20281", false}, {"u\u0085", false}, {"u\u202e", false}, {"u\x00", false}, {"u\xff", false},
		{strings.Repeat("u", MaxUserIDBytes), true}, {strings.Repeat("u", MaxUserIDBytes+1), false},
	} {
		if got := ValidKey(tc.s, MaxUserIDBytes); got != tc.want {
			t.Errorf("ValidKey(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestQuoteIsBounded(t *testing.T) {
	if got := Quote("short"); got != `"short"` {
		t.Errorf("Quote(short) = %s", got)
	}
	long := strings.Repeat("é", 10_000)
	if got := Quote(long); len(got) > 4*MaxQuoteBytes || !strings.HasSuffix(got, "(20000 bytes)") {
		t.Errorf("Quote(long) = %s", got)
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"INC-2014-0527", true},
		{"a_b-C9", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{"INC#1", false},
		{"INC/1", false},
		{"INC.1", false},
		{strings.Repeat("x", 65), false},
		{"INC-é", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%.20q", tc.id), func(t *testing.T) {
			if got := ValidID(tc.id); got != tc.want {
				t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}

func TestNoticeID(t *testing.T) {
	tests := []struct {
		i        int
		template string
		want     string
	}{
		{0, "account-accessed", "n0-account-accessed"},
		{1, "update-app", "n1-update-app"},
		{12, "update-app", "n12-update-app"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := NoticeID(tc.i, tc.template); got != tc.want {
				t.Errorf("NoticeID(%d, %q) = %q, want %q", tc.i, tc.template, got, tc.want)
			}
		})
	}
}

// contractDetail is the detail of the contract's example event.
const contractDetail = `{"incidentId":"INC-2014-0527","status":"confirmed","title":"Unauthorised access to internal systems","summary":"An attacker used a stolen support credential to read account records.",
  "detectedAt":"2014-05-26T22:10:00Z","confirmedAt":"2014-05-27T09:40:00Z","confirmedBy":"secops:jane",
  "notices":[
   {"template":"account-accessed","channels":["email","push"],"audience":{"userIds":["u-000123"]}},
   {"template":"update-app","channels":["email","push"],"audience":{"platforms":["android"],"appVersionBelow":"8.9.0"},"fixedVersion":"8.9.0"}]}`

func TestDecodeContractExample(t *testing.T) {
	var got Incident
	if err := json.Unmarshal([]byte(contractDetail), &got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := validConfirmed()
	want.Summary = "An attacker used a stolen support credential to read account records."
	checks := []struct {
		name      string
		got, want any
	}{
		{"incidentId", got.ID, want.ID},
		{"status", got.Status, want.Status},
		{"title", got.Title, want.Title},
		{"summary", got.Summary, want.Summary},
		{"detectedAt", got.DetectedAt.Equal(want.DetectedAt), true},
		{"confirmedAt", got.ConfirmedAt.Equal(want.ConfirmedAt), true},
		{"confirmedBy", got.ConfirmedBy, want.ConfirmedBy},
		{"notices", len(got.Notices), 2},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
			}
		})
	}
	if len(got.Notices) != 2 {
		t.FailNow()
	}
	t.Run("notice 0", func(t *testing.T) {
		n := got.Notices[0]
		if n.Template != "account-accessed" || !slices.Equal(n.Channels, []Channel{Email, Push}) ||
			!slices.Equal(n.Audience.UserIDs, []string{"u-000123"}) || n.Audience.HasCohort() || n.FixedVersion != "" {
			t.Errorf("notice 0 = %+v", n)
		}
	})
	t.Run("notice 1", func(t *testing.T) {
		n := got.Notices[1]
		if n.Template != "update-app" || !slices.Equal(n.Channels, []Channel{Email, Push}) ||
			len(n.Audience.UserIDs) != 0 || !slices.Equal(n.Audience.Platforms, []string{"android"}) ||
			n.Audience.AppVersionBelow != "8.9.0" || n.FixedVersion != "8.9.0" {
			t.Errorf("notice 1 = %+v", n)
		}
	})
	t.Run("validates", func(t *testing.T) {
		if err := got.Validate(knownTemplates); err != nil {
			t.Errorf("Validate = %v", err)
		}
	})
	t.Run("suspected omits confirmedAt on encode", func(t *testing.T) {
		s := Incident{ID: "INC-1", Status: Suspected, Title: "t", DetectedAt: got.DetectedAt}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "confirmedAt") {
			t.Errorf("encoded suspected incident has confirmedAt: %s", b)
		}
	})
}
