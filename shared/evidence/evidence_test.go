package evidence

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"breachnotify/shared/audit"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

const (
	incidentID = "INC-1"
	accessed   = "n0-account-accessed"
	update     = "n1-update-app"
)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

func testIncident() incident.Record {
	return incident.Record{
		Incident: incident.Incident{
			ID: incidentID, Status: incident.Confirmed, Title: "Unauthorised access",
			DetectedAt: at(-60), ConfirmedAt: at(-30), ConfirmedBy: "secops:jane",
			Notices: []incident.Notice{
				{Template: "account-accessed", Channels: []incident.Channel{incident.Email, incident.Push}, Audience: incident.Audience{UserIDs: []string{"u1", "u2"}}},
				{Template: "update-app", Channels: []incident.Channel{incident.Push}, Audience: incident.Audience{Platforms: []string{"android"}, AppVersionBelow: "8.9.0"}, FixedVersion: "8.9.0"},
			},
		},
		State:    incident.StateSending,
		Audience: &incident.FrozenAudience{Members: 3, Hash: "00000000000000ab", Notices: []incident.NoticeTotals{{NoticeID: accessed, Template: "account-accessed", Members: 2, Messages: 1}}},
	}
}

// delivery is a ledger entry of notice n for user u; device "" is email.
func delivery(n, u, device string, s ledger.Status, reason string, min int) ledger.Entry {
	k := ledger.Key{IncidentID: incidentID, NoticeID: n, UserID: u, Channel: incident.Email}
	if device != "" {
		k.Channel, k.DeviceID = incident.Push, device
	}
	e := ledger.Entry{Key: k, Template: strings.SplitN(n, "-", 2)[1], Status: s, Reason: reason, UpdatedAt: at(min)}
	if s == ledger.Sent {
		e.ProviderMessageID, e.TemplateVersion, e.Locale = "msg-"+u+device, "abc123def456", "en"
	}
	return e
}

func record(n, u string, state ledger.State, ds ...ledger.Entry) ledger.Record {
	return ledger.Record{Recipient: ledger.Recipient{IncidentID: incidentID, NoticeID: n, UserID: u},
		Template: strings.SplitN(n, "-", 2)[1], State: state, Deliveries: ds, UpdatedAt: at(50)}
}

// outcome is what the export should show for a ledger entry.
func outcome(e ledger.Entry) Outcome {
	return Outcome{NoticeID: e.NoticeID, UserID: e.UserID, Channel: e.Channel, DeviceID: e.DeviceID, Template: e.Template,
		Status: e.Status, Reason: e.Reason, ProviderMessageID: e.ProviderMessageID, TemplateVersion: e.TemplateVersion,
		Locale: e.Locale, At: e.UpdatedAt}
}

// mixed has every kind of record: done with several devices, skipped,
// open with a pending delivery, and claimed with nothing recorded yet.
func mixed() []ledger.Record {
	return []ledger.Record{
		record(update, "u3", ledger.Claimed),
		record(accessed, "u2", ledger.Done,
			delivery(accessed, "u2", "", ledger.Skipped, ledger.NoEmail, 3),
			delivery(accessed, "u2", ledger.NoDeviceID, ledger.Skipped, ledger.NoDevice, 3)),
		record(accessed, "u1", ledger.Done,
			delivery(accessed, "u1", "d2", ledger.Failed, "EndpointDisabled", 2),
			delivery(accessed, "u1", "d1", ledger.Sent, "", 2),
			delivery(accessed, "u1", "", ledger.Sent, "", 1)),
		record(update, "u4", ledger.Open,
			delivery(update, "u4", "d1", ledger.Pending, ledger.Paused, 4)),
	}
}

