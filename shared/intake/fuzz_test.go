package intake

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"breachnotify/shared/incident"
	"breachnotify/shared/notice"
)

// FuzzHandle runs any payload through the event decoder and validator
// with in-memory stores. Whatever it holds: no panic, no error (the fakes
// never fail, so an error could only be the event's, which must be a
// rejection instead), a bounded reason, a receipt far below an item, an
// incident record below an item, and queue messages within SQS's limit.
func FuzzHandle(f *testing.F) {
	f.Add([]byte(confirmedEvent))
	f.Add([]byte(confirmedEvent + " junk"))
	f.Add([]byte(strings.Replace(confirmedEvent, `"status":"confirmed"`, `"status":"suspected","Status":"confirmed"`, 1)))
	samples, _ := filepath.Glob("../../events/incident-*.json")
	for _, p := range samples {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e := newEnv()
		e.handler.KnownTemplate = notice.Has
		res, err := e.handler.Handle(context.Background(), raw)
		if err != nil {
			t.Fatalf("Handle = %v, want a result", err)
		}
		if len(res.Reason) > incident.MaxReasonBytes {
			t.Fatalf("reason is %d bytes", len(res.Reason))
		}
		if len(e.incidents.receipts) != 1 {
			t.Fatalf("%d receipts, want 1", len(e.incidents.receipts))
		}
		if b, _ := json.Marshal(e.incidents.receipts[0]); len(b) > 16<<10 {
			t.Fatalf("receipt is %d bytes", len(b))
		}
		for id, rec := range e.incidents.records {
			if b, _ := json.Marshal(rec); len(b) > 300<<10 {
				t.Fatalf("incident %s record is %d bytes", id, len(b))
			}
		}
		for _, body := range e.queue.Bodies() {
			if len(body) > incident.MaxMessageBytes {
				t.Fatalf("a task of %d bytes", len(body))
			}
		}
		if res.Outcome == Planned && res.Tasks > incident.MaxNotices*64 {
			t.Fatalf("%d tasks", res.Tasks)
		}
	})
}
