package admin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"breachnotify/shared/audit"
	"breachnotify/shared/errs"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
)

// memPublic is a versioned bucket and the incidents' timelines in memory.
type memPublic struct {
	m       *memIncidents
	objects map[string][][]byte // key -> versions
	failKey string
}

func (p *memPublic) AddUpdate(_ context.Context, id string, had int, u incident.Update) error {
	r := p.m.recs[id]
	if len(r.Updates) != had {
		return incident.ErrUpdatesChanged
	}
	r.Updates = append(r.Updates, u)
	p.m.recs[id] = r
	return nil
}

func (p *memPublic) put(_ context.Context, key string, body []byte, _ string) (string, error) {
	if key == p.failKey {
		return "", errors.New("s3 down")
	}
	p.objects[key] = append(p.objects[key], body)
	return "v" + string(rune('0'+len(p.objects[key]))), nil
}

func publishHandler(state incident.State) (*Handler, *memPublic) {
	h := newHandler()
	m := h.Incidents.(*memIncidents)
	m.recs["INC-1"] = incident.Record{Incident: incident.Incident{ID: "INC-1", Title: "Unauthorised access", Status: incident.Confirmed,
		DetectedAt: h.Now().Add(-time.Hour), ConfirmedAt: h.Now().Add(-30 * time.Minute),
		Notices: []incident.Notice{
			{Template: "account-accessed", Channels: []incident.Channel{incident.Email}},
			{Template: "update-app", Channels: []incident.Channel{incident.Push}, FixedVersion: "8.9.0"},
			{Template: "account-accessed", Channels: []incident.Channel{incident.Push}},
		}}, State: state}
	p := &memPublic{m: m, objects: map[string][][]byte{}}
	h.Public = Public{Pages: p.put, Timeline: p, URL: "https://status.example.com/incidents", Brand: "Acme"}
	return h, p
}

