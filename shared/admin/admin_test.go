package admin

import (
	"encoding/json"

	"context"
	"errors"
	"fmt"
	"github.com/aws/aws-lambda-go/events"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"breachnotify/shared/audit"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/fake"
	"breachnotify/shared/identity"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
	"breachnotify/shared/preflight"
)

type lot struct {
	unpaused []incident.Channel
	parked   map[incident.Channel][]dispatch.Parked
}

func (l *lot) Unpause(_ context.Context, _ string, ch incident.Channel) error {
	l.unpaused = append(l.unpaused, ch)
	return nil
}

func (l *lot) Parked(_ context.Context, _ string, ch incident.Channel) ([]dispatch.Parked, error) {
	return l.parked[ch], nil
}

func (l *lot) Unpark(_ context.Context, _, id string) error {
	for ch, ps := range l.parked {
		for i, p := range ps {
			if p.ID == id {
				l.parked[ch] = append(ps[:i], ps[i+1:]...)
			}
		}
	}
	return nil
}

type memIncidents struct{ recs map[string]incident.Record }

func (m *memIncidents) Get(_ context.Context, id string) (incident.Record, bool, error) {
	r, ok := m.recs[id]
	return r, ok, nil
}

func (m *memIncidents) Create(_ context.Context, r incident.Record) error {
	m.recs[r.ID] = r
	return nil
}

func (m *memIncidents) AddNotice(_ context.Context, id string, n incident.Notice) error {
	r := m.recs[id]
	r.Notices = append(r.Notices, n)
	m.recs[id] = r
	return nil
}

func (m *memIncidents) SetAuthorityNotified(_ context.Context, id string, at time.Time) error {
	r := m.recs[id]
	r.AuthorityNotifiedAt = at
	m.recs[id] = r
	return nil
}

func newHandler() *Handler {
	dir, err := identity.Parse(directory)
	if err != nil {
		panic(err)
	}
	return &Handler{Lot: &lot{}, Queue: &fake.Queue{}, Audit: &fake.Audit{}, Incidents: &memIncidents{recs: map[string]incident.Record{}}, Directory: dir,
		Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return time.Date(2014, 5, 27, 10, 0, 0, 0, time.UTC) }}
}

func TestHandleValidatesEveryField(t *testing.T) {
	h := newHandler()
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"no actor", Request{Operation: "resume", IncidentID: "INC-1"}, "actor is required"},
		{"bad incident", Request{Operation: "resume", Actor: "a", IncidentID: "INC#1"}, "incidentId"},
		{"unknown operation", Request{Operation: "send-all", Actor: "a", IncidentID: "INC-1"}, "operation"},
		{"bad channel", Request{Operation: "resume", Actor: "a", IncidentID: "INC-1", Channel: "sms"}, "channel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Handle(context.Background(), Caller{Door: DoorURL}, tc.req)
			if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a bad request about %s", err, tc.want)
			}
		})
	}
}

func TestResumeRequeuesParkedBatches(t *testing.T) {
	l := &lot{parked: map[incident.Channel][]dispatch.Parked{
		incident.Email: {{ID: "p1", Batch: dispatch.Batch{IncidentID: "INC-1"}}, {ID: "p2", Batch: dispatch.Batch{IncidentID: "INC-1"}}},
		incident.Push:  {{ID: "p3", Batch: dispatch.Batch{IncidentID: "INC-1"}}},
	}}
	q := &fake.Queue{}
	h := newHandler()
	h.Lot, h.Queue = l, q
	resp, err := h.Handle(context.Background(), Caller{Door: DoorURL}, Request{Operation: "resume", Actor: "secops:omar", IncidentID: "INC-1", Channel: incident.Email})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Resumed["email"] != 2 || q.Len() != 2 || len(l.parked[incident.Email]) != 0 || len(l.parked[incident.Push]) != 1 {
		t.Errorf("resp %+v, queued %d, parked left %v", resp, q.Len(), l.parked)
	}
	if len(l.unpaused) != 1 || l.unpaused[0] != incident.Email || resp.Actor != "secops:omar" {
		t.Errorf("unpaused %v, actor %q", l.unpaused, resp.Actor)
	}
}

const directory = "arn:aws:iam::123456789012:user/omar=omar,arn:aws:iam::123456789012:role/BreachAdmin=alice"

func urlEvent(iam *events.LambdaFunctionURLRequestContextAuthorizerIAMDescription, method, body string) json.RawMessage {
	ev := events.LambdaFunctionURLRequest{Version: "2.0", Body: body, RequestContext: events.LambdaFunctionURLRequestContext{
		RequestID: "c0ffee", HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: method}}}
	if iam != nil {
		ev.RequestContext.Authorizer = &events.LambdaFunctionURLRequestContextAuthorizerDescription{IAM: iam}
	}
	raw, _ := json.Marshal(ev)
	return raw
}