// export streams records through a Writer, in the (notice, user) order the
// ledger gives them, and reads back the JSON document and the CSV rows.
// The document must be exactly what encoding/json writes for the Export it
// decodes to, so a reader cannot tell it was streamed.
func export(t *testing.T, in Inputs, records []ledger.Record) (Export, [][]string) {
	t.Helper()
	records = slices.Clone(records)
	slices.SortFunc(records, func(a, b ledger.Record) int {
		return cmp.Or(cmp.Compare(a.NoticeID, b.NoticeID), cmp.Compare(a.UserID, b.UserID))
	})
	var js, cs bytes.Buffer
	w, err := NewWriter(in, &js, &cs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range records {
		if err := w.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	n, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var e Export
	dec := json.NewDecoder(bytes.NewReader(js.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("decode: %v\n%s", err, js.String())
	}
	want, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if got := js.String(); got != string(want)+"\n" {
		t.Errorf("streamed JSON differs from encoding/json's:\n got %s\nwant %s", got, want)
	}
	if n != len(e.Outcomes) {
		t.Errorf("Close reports %d outcomes, the document lists %d", n, len(e.Outcomes))
	}
	rows, err := csv.NewReader(&cs).ReadAll()
	if err != nil {
		t.Fatalf("read back CSV: %v", err)
	}
	return e, rows
}

// walk is a trail held in memory with its head, walked as the audit
// store walks one.
func walk(entries []audit.Entry, head audit.Head) func(func(audit.Entry) error) (audit.Head, error) {
	return func(fn func(audit.Entry) error) (audit.Head, error) {
		for _, e := range entries {
			if err := fn(e); err != nil {
				return audit.Head{}, err
			}
		}
		return head, nil
	}
}

func TestBuildOutcomes(t *testing.T) {
	rs := mixed()
	for _, tc := range []struct {
		name        string
		records     []ledger.Record
		want        []Outcome
		first, last time.Time
	}{
		{
			name:    "no records: nothing sent, no notice clocks",
			records: nil,
			want:    []Outcome{},
		},
		{
			name:    "sent, failed and skipped, several devices, sorted by notice, user, channel, device",
			records: rs[1:3],
			want: []Outcome{
				outcome(rs[2].Deliveries[2]), outcome(rs[2].Deliveries[1]), outcome(rs[2].Deliveries[0]),
				outcome(rs[1].Deliveries[0]), outcome(rs[1].Deliveries[1]),
			},
			first: at(1), last: at(2),
		},
		{
			name:    "a pending delivery stays pending and starts no clock",
			records: rs[3:],
			want:    []Outcome{outcome(rs[3].Deliveries[0])},
		},
		{
			name:    "a claimed record with nothing recorded is one claimed row without a channel",
			records: rs[:1],
			want:    []Outcome{{NoticeID: update, UserID: "u3", Template: "update-app", Status: Claimed, At: at(50)}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := export(t, Inputs{Incident: testIncident(), Now: t0, Actor: "secops:omar"}, tc.records)
			if !reflect.DeepEqual(e.Outcomes, tc.want) {
				t.Errorf("outcomes:\n got %+v\nwant %+v", e.Outcomes, tc.want)
			}
			if !e.Clocks.FirstNoticeAt.Equal(tc.first) || !e.Clocks.LastNoticeAt.Equal(tc.last) {
				t.Errorf("notice clocks = %v, %v; want %v, %v", e.Clocks.FirstNoticeAt, e.Clocks.LastNoticeAt, tc.first, tc.last)
			}
			if !e.Clocks.DetectedAt.Equal(at(-60)) || !e.Clocks.ConfirmedAt.Equal(at(-30)) {
				t.Errorf("incident clocks = %+v", e.Clocks)
			}
		})
	}
}

// The export's counts match the ledger's own summary of the same records,
// plus one claimed row per record with nothing recorded.
func TestTotalsMatchLedger(t *testing.T) {
	rs := mixed()
	var entries []ledger.Entry
	claimed := 0
	for _, r := range rs {
		entries = append(entries, r.Deliveries...)
		if len(r.Deliveries) == 0 {
			claimed++
		}
	}
	want := ledger.Summarize(entries)
	want[update][""] = map[ledger.Status]int{Claimed: claimed}

	e, _ := export(t, Inputs{Incident: testIncident(), Now: t0}, rs)
	if got := e.Totals(); !reflect.DeepEqual(got, want) {
		t.Errorf("totals:\n got %v\nwant %v", got, want)
	}
	n := 0
	for _, c := range e.Counts {
		n += c.N
	}
	if n != len(e.Outcomes) {
		t.Errorf("counts add up to %d, want %d outcomes", n, len(e.Outcomes))
	}
}

func TestBuildAudit(t *testing.T) {
	var trail []audit.Entry
	add := func(actor string, k audit.Kind, detail map[string]string) {
		var prev *audit.Entry
		if len(trail) > 0 {
			prev = &trail[len(trail)-1]
		}
		trail = append(trail, audit.Next(prev, audit.Entry{IncidentID: incidentID, At: at(len(trail)), Actor: actor, Kind: k, Detail: detail}))
	}
	add("source:acme.detection", audit.EventReceived, nil)
	add("secops:jane", audit.Confirmed, nil)
	add("system:lifecycle", audit.ApprovalRequested, nil)
	add("secops:omar", audit.Approved, nil)
	add("system:worker", audit.Paused, nil)
	add("secops:omar", audit.Resumed, map[string]string{"channel": "email"})
	add("secops:ana", audit.ManualSend, map[string]string{"userId": "u1"})
	add("secops:ana", audit.Cancelled, nil)
	head := trail[len(trail)-1].Head()
	wantApprovals := []Approval{
		{Actor: "secops:jane", At: at(1), Action: audit.Confirmed, Seq: 2},
		{Actor: "secops:omar", At: at(3), Action: audit.Approved, Seq: 4},
		{Actor: "secops:omar", At: at(5), Action: audit.Resumed, Seq: 6, Detail: map[string]string{"channel": "email"}},
		{Actor: "secops:ana", At: at(6), Action: audit.ManualSend, Seq: 7, Detail: map[string]string{"userId": "u1"}},
		{Actor: "secops:ana", At: at(7), Action: audit.Cancelled, Seq: 8},
	}

	tampered := append([]audit.Entry(nil), trail...)
	tampered[3].Actor = "secops:mallory"

	for _, tc := range []struct {
		name     string
		entries  []audit.Entry
		head     audit.Head
		verified bool
		problem  string
	}{
		{name: "intact trail", entries: trail, head: head, verified: true},
		{name: "empty trail, empty head", verified: true},
		{name: "changed entry", entries: tampered, head: head, problem: "seq 4: hash mismatch"},
		{name: "last entry removed", entries: trail[:len(trail)-1], head: head, problem: "entries removed from the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := export(t, Inputs{Incident: testIncident(), AuditTrail: walk(tc.entries, tc.head), Now: t0}, nil)
			if e.Audit.Verified != tc.verified || !strings.Contains(e.Audit.Problem, tc.problem) || (tc.verified && e.Audit.Problem != "") {
				t.Errorf("audit = %+v, want verified %v with problem %q", e.Audit, tc.verified, tc.problem)
			}
			if e.Audit.Entries != len(tc.entries) || e.Audit.Head != tc.head {
				t.Errorf("audit = %+v, want %d entries and head %+v", e.Audit, len(tc.entries), tc.head)
			}
		})
	}

	e, _ := export(t, Inputs{Incident: testIncident(), AuditTrail: walk(trail, head), Now: t0}, nil)
	if !reflect.DeepEqual(e.Approvals, wantApprovals) {
		t.Errorf("approvals:\n got %+v\nwant %+v", e.Approvals, wantApprovals)
	}
}

func TestBuildTemplates(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version func(string) string
		want    []TemplateInfo
	}{
		{
			name:    "each template once, with its version",
			version: func(name string) string { return "v-" + name },
			want:    []TemplateInfo{{Name: "account-accessed", Version: "v-account-accessed"}, {Name: "update-app", Version: "v-update-app"}},
		},
		{
			name: "no version func: names only",
			want: []TemplateInfo{{Name: "account-accessed"}, {Name: "update-app"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := testIncident()
			rec.Notices = append(rec.Notices, rec.Notices[0])
			e, _ := export(t, Inputs{Incident: rec, Now: t0, TemplateVersion: tc.version}, nil)
			if !reflect.DeepEqual(e.Templates, tc.want) {
				t.Errorf("templates = %+v, want %+v", e.Templates, tc.want)
			}
		})
	}
}

func TestCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"u1", "u1"},
		{"", ""},
		{"=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"},
		{"+1234", "'+1234"},
		{"-", "'-"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"a=b", "a=b"},
		{"'quoted", "'quoted"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := cell(tc.in); got != tc.want {
				t.Errorf("cell(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestWriteCSV(t *testing.T) {
	rs := append(mixed(), record(accessed, "=cmd|' /C calc'!A0", ledger.Done,
		delivery(accessed, "=cmd|' /C calc'!A0", "", ledger.Sent, "", 5)))
	rs[len(rs)-1].Deliveries[0].ProviderMessageID = "+1-555"
	e, rows := export(t, Inputs{Incident: testIncident(), Now: t0}, rs)

	if !reflect.DeepEqual(rows[0], csvHeader) {
		t.Errorf("header = %q", rows[0])
	}
	if len(rows)-1 != len(e.Outcomes) {
		t.Fatalf("%d rows, want %d", len(rows)-1, len(e.Outcomes))
	}
	for i, o := range e.Outcomes {
		want := []string{incidentID, o.NoticeID, o.UserID, string(o.Channel), o.DeviceID, string(o.Status), o.Reason,
			o.ProviderMessageID, o.Template, o.TemplateVersion, o.Locale, o.At.Format(time.RFC3339Nano)}
		for j := range want {
			want[j] = cell(want[j])
		}
		if !reflect.DeepEqual(rows[i+1], want) {
			t.Errorf("row %d = %q, want %q", i+1, rows[i+1], want)
		}
	}
	// The hostile row: sorted first, since "=" sorts before "u".
	if got := rows[1]; got[2] != "'=cmd|' /C calc'!A0" || got[7] != "'+1-555" {
		t.Errorf("injection not guarded: %q", got)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	w, err := NewWriter(Inputs{Incident: testIncident(), Now: t0, Actor: "secops:omar",
		TemplateVersion: func(string) string { return "abc123def456" }}, &b, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\n  \"generatedBy\": \"secops:omar\"") || !strings.Contains(b.String(), "\n  \"outcomes\": [],\n") {
		t.Errorf("not indented, or generatedBy or the empty outcomes missing:\n%s", b.String())
	}
}

// The writer takes records in the ledger's order, each once: one out of
// order would break the outcomes' sort, a repeated one would count twice.
func TestWriterRefusesRecordsOutOfOrder(t *testing.T) {
	rs := mixed()
	for _, tc := range []struct {
		name  string
		order []ledger.Record
	}{
		{"a user before the previous one", []ledger.Record{rs[1], rs[2]}},
		{"a notice before the previous one", []ledger.Record{rs[3], rs[1]}},
		{"the same record twice", []ledger.Record{rs[1], rs[1]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewWriter(Inputs{Incident: testIncident(), Now: t0}, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Add(tc.order[0]); err != nil {
				t.Fatal(err)
			}
			if err := w.Add(tc.order[1]); err == nil || !strings.Contains(err.Error(), "sorted by notice and user") {
				t.Errorf("second Add: %v, want an order error", err)
			}
			if _, err := w.Close(); err == nil {
				t.Error("Close after a refused record succeeded")
			}
		})
	}
}

// A trail that cannot be read fails the export rather than show it as
// empty or intact.
func TestWriterFailsOnATrailReadError(t *testing.T) {
	errRead := errors.New("throttled")
	_, err := NewWriter(Inputs{Incident: testIncident(), Now: t0,
		AuditTrail: func(func(audit.Entry) error) (audit.Head, error) { return audit.Head{}, errRead }}, io.Discard, io.Discard)
	if !errors.Is(err, errRead) {
		t.Errorf("NewWriter: %v, want the trail's error", err)
	}
}
