package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func TestFunctionURL(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 40, 0, 0, time.UTC)
	type signing struct {
		key, secret, service, region string
		at                           time.Time
	}
	good := signing{"AKIDADMIN", "s3cret", "lambda", "us-east-1", now}
	ok := func(ctx context.Context, payload []byte) ([]byte, error) {
		return []byte(`{"statusCode":200,"headers":{"Content-Type":"application/json"},"body":"{\"state\":\"sending\"}"}`), nil
	}
	tests := []struct {
		name     string
		sign     *signing // nil: unsigned
		tamper   bool     // change the body after signing
		body     string
		query    string
		function func(ctx context.Context, payload []byte) ([]byte, error)
		status   int
		respBody string
	}{
		{name: "unsigned", status: 403, respBody: `{"Message":"Forbidden"}`},
		{name: "unknown access key", sign: &signing{"AKIDOTHER", "s3cret", "lambda", "us-east-1", now}, status: 403},
		{name: "wrong secret", sign: &signing{"AKIDADMIN", "guess", "lambda", "us-east-1", now}, status: 403},
		{name: "signed for another service", sign: &signing{"AKIDADMIN", "s3cret", "execute-api", "us-east-1", now}, status: 403},
		{name: "signed for another region", sign: &signing{"AKIDADMIN", "s3cret", "lambda", "eu-west-1", now}, status: 403},
		{name: "signed six minutes ago", sign: &signing{"AKIDADMIN", "s3cret", "lambda", "us-east-1", now.Add(-6 * time.Minute)}, status: 403},
		{name: "body changed after signing", sign: &good, tamper: true, status: 403},
		{name: "signed four minutes ago", sign: &signing{"AKIDADMIN", "s3cret", "lambda", "us-east-1", now.Add(-4 * time.Minute)}, function: ok,
			status: 200, respBody: `{"state":"sending"}`},
		{name: "signed with a query", sign: &good, query: "?b=2&a=1&a=0", function: ok, status: 200, respBody: `{"state":"sending"}`},
		{name: "the function's status and body pass through", sign: &good, status: 409, respBody: `{"error":"cannot approve a cancelled incident"}`,
			function: func(context.Context, []byte) ([]byte, error) {
				return []byte(`{"statusCode":409,"body":"{\"error\":\"cannot approve a cancelled incident\"}"}`), nil
			}},
		{name: "a base64 body is decoded", sign: &good, status: 200, respBody: "plain",
			function: func(context.Context, []byte) ([]byte, error) {
				return []byte(`{"statusCode":200,"body":"cGxhaW4=","isBase64Encoded":true}`), nil
			}},
		{name: "a result without statusCode is the body of a 200", sign: &good, status: 200, respBody: `{"state":"sending"}`,
			function: func(context.Context, []byte) ([]byte, error) { return []byte(`{"state":"sending"}`), nil }},
		{name: "a function error is a 502", sign: &good, status: 502, respBody: "Internal Server Error\n",
			function: func(context.Context, []byte) ([]byte, error) {
				return []byte(`{"errorMessage":"boom","errorType":"errorString"}`), &FunctionError{Function: "AdminFunction", Status: 200}
			}},
		{name: "an error result is a 502 even when the invoker saw none", sign: &good, status: 502, respBody: "Internal Server Error\n",
			function: func(context.Context, []byte) ([]byte, error) {
				return []byte(`{"errorMessage":"boom","errorType":"errorString"}`), nil
			}},
		{name: "an invalid status is a 502", sign: &good, status: 502,
			function: func(context.Context, []byte) ([]byte, error) { return []byte(`{"statusCode":0}`), nil }},
		{name: "an emulator that cannot be reached is a 500 that says so", sign: &good, status: 500,
			respBody: `{"Message":"invoke AdminFunction: connection refused"}`,
			function: func(context.Context, []byte) ([]byte, error) {
				return nil, errors.New("invoke AdminFunction: connection refused")
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got *events.LambdaFunctionURLRequest
			door := &FunctionURL{
				Invoke: func(ctx context.Context, payload []byte) ([]byte, error) {
					got = &events.LambdaFunctionURLRequest{}
					if err := json.Unmarshal(payload, got); err != nil {
						t.Fatalf("event: %v", err)
					}
					if tc.function == nil {
						return nil, errors.New("invoked, but the door should have refused")
					}
					return tc.function(ctx, payload)
				},
				Credentials: map[string]Principal{"AKIDADMIN": {"s3cret", "arn:aws:sts::123456789012:assumed-role/BreachAdmin/alice", "AROABREACHADMIN00001:alice"}},
				Region:      "us-east-1",
				AccountID:   "123456789012",
				Now:         func() time.Time { return now },
			}
			srv := httptest.NewServer(door)
			defer srv.Close()

			body := `{"operation":"status","incidentId":"INC-1"}`
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/"+tc.query, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if s := tc.sign; s != nil {
				hash := sha256.Sum256([]byte(body))
				creds := aws.Credentials{AccessKeyID: s.key, SecretAccessKey: s.secret}
				if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(hash[:]), s.service, s.region, s.at); err != nil {
					t.Fatal(err)
				}
			}
			// The signer rewrites the query in its canonical order; that is what is sent.
			sentQuery := req.URL.RawQuery
			if tc.tamper {
				forged := strings.Replace(body, "status", "cancel", 1)
				req.Body, req.ContentLength = io.NopCloser(strings.NewReader(forged)), int64(len(forged))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			respBody, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d (body %s)", resp.StatusCode, tc.status, respBody)
			}
			if tc.respBody != "" && strings.TrimSpace(string(respBody)) != strings.TrimSpace(tc.respBody) {
				t.Errorf("body %q, want %q", respBody, tc.respBody)
			}
			if tc.function == nil {
				if got != nil {
					t.Errorf("the function ran for a refused request")
				}
				return
			}
			if got == nil {
				t.Fatal("the function did not run")
			}
			iam := got.RequestContext.Authorizer.IAM
			if iam == nil || iam.AccessKey != "AKIDADMIN" || iam.UserARN != "arn:aws:sts::123456789012:assumed-role/BreachAdmin/alice" ||
				iam.UserID != "AROABREACHADMIN00001:alice" || iam.AccountID != "123456789012" {
				t.Errorf("IAM caller %+v", iam)
			}
			if got.Version != "2.0" || got.Body != body || got.IsBase64Encoded || got.RequestContext.HTTP.Method != "POST" ||
				got.RawPath != "/" || got.RawQueryString != sentQuery || (tc.query != "" && got.QueryStringParameters["a"] != "0,1") || got.Headers["content-type"] != "application/json" {
				t.Errorf("event %+v", got)
			}
		})
	}
}

func TestFunctionURLEncodesABinaryBody(t *testing.T) {
	now := time.Now()
	var got events.LambdaFunctionURLRequest
	door := &FunctionURL{
		Invoke: func(_ context.Context, payload []byte) ([]byte, error) {
			return []byte(`{"statusCode":204}`), json.Unmarshal(payload, &got)
		},
		Credentials: map[string]Principal{"local": localPrincipals["local"]}, Region: "us-east-1", AccountID: "123456789012",
		Now: func() time.Time { return now },
	}
	body := []byte{0xff, 0xfe, 0x00}
	req := httptest.NewRequest(http.MethodPut, "http://door.local/x", bytes.NewReader(body))
	hash := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local"},
		req, hex.EncodeToString(hash[:]), "lambda", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	door.ServeHTTP(w, req)
	if w.Code != http.StatusNoContent || !got.IsBase64Encoded || got.Body != "//4A" || got.RequestContext.HTTP.Method != http.MethodPut {
		t.Errorf("status %d, event body %q (base64 %v)", w.Code, got.Body, got.IsBase64Encoded)
	}
}