func TestFunctionURLDoor(t *testing.T) {
	h := newHandler()
	if err := h.Audit.Append(context.Background(), audit.Entry{IncidentID: "INC-1", Kind: audit.Confirmed, Actor: "a"}); err != nil {
		t.Fatal(err)
	}
	omar := &events.LambdaFunctionURLRequestContextAuthorizerIAMDescription{
		UserARN: "arn:aws:iam::123456789012:user/omar", UserID: "AIDAOMARUSER0000001"}
	role := func(session, userID string) *events.LambdaFunctionURLRequestContextAuthorizerIAMDescription {
		return &events.LambdaFunctionURLRequestContextAuthorizerIAMDescription{
			UserARN: "arn:aws:sts::123456789012:assumed-role/BreachAdmin/" + session, UserID: userID}
	}
	body := `{"operation":"verify","incidentId":"INC-1","actor":"someone-else"}`
	notLambdas := func(mutate func(*events.LambdaFunctionURLRequest)) json.RawMessage {
		var ev events.LambdaFunctionURLRequest
		_ = json.Unmarshal(urlEvent(omar, "POST", body), &ev)
		mutate(&ev)
		raw, _ := json.Marshal(ev)
		return raw
	}
	tests := []struct {
		name     string
		event    json.RawMessage
		wantCode int
		want     string
	}{
		{"no IAM caller", urlEvent(nil, "POST", body), 403, "forbidden"},
		{"IAM context without a caller", urlEvent(&events.LambdaFunctionURLRequestContextAuthorizerIAMDescription{}, "POST", body), 403, "forbidden"},
		{"a user in the directory", urlEvent(omar, "POST", body), 200, `"actor":"omar"`},
		{"a role session is the role's person", urlEvent(role("bob", "AROAALICEROLE000001:bob"), "POST", body), 200, `"actor":"alice"`},
		{"a caller outside the directory", urlEvent(&events.LambdaFunctionURLRequestContextAuthorizerIAMDescription{
			UserARN: "arn:aws:iam::123456789012:user/mallory", UserID: "AIDAMALLORY00000001"}, "POST", body), 403, "not in the admin directory"},
		{"an ARN and user id that disagree", urlEvent(role("alice", "AROAALICEROLE000001:mallory"), "POST", body), 403, "malformed"},
		{"no format version", notLambdas(func(ev *events.LambdaFunctionURLRequest) { ev.Version = "" }), 403, "forbidden"},
		{"no request id", notLambdas(func(ev *events.LambdaFunctionURLRequest) { ev.RequestContext.RequestID = "" }), 403, "forbidden"},
		{"a requestContext that is not an object", json.RawMessage(`{"operation":"confirm","incidentId":"INC-1","actor":"omar","requestContext":"url"}`), 403, "forbidden"},
		{"GET", urlEvent(omar, "GET", ""), 405, "POST"},
		{"bad operation", urlEvent(omar, "POST", `{"operation":"nuke","incidentId":"INC-1"}`), 400, "operation"},
		{"not JSON", urlEvent(omar, "POST", `nope`), 400, "decode request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := h.Invoke(context.Background(), tc.event)
			if err != nil {
				t.Fatal(err)
			}
			resp := out.(events.LambdaFunctionURLResponse)
			if resp.StatusCode != tc.wantCode || !strings.Contains(resp.Body, tc.want) {
				t.Errorf("%d %s, want %d with %q", resp.StatusCode, resp.Body, tc.wantCode, tc.want)
			}
		})
	}
}

