package admincli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"breachnotify/infra/local"
	"breachnotify/shared/admin"
	"breachnotify/shared/incident"
	"breachnotify/shared/status"
)

var testCreds = credentials.NewStaticCredentialsProvider("AKIDADMIN", "s3cret", "")

func TestFunctionURLTransport(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		want    admin.Response
		wantErr *Error // nil: success
	}{
		{name: "status", status: 200,
			body: `{"operation":"status","incidentId":"INC-1","actor":"arn:aws:iam::1:user/a","status":{"state":"sending","total":{"planned":200,"done":100,"percent":50}}}`,
			want: admin.Response{Operation: "status", IncidentID: "INC-1", Actor: "arn:aws:iam::1:user/a",
				Status: &admin.Status{State: incident.StateSending, Total: status.Total{Planned: 200, Done: 100, Percent: 50}}}},
		{name: "bad request", status: 400, body: `{"error":"incidentId \"INC#1\" is not an incident id"}`,
			wantErr: &Error{Status: 400, Message: `incidentId "INC#1" is not an incident id`}},
		{name: "illegal transition", status: 409, body: `{"error":"cannot approve: incident is cancelled"}`,
			wantErr: &Error{Status: 409, Message: "cannot approve: incident is cancelled"}},
		{name: "not allowed", status: 403, body: `{"Message":"Forbidden"}`, wantErr: &Error{Status: 403, Message: "Forbidden"}},
		{name: "function failed", status: 502, body: "Internal Server Error\n", wantErr: &Error{Status: 502, Message: "Internal Server Error"}},
		{name: "empty error", status: 500, body: "", wantErr: &Error{Status: 500, Message: "(no message)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				method, auth string
				req          map[string]any
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got.method, got.auth = r.Method, r.Header.Get("Authorization")
				_ = json.NewDecoder(r.Body).Decode(&got.req)
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c := &Client{Transport: &FunctionURL{URL: srv.URL, Region: "eu-west-1", Credentials: testCreds}}

			resp, err := c.Do(context.Background(), admin.Request{Operation: "status", Actor: "forged", IncidentID: "INC-1"})

			if got.method != http.MethodPost || !strings.HasPrefix(got.auth, "AWS4-HMAC-SHA256 Credential=AKIDADMIN/") ||
				!strings.Contains(got.auth, "/eu-west-1/lambda/aws4_request") {
				t.Errorf("%s with Authorization %q, want a POST signed for lambda in eu-west-1", got.method, got.auth)
			}
			if _, sent := got.req["actor"]; sent || got.req["operation"] != "status" || got.req["incidentId"] != "INC-1" {
				t.Errorf("request body %v, want the operation without an actor", got.req)
			}
			if tc.wantErr != nil {
				var e *Error
				if !errors.As(err, &e) || *e != *tc.wantErr {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g, w := mustJSON(t, resp.Response), mustJSON(t, tc.want); g != w {
				t.Errorf("response %s, want %s", g, w)
			}
		})
	}
}

// The signature the CLI makes is one the local door, which checks it as
// AWS does, accepts; and the function learns who signed.
func TestFunctionURLTransportPassesTheLocalDoor(t *testing.T) {
	door := &local.FunctionURL{
		Invoke: func(_ context.Context, payload []byte) ([]byte, error) {
			var e events.LambdaFunctionURLRequest
			if err := json.Unmarshal(payload, &e); err != nil {
				return nil, err
			}
			body, _ := json.Marshal(map[string]string{"operation": "status", "incidentId": "INC-1", "actor": e.RequestContext.Authorizer.IAM.UserARN})
			return json.Marshal(events.LambdaFunctionURLResponse{StatusCode: 200, Body: string(body)})
		},
		Credentials: map[string]local.Principal{"AKIDADMIN": {Secret: "s3cret", ARN: "arn:aws:iam::123456789012:user/omar", UserID: "AIDAOMARUSER00000001"}},
		Region:      "us-east-1",
		AccountID:   "123456789012",
		Now:         time.Now,
	}
	srv := httptest.NewServer(door)
	defer srv.Close()
	tests := []struct {
		name   string
		region string
		creds  string
		status int // 0: success
	}{
		{"signed with the right key", "us-east-1", "s3cret", 0},
		{"signed with the wrong secret", "us-east-1", "guess", 403},
		{"signed for another region", "eu-west-1", "s3cret", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{Transport: &FunctionURL{URL: srv.URL + "/", Region: tc.region,
				Credentials: credentials.NewStaticCredentialsProvider("AKIDADMIN", tc.creds, "")}}
			resp, err := c.Do(context.Background(), admin.Request{Operation: "status", IncidentID: "INC-1"})
			if tc.status != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Status != tc.status {
					t.Errorf("err = %v, want HTTP %d", err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.Actor != "arn:aws:iam::123456789012:user/omar" {
				t.Errorf("actor %q, want the signer's ARN", resp.Actor)
			}
		})
	}
}

func TestDirectInvoke(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		err     error
		wantErr string // "": success
		isError bool   // the error is an *Error
	}{
		{name: "result", out: `{"operation":"resume","incidentId":"INC-1","actor":"local:omar","resumed":{"email":2}}`},
		{name: "function error", out: `{"errorMessage":"bad request: channel \"sms\"","errorType":"wrapError"}`,
			err: &local.FunctionError{Function: "AdminFunction", Status: 200}, wantErr: `admin function error: bad request: channel "sms"`, isError: true},
		{name: "emulator down", err: errors.New("connection refused"), wantErr: "invoke: connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sent admin.Request
			c := &Client{Transport: &DirectInvoke{Actor: "local:omar", Invoke: func(_ context.Context, payload []byte) ([]byte, error) {
				if err := json.Unmarshal(payload, &sent); err != nil {
					t.Fatal(err)
				}
				return []byte(tc.out), tc.err
			}}}
			resp, err := c.Do(context.Background(), admin.Request{Operation: "resume", IncidentID: "INC-1", Channel: incident.Email})
			if sent.Actor != "local:omar" || sent.Channel != "email" {
				t.Errorf("sent %+v, want the actor and the channel", sent)
			}
			if tc.wantErr != "" {
				var e *Error
				if err == nil || !strings.HasSuffix(err.Error(), tc.wantErr) || errors.As(err, &e) != tc.isError {
					t.Errorf("err = %v, want one ending %q (an *Error: %v)", err, tc.wantErr, tc.isError)
				}
				return
			}
			if err != nil || resp.Resumed["email"] != 2 {
				t.Errorf("resp %+v, err %v", resp, err)
			}
		})
	}
}

