package admincli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"breachnotify/shared/admin"
)

// FunctionURL reaches the admin function through its Function URL
// (AuthType AWS_IAM), signing each request with SigV4 for service "lambda".
type FunctionURL struct {
	URL         string
	Region      string
	Credentials aws.CredentialsProvider
	// HTTP is the client to send with; nil means http.DefaultClient.
	HTTP *http.Client
}

// Call posts r, signed, and returns the body of a 2xx answer.
func (f *FunctionURL) Call(ctx context.Context, r admin.Request) ([]byte, error) {
	// The function takes the caller from the signature; an actor in the
	// body would only invite the belief that it counts.
	r.Actor = ""
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode the request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.URL, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("function URL: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	creds, err := f.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS credentials to sign with: %w", err)
	}
	hash := sha256.Sum256(payload)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(hash[:]), "lambda", f.Region, time.Now()); err != nil {
		return nil, fmt.Errorf("sign the request: %w", err)
	}
	client := f.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &Error{Status: resp.StatusCode, Message: errorMessage(body)}
	}
	return body, nil
}

// errorMessage is the message of an error answer: the function's
// {"error": ...}, AWS's own {"Message": ...}, or else the body as it is.
func errorMessage(body []byte) string {
	var e struct {
		Error   string `json:"error"`
		Message string `json:"Message"`
	}
	if json.Unmarshal(body, &e) == nil {
		if e.Error != "" {
			return e.Error
		}
		if e.Message != "" {
			return e.Message
		}
	}
	if msg := strings.TrimSpace(string(body)); msg != "" {
		return msg
	}
	return "(no message)"
}

// RegionFromURL reads the region out of a Function URL's host,
// <url-id>.lambda-url.<region>.on.aws.
func RegionFromURL(u string) (string, bool) {
	parsed, err := url.Parse(u)
	if err != nil {
		return "", false
	}
	parts := strings.Split(parsed.Hostname(), ".")
	if len(parts) == 5 && parts[1] == "lambda-url" && parts[3] == "on" && parts[4] == "aws" && parts[2] != "" {
		return parts[2], true
	}
	return "", false
}

// DirectInvoke reaches the admin function by invoking it directly, as
// `aws lambda invoke` does, naming the actor in the request.
type DirectInvoke struct {
	// Invoke runs the function with one payload and returns its result;
	// for a function error, the result is the {"errorMessage": ...} body.
	Invoke func(ctx context.Context, payload []byte) ([]byte, error)
	Actor  string
}

// Call invokes the function with r and returns its result.
func (d *DirectInvoke) Call(ctx context.Context, r admin.Request) ([]byte, error) {
	r.Actor = d.Actor
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode the request: %w", err)
	}
	out, err := d.Invoke(ctx, payload)
	var fnErr struct {
		ErrorMessage *string `json:"errorMessage"`
	}
	if json.Unmarshal(out, &fnErr) == nil && fnErr.ErrorMessage != nil {
		return nil, &Error{Message: *fnErr.ErrorMessage}
	}
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	return out, nil
}