func TestDirectInvocationDoor(t *testing.T) {
	h := newHandler()
	h.AutoSendLimit = 2
	tests := []struct {
		name          string
		req           string
		wantForbidden bool
	}{
		{"confirm", `{"operation":"confirm","incidentId":"INC-1","actor":"omar"}`, true},
		{"approve", `{"operation":"approve","incidentId":"INC-1","actor":"omar"}`, true},
		{"resume", `{"operation":"resume","incidentId":"INC-1","actor":"omar"}`, true},
		{"resend-failed", `{"operation":"resend-failed","incidentId":"INC-1","actor":"omar"}`, true},
		{"authority-notified", `{"operation":"authority-notified","incidentId":"INC-1","actor":"omar"}`, true},
		{"a send above AutoSendLimit", `{"operation":"send","incidentId":"INC-1","actor":"omar","template":"t","userIds":["u-1","u-2","u-3"]}`, true},
		{"verify", `{"operation":"verify","incidentId":"INC-1","actor":"omar"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Invoke(context.Background(), json.RawMessage(tc.req))
			if errors.Is(err, ErrForbidden) != tc.wantForbidden {
				t.Errorf("err = %v, want forbidden %v", err, tc.wantForbidden)
			}
		})
	}
	// A direct invocation must name its actor.
	if _, err := h.Invoke(context.Background(), json.RawMessage(`{"operation":"verify","incidentId":"INC-1"}`)); !errors.Is(err, ErrBadRequest) {
		t.Errorf("direct invocation without actor: %v", err)
	}
}

func TestAuthorityNotifiedTimeIsSane(t *testing.T) {
	h := newHandler()
	detected := time.Date(2014, 5, 26, 22, 10, 0, 0, time.UTC)
	h.Incidents.(*memIncidents).recs["INC-1"] = incident.Record{Incident: incident.Incident{ID: "INC-1", Title: "t", DetectedAt: detected}, State: incident.StateSending}
	tests := []struct {
		name string
		at   time.Time
		want string // in the error; empty: accepted
	}{
		{"an hour ago", h.Now().Add(-time.Hour), ""},
		{"the year 9999", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), "in the future"},
		{"two days ahead", h.Now().Add(48 * time.Hour), "in the future"},
		{"before detection", detected.Add(-time.Hour), "before the incident was detected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Handle(context.Background(), Caller{Door: DoorURL}, Request{Operation: "authority-notified", Actor: "dpo:ann", IncidentID: "INC-1", At: tc.at})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("err = %v, want accepted", err)
				}
				return
			}
			if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a bad request about %q", err, tc.want)
			}
		})
	}
}

func TestSendIsRefusedWithAReason(t *testing.T) {
	h := newHandler()
	h.KnownTemplate = func(s string) bool { return s == "account-accessed" }
	waiting := incident.Record{Incident: incident.Incident{ID: "INC-1", Title: "t"}, State: incident.StateAwaitingApproval}
	h.Incidents.(*memIncidents).recs["INC-1"] = waiting
	tests := []struct {
		name    string
		req     Request
		wantErr error
		want    string
	}{
		{"unknown template", Request{Template: "nope", UserIDs: []string{"u-1"}, IncidentID: "INC-2", Title: "t"}, ErrBadRequest, "template"},
		{"no users", Request{Template: "account-accessed", IncidentID: "INC-2", Title: "t"}, ErrBadRequest, "audience is empty"},
		{"no title for a new incident", Request{Template: "account-accessed", UserIDs: []string{"u-1"}, IncidentID: "INC-2"}, ErrBadRequest, "title"},
		{"an incident waiting for approval", Request{Template: "account-accessed", UserIDs: []string{"u-1"}, IncidentID: "INC-1"},
			incident.ErrIllegalTransition, "approve it first"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Operation, tc.req.Actor = "send", "secops:omar"
			_, err := h.Handle(context.Background(), Caller{Door: DoorURL}, tc.req)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %v about %q", err, tc.wantErr, tc.want)
			}
		})
	}
	if n := len(h.Audit.(*fake.Audit).Entries()); n != 0 {
		t.Errorf("refused sends left %d audit entries", n)
	}
}

type probe []preflight.Check

func (p probe) Probe(context.Context) []preflight.Check { return p }

func TestPreflightNeedsNoIncident(t *testing.T) {
	h := newHandler()
	h.Probes = []Prober{
		probe{{Name: "ses-account", Status: preflight.OK, Reason: "production access"}},
		probe{{Name: "sns-android", Status: preflight.Fail, Reason: "disabled"}, {Name: "sns-ios", Status: preflight.OK, Reason: "enabled"}},
	}
	resp, err := h.Handle(context.Background(), Caller{Door: DoorInvoke}, Request{Operation: "preflight", Actor: "secops:omar"})
	if err != nil {
		t.Fatal(err)
	}
	v := resp.Preflight
	if v == nil || v.Status != preflight.Fail || len(v.Checks) != 3 || v.Checks[1].Name != "sns-android" {
		t.Errorf("preflight = %+v, want the three checks, failed", v)
	}
	if n := len(h.Audit.(*fake.Audit).Entries()); n != 0 {
		t.Errorf("preflight wrote %d audit entries", n)
	}
	// Only preflight goes without an incident.
	if _, err := h.Handle(context.Background(), Caller{Door: DoorInvoke}, Request{Operation: "status", Actor: "secops:omar"}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("status without an incident: err = %v, want a bad request", err)
	}
}

type noProgress struct{}

func (noProgress) Read(context.Context, string) (ledger.Progress, error) {
	return ledger.Progress{}, nil
}
func (noProgress) Plan(context.Context, string, map[string]int, bool) error { return nil }

// Each entry says which door its actor came through, and the URL's the
// authenticated principal besides the person.
func TestAuditRecordsTheDoor(t *testing.T) {
	h := newHandler()
	h.AutoSendLimit, h.BatchSize, h.Ledger, h.Progress, h.Users = 5, 10, &fake.Ledger{}, noProgress{}, fake.NewUsers()
	h.KnownTemplate = func(s string) bool { return s == "account-accessed" }
	direct := `{"operation":"send","incidentId":"INC-1","actor":"secops:omar","title":"t","template":"account-accessed","userIds":["u-1"]}`
	if _, err := h.Invoke(context.Background(), json.RawMessage(direct)); err != nil {
		t.Fatal(err)
	}
	signed := urlEvent(&events.LambdaFunctionURLRequestContextAuthorizerIAMDescription{
		UserARN: "arn:aws:sts::123456789012:assumed-role/BreachAdmin/al", UserID: "AROAALICEROLE000001:al"},
		"POST", `{"operation":"send","incidentId":"INC-1","template":"account-accessed","userIds":["u-2"]}`)
	out, err := h.Invoke(context.Background(), signed)
	if err != nil || out.(events.LambdaFunctionURLResponse).StatusCode != 200 {
		t.Fatalf("send through the URL: %+v %v", out, err)
	}
	type got struct{ kind, actor, door, principal string }
	var entries []got
	for _, e := range h.Audit.(*fake.Audit).Entries() {
		entries = append(entries, got{string(e.Kind), e.Actor, e.Detail["door"], e.Detail["principal"]})
	}
	want := []got{
		{string(audit.Confirmed), "secops:omar", "invoke", ""},
		{string(audit.ManualSend), "secops:omar", "invoke", ""},
		{string(audit.ManualSend), "alice", "url", "arn:aws:sts::123456789012:assumed-role/BreachAdmin/al"},
	}
	if !slices.Equal(entries, want) {
		t.Errorf("audit entries\n got %+v\nwant %+v", entries, want)
	}
}

// Every listed operation is served: the admin CLI offers exactly the list,
// so an operation listed but not served would be offered and fail.
func TestEveryListedOperationIsServed(t *testing.T) {
	for _, op := range Operations {
		t.Run(op, func(t *testing.T) {
			h := newHandler()
			r := Request{Operation: op, Actor: "omar"}
			if !slices.Contains(WithoutIncident, op) {
				r.IncidentID = "INC-NONE"
			}
			// Whatever the operation then finds (nothing, here), it must
			// not be the unserved one; a handler without its parts may
			// panic, which says it was reached.
			defer func() { _ = recover() }()
			_, err := h.Handle(context.Background(), Caller{Door: DoorURL, Principal: "arn:aws:iam::123456789012:user/omar"}, r)
			if err != nil && strings.Contains(err.Error(), "not served") {
				t.Fatal(err)
			}
		})
	}
}

// genLedger yields records made by rec for users 0..n-1, counting how many
// it has yielded.
type genLedger struct {
	n       int
	rec     func(i int) ledger.Record
	yielded int
}

func (g *genLedger) Each(_ context.Context, _ string, fn func(ledger.Record) error) error {
	for i := range g.n {
		g.yielded++
		if err := fn(g.rec(i)); err != nil {
			return err
		}
	}
	return nil
}

func (g *genLedger) Get(context.Context, []ledger.Recipient) (map[ledger.Recipient]ledger.Record, error) {
	return nil, nil
}

// batchQueue keeps the batches queued, and how far the ledger had been
// read when each was.
type batchQueue struct {
	ledger  *genLedger
	batches []dispatch.Batch
	readAt  []int
}

func (q *batchQueue) Send(_ context.Context, bodies [][]byte) error {
	for _, body := range bodies {
		var b dispatch.Batch
		if err := json.Unmarshal(body, &b); err != nil {
			return err
		}
		q.batches, q.readAt = append(q.batches, b), append(q.readAt, q.ledger.yielded)
	}
	return nil
}

// resend-failed reads the ledger a record at a time and queues each batch
// as it fills, so what it holds is a batch per notice and channel, never
// the incident's failures.
func TestResendFailedQueuesBatchesAsTheyFill(t *testing.T) {
	const id, notice = "INC-1", "n0-account-accessed"
	pending := func(user string, ch incident.Channel, device, reason string) ledger.Entry {
		return ledger.Entry{Key: ledger.Key{IncidentID: id, NoticeID: notice, UserID: user, Channel: ch, DeviceID: device},
			Status: ledger.Pending, Reason: reason}
	}
	l := &genLedger{n: 140, rec: func(i int) ledger.Record {
		user := fmt.Sprintf("u%03d", i)
		r := ledger.Record{Recipient: ledger.Recipient{IncidentID: id, NoticeID: notice, UserID: user}, Template: "account-accessed", State: ledger.Open}
		switch {
		case i >= 130: // done, or pending only while paused: not resent
			r.Deliveries = []ledger.Entry{pending(user, incident.Email, "", ledger.Paused)}
			if i%2 == 0 {
				r.State = ledger.Done
			}
		case i%10 == 0:
			r.Deliveries = []ledger.Entry{pending(user, incident.Email, "", "Throttling"), pending(user, incident.Push, "d1", "Throttling")}
		default:
			r.Deliveries = []ledger.Entry{pending(user, incident.Email, "", "Throttling")}
		}
		return r
	}}
	q := &batchQueue{ledger: l}
	h := newHandler()
	h.Ledger, h.Queue, h.BatchSize = l, q, 50
	h.Incidents.(*memIncidents).recs[id] = incident.Record{Incident: incident.Incident{ID: id,
		Notices: []incident.Notice{{Template: "account-accessed"}}}, State: incident.StateSending}
	resp, err := h.Handle(context.Background(), Caller{Door: DoorURL}, Request{Operation: "resend-failed", Actor: "secops:omar", IncidentID: id})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, b := range q.batches {
		got = append(got, fmt.Sprintf("%s:%d@%d", b.Channels[0], len(b.Members), q.readAt[i]))
	}
	// Full batches go as they fill; the rest once the ledger is read.
	want := []string{"email:50@50", "email:50@100", "email:30@140", "push:13@140"}
	if !slices.Equal(got, want) || resp.Requeued != len(want) {
		t.Errorf("batches %v (requeued %d), want %v", got, resp.Requeued, want)
	}
	if !strings.HasPrefix(resp.Message, "130 recipients") {
		t.Errorf("message %q, want 130 recipients", resp.Message)
	}
}

// exportFile is an export file kept in memory.
type exportFile struct {
	strings.Builder
	closed, aborted bool
}

func (f *exportFile) Close() (string, error) { f.closed = true; return "https://exports/f", nil }
func (f *exportFile) Abort() error           { f.aborted = true; return nil }

// An export whose ledger read fails stores neither file: both uploads are
// aborted, so no partial evidence is left or linked.
func TestExportAbortsBothFilesOnFailure(t *testing.T) {
	const id = "INC-1"
	errRead := errors.New("ProvisionedThroughputExceeded")
	files := map[string]*exportFile{}
	h := newHandler()
	h.Incidents.(*memIncidents).recs[id] = incident.Record{Incident: incident.Incident{ID: id}, State: incident.StateSending}
	h.Exports = func(_ context.Context, key, _ string) (ExportWriter, error) {
		f := &exportFile{}
		files[key[strings.LastIndexByte(key, '.')+1:]] = f
		return f, nil
	}
	h.Ledger = failingLedger{&genLedger{n: 10, rec: func(i int) ledger.Record {
		return ledger.Record{Recipient: ledger.Recipient{IncidentID: id, NoticeID: "n0-x", UserID: fmt.Sprintf("u%d", i)}}
	}}, 5, errRead}
	resp, err := h.Handle(context.Background(), Caller{Door: DoorURL}, Request{Operation: "export", Actor: "secops:omar", IncidentID: id})
	if !errors.Is(err, errRead) || resp.Export != nil {
		t.Fatalf("export = %+v, %v; want the read error and no links", resp.Export, err)
	}
	for _, ext := range []string{"json", "csv"} {
		if f := files[ext]; f == nil || !f.aborted || f.closed {
			t.Errorf("%s: %+v, want aborted and not closed", ext, f)
		}
	}
	if files["json"].Len() == 0 {
		t.Error("nothing was written before the failure: the test does not fail mid-export")
	}
}

// failingLedger fails after yielding its first after records.
type failingLedger struct {
	*genLedger
	after int
	err   error
}

func (f failingLedger) Each(ctx context.Context, id string, fn func(ledger.Record) error) error {
	n := 0
	return f.genLedger.Each(ctx, id, func(r ledger.Record) error {
		if n++; n > f.after {
			return f.err
		}
		return fn(r)
	})
}