func TestRegionFromURL(t *testing.T) {
	tests := []struct {
		url, region string
		ok          bool
	}{
		{"https://abcdefg123.lambda-url.eu-west-1.on.aws/", "eu-west-1", true},
		{"https://abcdefg123.lambda-url.us-east-1.on.aws", "us-east-1", true},
		{"http://127.0.0.1:9000/", "", false},
		{"https://admin.example.com/", "", false},
		{"::not a url", "", false},
	}
	for _, tc := range tests {
		if region, ok := RegionFromURL(tc.url); region != tc.region || ok != tc.ok {
			t.Errorf("RegionFromURL(%q) = %q, %v; want %q, %v", tc.url, region, ok, tc.region, tc.ok)
		}
	}
}

func TestWatch(t *testing.T) {
	tests := []struct {
		name      string
		states    []string // answered in turn; the last one repeats
		cancelAt  int      // cancel after this many answers shown; 0: never
		wantShown int
		wantErr   error
	}{
		{name: "until completed", states: []string{"sending", "sending", "completed"}, wantShown: 3},
		{name: "until cancelled", states: []string{"awaiting_approval", "cancelled"}, wantShown: 2},
		{name: "already completed", states: []string{"completed"}, wantShown: 1},
		{name: "until Ctrl-C", states: []string{"sending"}, cancelAt: 2, wantShown: 2, wantErr: context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var req admin.Request
				_ = json.NewDecoder(r.Body).Decode(&req)
				if req.Operation != "status" {
					t.Errorf("watch asked for %q", req.Operation)
				}
				i := min(int(calls.Add(1))-1, len(tc.states)-1)
				_ = json.NewEncoder(w).Encode(admin.Response{Operation: "status", IncidentID: "INC-1", Status: &admin.Status{State: incident.State(tc.states[i])}})
			}))
			defer srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := &Client{Transport: &FunctionURL{URL: srv.URL, Region: "us-east-1", Credentials: testCreds}}
			var shown []string
			last, err := c.Watch(ctx, admin.Request{Operation: "watch-me", IncidentID: "INC-1"}, time.Millisecond, func(r Answer) {
				shown = append(shown, string(CurrentState(r.Response)))
				if len(shown) == tc.cancelAt {
					cancel()
				}
			})
			if !errors.Is(err, tc.wantErr) || len(shown) != tc.wantShown {
				t.Errorf("err %v after %v; want %v after %d answers", err, shown, tc.wantErr, tc.wantShown)
			}
			if want := incident.State(tc.states[min(tc.wantShown, len(tc.states))-1]); CurrentState(last.Response) != want {
				t.Errorf("last state %q, want %q", CurrentState(last.Response), want)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
