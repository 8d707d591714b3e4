package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// trail builds a valid five-entry trail for one incident, as the functions
// would write it.
func trail(incidentID string) ([]Entry, Head) {
	facts := []Entry{
		{Actor: "system:intake", Kind: EventReceived},
		{Actor: "system:intake", Kind: IncidentRecorded},
		{Actor: "arn:aws:iam::123456789012:role/secops", Kind: Approved, Detail: map[string]string{"approval": "ap-1"}},
		{Actor: "system:planner", Kind: AudienceFrozen, Detail: map[string]string{"count": "1200", "hash": "9f86d081"}},
		{Actor: "system:dispatch", Kind: BatchSent, Detail: map[string]string{"batch": "0", "sent": "498", "failed": "1", "skipped": "1"}},
	}
	var entries []Entry
	var prev *Entry
	for i, f := range facts {
		f.IncidentID = incidentID
		f.At = t0.Add(time.Duration(i) * time.Minute)
		entries = append(entries, Next(prev, f))
		prev = &entries[len(entries)-1]
	}
	return entries, prev.Head()
}

// rehash recomputes the hash of entries[i] after a change, as a forger
// would.
func rehash(entries []Entry, i int) { entries[i].Hash = hash(entries[i]) }

func TestEncodeIsFixed(t *testing.T) {
	// External verifiers depend on these exact bytes: a change here breaks
	// every trail already written.
	e := Entry{
		IncidentID: "INC-1",
		Seq:        2,
		At:         time.Date(2025, 3, 1, 11, 0, 0, 500_000_000, time.FixedZone("CET", 3600)),
		Actor:      "arn:aws:iam::123456789012:role/secops",
		Kind:       Approved,
		Detail:     map[string]string{"z": "1", "a": "<&>"},
		Prev:       Genesis,
		Hash:       "ignored",
	}
	want := `{"incidentId":"INC-1","seq":2,"at":"2025-03-01T10:00:00.5Z",` +
		`"actor":"arn:aws:iam::123456789012:role/secops","kind":"approved",` +
		`"detail":{"a":"\u003c\u0026\u003e","z":"1"},` +
		`"prev":"0000000000000000000000000000000000000000000000000000000000000000"}`
	if got := string(encode(e)); got != want {
		t.Errorf("encode =\n%s\nwant\n%s", got, want)
	}
	// sha256 of want, computed outside Go.
	const wantHash = "e05ade1378f93b3091a909346605203fef2907532864ae47a8154a8881d9018c"
	if got := hash(e); got != wantHash {
		t.Errorf("hash = %s, want %s", got, wantHash)
	}

	// An empty detail is left out, whether nil or not, so a store that
	// drops empty maps does not break the chain.
	e.Detail = map[string]string{}
	if got := string(encode(e)); strings.Contains(got, "detail") {
		t.Errorf("empty detail encoded: %s", got)
	}
}

func TestNext(t *testing.T) {
	detail := map[string]string{"count": "3"}
	first := Next(nil, Entry{IncidentID: "INC-1", At: t0.In(time.FixedZone("X", -5*3600)), Actor: "system:intake", Kind: EventReceived, Detail: detail})
	second := Next(&first, Entry{IncidentID: "INC-1", At: t0.Add(time.Second), Actor: "system:intake", Kind: IncidentRecorded})

	tests := []struct {
		name      string
		got, want any
	}{
		{"first seq", first.Seq, int64(1)},
		{"first prev is genesis", first.Prev, Genesis},
		{"first at in UTC", first.At.Location(), time.UTC},
		{"first hash is hex sha-256", len(first.Hash), 64},
		{"second seq", second.Seq, int64(2)},
		{"second prev links first", second.Prev, first.Hash},
		{"head", second.Head(), Head{Seq: 2, Hash: second.Hash}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}

	t.Run("caller's detail map is not shared", func(t *testing.T) {
		detail["count"] = "4"
		if err := Verify([]Entry{first, second}, second.Head()); err != nil {
			t.Errorf("Verify after the caller changed its map: %v", err)
		}
	})
}

func TestVerify(t *testing.T) {
	other, _ := trail("INC-2")
	tests := []struct {
		name string
		// tamper changes a valid trail and its head.
		tamper     func(entries []Entry, head *Head) []Entry
		wantSeq    int64 // 0: the trail must verify
		wantReason string
	}{
		{name: "good trail", tamper: func(e []Entry, _ *Head) []Entry { return e }},
		{name: "empty trail, zero head", tamper: func(_ []Entry, h *Head) []Entry { *h = Head{}; return nil }},
		{name: "first entry only", tamper: func(e []Entry, h *Head) []Entry { *h = e[0].Head(); return e[:1] }},

		{name: "all entries removed", wantSeq: 1, wantReason: "all entries removed",
			tamper: func([]Entry, *Head) []Entry { return nil }},
		{name: "middle entry removed", wantSeq: 3, wantReason: "found seq 4",
			tamper: func(e []Entry, _ *Head) []Entry { return append(e[:2:2], e[3:]...) }},
		{name: "first entry removed", wantSeq: 1, wantReason: "found seq 2",
			tamper: func(e []Entry, _ *Head) []Entry { return e[1:] }},
		{name: "last entry removed", wantSeq: 5, wantReason: "removed from the end",
			tamper: func(e []Entry, _ *Head) []Entry { return e[:4] }},
		{name: "last two entries removed", wantSeq: 4, wantReason: "removed from the end",
			tamper: func(e []Entry, _ *Head) []Entry { return e[:3] }},
		{name: "entries reordered", wantSeq: 3, wantReason: "found seq 4",
			tamper: func(e []Entry, _ *Head) []Entry { e[2], e[3] = e[3], e[2]; return e }},
		{name: "entries reordered with seqs swapped and rehashed", wantSeq: 3, wantReason: "prev mismatch",
			tamper: func(e []Entry, _ *Head) []Entry {
				e[2], e[3] = e[3], e[2]
				e[2].Seq, e[3].Seq = 3, 4
				rehash(e, 2)
				rehash(e, 3)
				return e
			}},
		{name: "entry duplicated", wantSeq: 4, wantReason: "found seq 3",
			tamper: func(e []Entry, _ *Head) []Entry { return append(e[:3:3], e[2:]...) }},
		{name: "entry from another incident", wantSeq: 3, wantReason: `incident id "INC-2"`,
			tamper: func(e []Entry, _ *Head) []Entry { e[2] = other[2]; return e }},
		{name: "changed entry rehashed, next link not fixed", wantSeq: 4, wantReason: "prev mismatch",
			tamper: func(e []Entry, _ *Head) []Entry {
				e[2].Actor = "arn:aws:iam::123456789012:role/someone-else"
				rehash(e, 2)
				return e
			}},
		{name: "changed entry and every later link rewritten", wantSeq: 5, wantReason: "head mismatch",
			tamper: func(e []Entry, _ *Head) []Entry {
				e[2].Detail = map[string]string{"approval": "ap-2"}
				for i := 2; i < len(e); i++ {
					e[i].Prev = e[i-1].Hash
					rehash(e, i)
				}
				return e
			}},
		{name: "last entry changed and rehashed", wantSeq: 5, wantReason: "head mismatch",
			tamper: func(e []Entry, _ *Head) []Entry { e[4].Detail["failed"] = "0"; rehash(e, 4); return e }},
		{name: "entry appended without moving the head", wantSeq: 5, wantReason: "past the head",
			tamper: func(e []Entry, h *Head) []Entry {
				*h = e[3].Head()
				return e
			}},
		{name: "head hash missing", wantSeq: 5, wantReason: "head mismatch",
			tamper: func(e []Entry, h *Head) []Entry { h.Hash = ""; return e }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, head := trail("INC-1")
			entries = tc.tamper(entries, &head)
			checkBroken(t, Verify(entries, head), tc.wantSeq, tc.wantReason)
		})
	}
}

