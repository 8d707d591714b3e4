package fake

import (
	"context"
	"errors"
	"slices"
	"testing"

	"breachnotify/shared/audit"
)

func TestLedger(t *testing.T) {
	LedgerContract(t, &Ledger{}, "INC-FAKE")
}

func TestAuditChainsEachIncident(t *testing.T) {
	ctx := context.Background()
	a := &Audit{}
	for _, e := range []audit.Entry{
		{IncidentID: "INC-1", Kind: audit.EventReceived},
		{IncidentID: "INC-2", Kind: audit.EventReceived},
		{IncidentID: "INC-1", Kind: audit.Confirmed},
	} {
		if err := a.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		id    string
		kinds []audit.Kind
	}{
		{"INC-1", []audit.Kind{audit.EventReceived, audit.Confirmed}},
		{"INC-2", []audit.Kind{audit.EventReceived}},
	} {
		t.Run(tc.id, func(t *testing.T) {
			var entries []audit.Entry
			if err := a.Each(ctx, tc.id, func(e audit.Entry) error { entries = append(entries, e); return nil }); err != nil {
				t.Fatal(err)
			}
			head, err := a.Head(ctx, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if err := audit.Verify(entries, head); err != nil || head.Seq != int64(len(tc.kinds)) {
				t.Errorf("trail of %d entries, head %+v: %v", len(entries), head, err)
			}
			if got := a.Kinds(tc.id); !slices.Equal(got, tc.kinds) {
				t.Errorf("kinds %v, want %v", got, tc.kinds)
			}
		})
	}
}

func TestQueueFailsTheCallsItIsTold(t *testing.T) {
	errDown := errors.New("down")
	q := &Queue{Fail: FailOn(errDown, 2), Accept: 1}
	ctx := context.Background()
	for i, want := range []error{nil, errDown, nil} {
		if err := q.Send(ctx, [][]byte{[]byte("a"), []byte("b")}); !errors.Is(err, want) {
			t.Errorf("call %d: %v, want %v", i+1, err, want)
		}
	}
	if q.Calls() != 3 || q.Len() != 5 || !slices.Equal(q.Sizes(), []int{2, 2}) {
		t.Errorf("calls %d, %d bodies, sizes %v; want 3 calls, 2+1+2 bodies, sizes [2 2]", q.Calls(), q.Len(), q.Sizes())
	}
}
