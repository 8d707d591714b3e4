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
	"breachnotify/shared/fake"
)

// stored is the user of id in tb, and whether there is one.
func stored(tb *fake.Users, id string) (audience.User, bool) {
	got, _ := tb.Get(context.Background(), []string{id}) // in memory: never fails
	u, ok := got[id]
	return u, ok
}

func user(tb *fake.Users, id string) audience.User {
	u, _ := stored(tb, id)
	return u
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
		check                    func(t *testing.T, tb *fake.Users, r *registrar)
	}{
		{name: "a new user, its detail over several lines", detailType: Updated,
			detail: "{\n  \"userId\": \"u-2\",\n  \"email\": \"b@example.com\",\n  \"devices\": [{\"deviceId\": \"d-1\", \"platform\": \"ios\", \"appVersion\": \"9\", \"pushToken\": \"t-2\"}]\n}",
			want:   Result{Imported: 1, Endpoints: 1},
			check: func(t *testing.T, tb *fake.Users, _ *registrar) {
				if d := user(tb, "u-2").Devices; len(d) != 1 || d[0].EndpointARN != "arn:endpoint/ios/t-2" {
					t.Errorf("u-2's devices %+v", d)
				}
			}},
		{name: "an update that drops a device", detailType: Updated, detail: `{"userId":"u-1","devices":[]}`,
			want: Result{Imported: 1},
			check: func(t *testing.T, tb *fake.Users, _ *registrar) {
				if len(user(tb, "u-1").Devices) != 0 {
					t.Errorf("u-1 kept %+v", user(tb, "u-1").Devices)
				}
			}},
		{name: "a deletion", detailType: Deleted, detail: `{"userId":"u-1"}`,
			want: Result{Deleted: 1, Endpoints: 1},
			check: func(t *testing.T, tb *fake.Users, r *registrar) {
				if _, ok := stored(tb, "u-1"); ok || len(r.deleted) != 1 || r.deleted[0] != "arn:u-1" {
					t.Errorf("after a deletion: users %v, endpoints deleted %v", tb.All(), r.deleted)
				}
			}},
		{name: "a deletion of nobody", detailType: Deleted, detail: `{"userId":"u-9"}`, want: Result{NotFound: 1}},
		{name: "an invalid user", detailType: Updated, detail: `{"userId":"u-1","email":"secret address"}`, wantErr: "email"},
		{name: "an unknown field", detailType: Updated, detail: `{"userId":"u-1","emial":"secret@example.com"}`, wantErr: "not a user record"},
		{name: "another event", detailType: "user.created", detail: `{"userId":"u-1"}`, wantErr: "neither"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := fake.NewUsers(audience.User{ID: "u-1", Devices: []audience.Device{{ID: "d-1", Platform: "ios", AppVersion: "1", EndpointARN: "arn:u-1"}}})
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
				if len(user(tb, "u-1").Devices) != 1 {
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
