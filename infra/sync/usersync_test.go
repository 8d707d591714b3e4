package usersync

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"breachnotify/shared/audience"
)

// table is the users table in memory.
type table map[string]audience.User

func (t table) Stored(_ context.Context, ids []string) (map[string]audience.User, error) {
	out := map[string]audience.User{}
	for _, id := range ids {
		if u, ok := t[id]; ok {
			out[id] = u
		}
	}
	return out, nil
}

func (t table) PutBatch(_ context.Context, users []audience.User) map[string]error {
	for _, u := range users {
		t[u.ID] = u
	}
	return nil
}

func (t table) Replace(_ context.Context, u audience.User, _ []string) error { t[u.ID] = u; return nil }

func (t table) DeleteBatch(_ context.Context, users []audience.User) map[string]error {
	for _, u := range users {
		delete(t, u.ID)
	}
	return nil
}

type registrar struct{ deleted []string }

func (r *registrar) Register(_ context.Context, platform, token string) (string, error) {
	return "arn:endpoint/" + platform + "/" + token, nil
}

func (r *registrar) Deregister(_ context.Context, arn string) error {
	r.deleted = append(r.deleted, arn)
	return nil
}

func TestHandle(t *testing.T) {
	tests := []struct {
		name, detailType, detail string
		wantErr                  string
		want                     Result
		check                    func(t *testing.T, tb table, r *registrar)
	}{
		{name: "a new user, its detail over several lines", detailType: Updated,
			detail: "{\n  \"userId\": \"u-2\",\n  \"email\": \"b@example.com\",\n  \"devices\": [{\"deviceId\": \"d-1\", \"platform\": \"ios\", \"appVersion\": \"9\", \"pushToken\": \"t-2\"}]\n}",
			want:   Result{Imported: 1, Endpoints: 1},
			check: func(t *testing.T, tb table, _ *registrar) {
				if d := tb["u-2"].Devices; len(d) != 1 || d[0].EndpointARN != "arn:endpoint/ios/t-2" {
					t.Errorf("u-2's devices %+v", d)
				}
			}},
		{name: "an update that drops a device", detailType: Updated, detail: `{"userId":"u-1","devices":[]}`,
			want: Result{Imported: 1},
			check: func(t *testing.T, tb table, _ *registrar) {
				if len(tb["u-1"].Devices) != 0 {
					t.Errorf("u-1 kept %+v", tb["u-1"].Devices)
				}
			}},
		{name: "a deletion", detailType: Deleted, detail: `{"userId":"u-1"}`,
			want: Result{Deleted: 1, Endpoints: 1},
			check: func(t *testing.T, tb table, r *registrar) {
				if _, ok := tb["u-1"]; ok || len(r.deleted) != 1 || r.deleted[0] != "arn:u-1" {
					t.Errorf("after a deletion: table %v, endpoints deleted %v", tb, r.deleted)
				}
			}},
		{name: "a deletion of nobody", detailType: Deleted, detail: `{"userId":"u-9"}`, want: Result{NotFound: 1}},
		{name: "an invalid user", detailType: Updated, detail: `{"userId":"u-1","email":"secret address"}`, wantErr: "email"},
		{name: "an unknown field", detailType: Updated, detail: `{"userId":"u-1","emial":"secret@example.com"}`, wantErr: "not a user record"},
		{name: "another event", detailType: "user.created", detail: `{"userId":"u-1"}`, wantErr: "neither"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := table{"u-1": {ID: "u-1", Devices: []audience.Device{{ID: "d-1", Platform: "ios", AppVersion: "1", EndpointARN: "arn:u-1"}}}}
			r := &registrar{}
			h := &Handler{Store: tb, Registrar: r, Deregistrar: r, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			res, err := h.Handle(context.Background(), events.EventBridgeEvent{ID: "ev-1", DetailType: tc.detailType, Detail: json.RawMessage(tc.detail)})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "ev-1") {
					t.Fatalf("err = %v, want one naming the event and %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error quotes the record: %v", err)
				}
				if len(tb["u-1"].Devices) != 1 {
					t.Errorf("a refused event changed the user")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res != tc.want {
				t.Errorf("result %+v, want %+v", res, tc.want)
			}
			if tc.check != nil {
				tc.check(t, tb, r)
			}
		})
	}
}
