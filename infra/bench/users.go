package bench

import (
	"context"
	"fmt"

	"breachnotify/shared/audience"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/incident"
)

// MemUsers is a dispatch.Users in memory. It is read-only once built, so
// safe for concurrent use.
type MemUsers map[string]audience.User

// NewMemUsers indexes users by id.
func NewMemUsers(users []audience.User) MemUsers {
	m := make(MemUsers, len(users))
	for _, u := range users {
		m[u.ID] = u
	}
	return m
}

// Get implements dispatch.Users: a fresh map per call, as a store would
// return.
func (m MemUsers) Get(_ context.Context, ids []string) (map[string]audience.User, error) {
	out := make(map[string]audience.User, len(ids))
	for _, id := range ids {
		if u, ok := m[id]; ok {
			out[id] = u
		}
	}
	return out, nil
}

var locales = []string{"en", "es-ES", "de-DE"}

// SyntheticUsers makes n users, each with an email address at example.com
// and one Android device with an SNS endpoint; ids are u-0000000 onwards,
// locales cycle through en, es-ES and de-DE. Nothing in them is personal.
func SyntheticUsers(n int) []audience.User {
	users := make([]audience.User, n)
	for i := range users {
		id := fmt.Sprintf("u-%07d", i)
		users[i] = audience.User{
			ID: id, Email: id + "@example.com", Name: fmt.Sprintf("Member %d", i), Locale: locales[i%len(locales)],
			Devices: []audience.Device{{ID: "d-1", Platform: "android", AppVersion: "8.8.2",
				EndpointARN: "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/breachnotify-android/" + id}},
		}
	}
	return users
}

// Notice names what a benchmark batch sends.
type Notice struct {
	IncidentID, NoticeID, Template, FixedVersion string
	Channels                                     []incident.Channel
}

// Batches cuts users into recipient batches of size members, as the
// planner queues them (ids only; each member's matched device).
func Batches(n Notice, users []audience.User, size int) []dispatch.Batch {
	var out []dispatch.Batch
	for start := 0; start < len(users); start += size {
		chunk := users[start:min(start+size, len(users))]
		ms := make([]audience.Member, len(chunk))
		for i, u := range chunk {
			ms[i] = audience.Member{UserID: u.ID}
			for _, d := range u.Devices {
				ms[i].DeviceIDs = append(ms[i].DeviceIDs, d.ID)
			}
		}
		out = append(out, dispatch.Batch{
			IncidentID: n.IncidentID, NoticeID: n.NoticeID, Template: n.Template,
			Channels: n.Channels, FixedVersion: n.FixedVersion, Members: ms,
		})
	}
	return out
}
