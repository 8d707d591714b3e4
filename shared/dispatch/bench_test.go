package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"testing"

	"breachnotify/shared/audience"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/notice"
)

type nopMailer struct{}

func (nopMailer) Send(context.Context, Mail) (string, error) { return "m", nil }

type nopPusher struct{}

func (nopPusher) Push(context.Context, string, notice.Push, map[string]string) (string, error) {
	return "p", nil
}

// BenchmarkProcessPerRecipient measures the worker's own CPU per recipient
// (one email and one push): reading the batch's users from a map, ledger
// claims and finishes in memory, rendering, building the send calls. The
// providers answer at once, so only our cost is counted.
func BenchmarkProcessPerRecipient(b *testing.B) {
	const members = 50
	var users []audience.User
	var ms []audience.Member
	for i := range members {
		id := fmt.Sprintf("u-%06d", i)
		users = append(users, audience.User{ID: id, Email: id + "@example.com", Name: "Ana", Locale: "es-ES",
			Devices: []audience.Device{{ID: "d-1", Platform: "android", AppVersion: "8.8.2", EndpointARN: "arn:aws:sns:us-east-1:1:endpoint/GCM/app/" + id}}})
		ms = append(ms, audience.Member{UserID: id, DeviceIDs: []string{"d-1"}})
	}
	w := &Worker{
		Users: fake.NewUsers(users...), Ledger: &fake.Ledger{}, Control: newMemControl(), Mailer: nopMailer{}, Pusher: nopPusher{},
		Brand: "Acme", Log: slog.New(slog.DiscardHandler), Now: (&clock{t: t0}).Now, Parallel: 1,
	}
	ctx := context.Background()
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		batch := Batch{IncidentID: "INC-1", NoticeID: fmt.Sprintf("n%d-update-app", i), Template: "update-app",
			Channels: []incident.Channel{incident.Email, incident.Push}, FixedVersion: "8.9.0", Members: ms}
		if _, err := w.Process(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*members), "ns/recipient")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*members), "allocs/recipient")
}