func TestPublishPutsEveryLocaleWithTheTimelineAndAuditsIt(t *testing.T) {
	h, p := publishHandler(incident.StateSending)
	ctx := context.Background()
	pub := func(update string) Response {
		t.Helper()
		resp, err := h.Handle(ctx, Caller{Door: DoorURL, Principal: "arn:aws:iam::1:user/ann"}, Request{Operation: "publish", Actor: "dpo:ann", IncidentID: "INC-1", Update: update})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first := pub("We are telling the people affected.")
	second := pub("All notices sent.")
	for _, key := range []string{"incidents/INC-1/en.html", "incidents/INC-1/es.html", "incidents/INC-1/de.html", "incidents/INC-1/index.html"} {
		if n := len(p.objects[key]); n != 2 {
			t.Errorf("%s put %d times, want 2 (one version per publication)", key, n)
		}
	}
	es := string(p.objects["incidents/INC-1/es.html"][1])
	for _, want := range []string{`lang="es"`, "All notices sent.", "We are telling the people affected.",
		// Each template's advice once, in Spanish, with the fixed version.
		"Desconfía de los correos", "la versión 8.9.0 o posterior"} {
		if !strings.Contains(es, want) {
			t.Errorf("the Spanish page lacks %q", want)
		}
	}
	if n := strings.Count(es, "Desconfía de los correos"); n != 1 {
		t.Errorf("account-accessed's advice appears %d times, want once for its two notices", n)
	}
	if got := h.Incidents.(*memIncidents).recs["INC-1"].Updates; len(got) != 2 || got[0].By != "dpo:ann" || got[1].Text != "All notices sent." {
		t.Errorf("timeline = %+v", got)
	}
	if second.Published == nil || second.Published.Updates != 2 || second.Published.Pages["de"].Address != "https://status.example.com/incidents/INC-1/de.html" ||
		second.Published.Pages["de"].VersionID != "v2" || first.Published.Pages["index"].VersionID != "v1" {
		t.Errorf("publication = %+v", second.Published)
	}
	var last audit.Entry
	for _, e := range h.Audit.(*fake.Audit).Entries() {
		if e.Kind == audit.Published {
			last = e
		}
	}
	d := last.Detail
	if d["locales"] != "en,es,de" || d["updates"] != "2" || d["es.versionId"] != "v2" || len(d["es.sha256"]) != 64 ||
		d["index.versionId"] != "v2" || len(d["updateSha256"]) != 64 || d["door"] != "url" || last.Actor != "dpo:ann" {
		t.Errorf("audit = %+v", last)
	}
	if strings.Contains(strings.Join(mapValues(d), " "), "All notices sent.") {
		t.Error("the audit keeps the update's text; it keeps its hash")
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestPublishIsRefused(t *testing.T) {
	long := strings.Repeat("a", incident.MaxUpdateRunes+1)
	tests := []struct {
		name    string
		state   incident.State
		updates int
		door    Door
		update  string
		kind    errs.Kind
		want    string
	}{
		{"by direct invocation", incident.StateSending, 0, DoorInvoke, "x", errs.Forbidden, "only through the Function URL"},
		{"a suspicion", incident.StateSuspected, 0, DoorURL, "x", errs.Conflict, "confirm it first"},
		{"a cancelled incident", incident.StateCancelled, 0, DoorURL, "x", errs.Conflict, "not announced"},
		{"a first publication without an update", incident.StateSending, 0, DoorURL, "", errs.Invalid, "needs an update"},
		{"an update too long", incident.StateSending, 0, DoorURL, long, errs.Invalid, "more than 1000"},
		{"an update with a hidden character", incident.StateSending, 0, DoorURL, "a\u202eb", errs.Invalid, "invisible"},
		{"a full timeline", incident.StateSending, incident.MaxUpdates, DoorURL, "x", errs.Invalid, "the most an incident keeps"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, p := publishHandler(tc.state)
			r := h.Incidents.(*memIncidents).recs["INC-1"]
			for range tc.updates {
				r.Updates = append(r.Updates, incident.Update{At: h.Now(), Text: "u"})
			}
			h.Incidents.(*memIncidents).recs["INC-1"] = r
			_, err := h.Handle(context.Background(), Caller{Door: tc.door}, Request{Operation: "publish", Actor: "dpo:ann", IncidentID: "INC-1", Update: tc.update})
			if errs.KindOf(err) != tc.kind || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v (%s), want %s about %q", err, errs.KindOf(err), tc.kind, tc.want)
			}
			if len(p.objects) != 0 {
				t.Errorf("%d objects put by a refused publication", len(p.objects))
			}
		})
	}
}

// A put that fails leaves the update recorded; publishing again without
// one puts the pages with it, and the update is not added twice.
func TestPublishAgainAfterAFailedPut(t *testing.T) {
	h, p := publishHandler(incident.StateCompleted)
	p.failKey = "incidents/INC-1/de.html"
	req := Request{Operation: "publish", Actor: "dpo:ann", IncidentID: "INC-1", Update: "Notices sent."}
	if _, err := h.Handle(context.Background(), Caller{Door: DoorURL}, req); err == nil {
		t.Fatal("publish succeeded with a failing put")
	}
	p.failKey = ""
	req.Update = ""
	resp, err := h.Handle(context.Background(), Caller{Door: DoorURL}, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Published.Updates != 1 || !strings.Contains(string(p.objects["incidents/INC-1/de.html"][0]), "Notices sent.") {
		t.Errorf("republication = %+v, want the one recorded update on every page", resp.Published)
	}
}

func TestUpdateGoesWithPublishOnly(t *testing.T) {
	h, _ := publishHandler(incident.StateSending)
	_, err := h.Handle(context.Background(), Caller{Door: DoorURL}, Request{Operation: "status", Actor: "a", IncidentID: "INC-1", Update: "x"})
	if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "update goes with publish") {
		t.Errorf("err = %v", err)
	}
}