// TestVerifyDetectsEveryFieldChange changes each field of each entry in
// place, without rehashing, and expects the changed entry to be named.
func TestVerifyDetectsEveryFieldChange(t *testing.T) {
	fields := []struct {
		name   string
		change func(*Entry)
	}{
		{"incident id", func(e *Entry) { e.IncidentID = "INC-9" }},
		{"seq", func(e *Entry) { e.Seq += 10 }},
		{"at", func(e *Entry) { e.At = e.At.Add(time.Nanosecond) }},
		{"actor", func(e *Entry) { e.Actor = "system:other" }},
		{"kind", func(e *Entry) { e.Kind = Cancelled }},
		{"detail value", func(e *Entry) {
			for k := range e.Detail {
				e.Detail[k] += "0"
			}
			if e.Detail == nil {
				e.Detail = map[string]string{"count": "0"}
			}
		}},
		{"detail key removed or added", func(e *Entry) {
			for k := range e.Detail {
				delete(e.Detail, k)
			}
			if e.Detail == nil {
				e.Detail = map[string]string{"": ""}
			}
		}},
		{"prev", func(e *Entry) { e.Prev = strings.Repeat("f", 64) }},
		{"hash", func(e *Entry) { e.Hash = strings.Repeat("f", 64) }},
	}
	for _, f := range fields {
		for i := range 5 {
			t.Run(fmt.Sprintf("%s of seq %d", f.name, i+1), func(t *testing.T) {
				entries, head := trail("INC-1")
				f.change(&entries[i])
				checkBroken(t, Verify(entries, head), int64(i+1), "")
			})
		}
	}
}

// A trail must survive the store's JSON round trip: times lose their
// monotonic reading and location, empty maps may come back as nil.
func TestVerifyAfterJSONRoundTrip(t *testing.T) {
	now := time.Now().In(time.FixedZone("X", 7200))
	first := Next(nil, Entry{IncidentID: "INC-1", At: now, Actor: "system:intake", Kind: EventReceived, Detail: map[string]string{}})
	second := Next(&first, Entry{IncidentID: "INC-1", At: now, Actor: "system:intake", Kind: EventRejected, Detail: map[string]string{"problems": "2", "note": "<script>&\u2028"}})
	b, err := json.Marshal([]Entry{first, second})
	if err != nil {
		t.Fatal(err)
	}
	var back []Entry
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if err := Verify(back, second.Head()); err != nil {
		t.Errorf("Verify after round trip: %v\n%s", err, b)
	}
}

func checkBroken(t *testing.T, err error, wantSeq int64, wantReason string) {
	t.Helper()
	if wantSeq == 0 {
		if err != nil {
			t.Errorf("Verify = %v, want nil", err)
		}
		return
	}
	if !errors.Is(err, ErrBroken) {
		t.Fatalf("Verify = %v, want an error matching ErrBroken", err)
	}
	var b *BrokenError
	if !errors.As(err, &b) {
		t.Fatalf("Verify = %T, want *BrokenError", err)
	}
	if b.Seq != wantSeq {
		t.Errorf("broken at seq %d (%s), want seq %d", b.Seq, b.Reason, wantSeq)
	}
	if !strings.Contains(b.Reason, wantReason) {
		t.Errorf("reason %q, want it to mention %q", b.Reason, wantReason)
	}
}
