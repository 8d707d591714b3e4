package local

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// FunctionURL plays a Lambda Function URL with AuthType AWS_IAM: a request
// that is not SigV4-signed for service "lambda" by a known key is refused
// with 403 before the function runs, as AWS does; a signed one reaches the
// function as an events.LambdaFunctionURLRequest naming the caller.
type FunctionURL struct {
	// Invoke runs the function with one event and returns its result; a
	// *FunctionError says the function ran and failed, any other error
	// that it could not be run.
	Invoke func(ctx context.Context, payload []byte) ([]byte, error)
	// Credentials are the principals allowed to call, by access key id.
	Credentials map[string]Principal
	Region      string
	AccountID   string
	Now         func() time.Time
}

// Principal is who an access key stands for, as AWS reports the caller in
// requestContext.authorizer.iam: an IAM user (arn:aws:iam::ACCT:user/NAME,
// user id AIDA…) or an assumed role's session
// (arn:aws:sts::ACCT:assumed-role/ROLE/SESSION, user id AROA…:SESSION).
type Principal struct {
	Secret string
	ARN    string
	UserID string
}

// localPrincipals are the callers the local Function URL knows, by access
// key: the SDK's own "local" user, and a few more that show how the admin
// directory tells people apart (one role under two session names, an IAM
// Identity Center user, a user who is no admin).
var localPrincipals = map[string]Principal{
	"local":       {"local", "arn:aws:iam::" + accountID + ":user/local", "AIDALOCALUSER0000001"},
	"omar":        {"omar-secret", "arn:aws:iam::" + accountID + ":user/omar", "AIDAOMARUSER00000001"},
	"alice":       {"alice-secret", "arn:aws:sts::" + accountID + ":assumed-role/BreachAdmin/alice", "AROABREACHADMIN00001:alice"},
	"alice-again": {"alice-secret", "arn:aws:sts::" + accountID + ":assumed-role/BreachAdmin/alice-2", "AROABREACHADMIN00001:alice-2"},
	"sso-carol":   {"carol-secret", "arn:aws:sts::" + accountID + ":assumed-role/" + SSORole + "/carol", "AROASSOBREACHADMIN01:carol"},
	"mallory":     {"mallory-secret", "arn:aws:iam::" + accountID + ":user/mallory", "AIDAMALLORYUSER00001"},
}

// SSORole is the role IAM Identity Center makes for the BreachAdmin
// permission set; the local principal "sso-carol" holds a session of it.
const SSORole = "AWSReservedSSO_BreachAdmin_0a1b2c3d4e5f6a7b"

// CredentialsOf gives the credentials of the local principal whose access
// key is key, for a client of the local Function URL to sign with.
func CredentialsOf(key string) (aws.CredentialsProvider, error) {
	p, ok := localPrincipals[key]
	if !ok {
		return nil, fmt.Errorf("no local principal %q (have %v)", key, slices.Sorted(maps.Keys(localPrincipals)))
	}
	return credentials.NewStaticCredentialsProvider(key, p.Secret, ""), nil
}

// localDirectory is the AdminDirectory of a local stack unless its options
// set one: every local principal but mallory is someone.
var localDirectory = strings.Join([]string{
	"arn:aws:iam::" + accountID + ":user/local=local",
	"arn:aws:iam::" + accountID + ":user/omar=omar",
	"arn:aws:iam::" + accountID + ":role/BreachAdmin=alice",
	"arn:aws:iam::" + accountID + ":role/aws-reserved/sso.amazonaws.com/" + SSORole + "={session}",
}, ",")

// clockSkew is how far X-Amz-Date may be from now, as AWS allows.
const clockSkew = 5 * time.Minute

const amzDate = "20060102T150405Z"

func (f *FunctionURL) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"Message": "cannot read the request body"})
		return
	}
	accessKey, ok := f.verify(r, body)
	if !ok {
		writeJSON(w, http.StatusForbidden, map[string]string{"Message": "Forbidden"})
		return
	}
	event, err := json.Marshal(f.event(r, body, accessKey))
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"Message": err.Error()})
		return
	}
	out, err := f.Invoke(r.Context(), event)
	var fnErr *FunctionError
	if errors.As(err, &fnErr) {
		// AWS hides the function's error from the caller; the emulator's
		// log has it.
		http.Error(w, "Internal Server Error", http.StatusBadGateway)
		return
	}
	if err != nil {
		// The function never ran: a fault of the local stack, said plainly.
		writeJSON(w, http.StatusInternalServerError, map[string]string{"Message": err.Error()})
		return
	}
	resp, err := urlResponse(out)
	if err != nil {
		http.Error(w, "Internal Server Error", http.StatusBadGateway)
		return
	}
	payload := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if payload, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			http.Error(w, "Internal Server Error", http.StatusBadGateway)
			return
		}
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(payload)
}

// verify checks r's SigV4 signature over body and returns the access key
// that signed it. The signature is recomputed by the SDK's own signer over
// a request holding only what the caller signed, so the two sides cannot
// disagree on canonicalisation.
func (f *FunctionURL) verify(r *http.Request, body []byte) (accessKey string, ok bool) {
	auth, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		return "", false
	}
	scope := strings.Split(auth.credential, "/")
	if len(scope) != 5 || scope[3] != "lambda" || scope[2] != f.Region || scope[4] != "aws4_request" {
		return "", false
	}
	accessKey = scope[0]
	p, known := f.Credentials[accessKey]
	secret := p.Secret
	if !known {
		return "", false
	}
	signedAt, err := time.Parse(amzDate, r.Header.Get("X-Amz-Date"))
	if err != nil || signedAt.Format("20060102") != scope[1] {
		return "", false
	}
	if skew := f.Now().Sub(signedAt); skew > clockSkew || skew < -clockSkew {
		return "", false
	}

	clone := &http.Request{
		Method: r.Method,
		URL:    &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
		Host:   r.Host,
		Header: http.Header{},
	}
	for _, name := range strings.Split(auth.signedHeaders, ";") {
		switch name {
		case "host":
		case "content-length":
			clone.ContentLength = r.ContentLength
		default:
			clone.Header[textproto.CanonicalMIMEHeaderKey(name)] = r.Header.Values(name)
		}
	}
	hash := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, clone, hex.EncodeToString(hash[:]), "lambda", f.Region, signedAt); err != nil {
		return "", false
	}
	want, ok := parseAuthorization(clone.Header.Get("Authorization"))
	return accessKey, ok && hmac.Equal([]byte(want.signature), []byte(auth.signature))
}

type authorization struct{ credential, signedHeaders, signature string }

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
func parseAuthorization(h string) (authorization, bool) {
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !ok {
		return authorization{}, false
	}
	var a authorization
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			a.credential = v
		case "SignedHeaders":
			a.signedHeaders = v
		case "Signature":
			a.signature = v
		}
	}
	return a, a.credential != "" && a.signedHeaders != "" && a.signature != ""
}

// event is the payload AWS sends for an HTTP request (format version 2.0).
func (f *FunctionURL) event(r *http.Request, body []byte, accessKey string) events.LambdaFunctionURLRequest {
	now := f.Now()
	caller := f.Credentials[accessKey]
	headers := map[string]string{"host": r.Host}
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	var query map[string]string
	for k, v := range r.URL.Query() {
		if query == nil {
			query = map[string]string{}
		}
		query[k] = strings.Join(v, ",")
	}
	sourceIP, _, _ := net.SplitHostPort(r.RemoteAddr)
	e := events.LambdaFunctionURLRequest{
		Version:               "2.0",
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Headers:               headers,
		QueryStringParameters: query,
		RequestContext: events.LambdaFunctionURLRequestContext{
			AccountID:    f.AccountID,
			RequestID:    rand.Text(),
			APIID:        "local",
			DomainName:   r.Host,
			DomainPrefix: "local",
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{
				Method: r.Method, Path: r.URL.Path, Protocol: r.Proto, SourceIP: sourceIP, UserAgent: r.UserAgent(),
			},
			Authorizer: &events.LambdaFunctionURLRequestContextAuthorizerDescription{
				IAM: &events.LambdaFunctionURLRequestContextAuthorizerIAMDescription{
					AccessKey: accessKey,
					AccountID: f.AccountID,
					CallerID:  caller.UserID,
					UserARN:   caller.ARN,
					UserID:    caller.UserID,
				},
			},
		},
	}
	if utf8.Valid(body) {
		e.Body = string(body)
	} else {
		e.Body, e.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	return e
}

// urlResponse reads the function's result. As on AWS, a result without a
// statusCode is not an HTTP response but the JSON body of a 200, and an
// error result is not passed on.
func urlResponse(out []byte) (events.LambdaFunctionURLResponse, error) {
	var probe struct {
		StatusCode   *int    `json:"statusCode"`
		ErrorMessage *string `json:"errorMessage"`
	}
	err := json.Unmarshal(out, &probe)
	if err == nil && probe.ErrorMessage != nil {
		return events.LambdaFunctionURLResponse{}, errors.New("the function failed")
	}
	if err != nil || probe.StatusCode == nil {
		return events.LambdaFunctionURLResponse{StatusCode: http.StatusOK,
			Headers: map[string]string{"Content-Type": "application/json"}, Body: string(out)}, nil
	}
	var resp events.LambdaFunctionURLResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return resp, fmt.Errorf("read the function URL response: %w", err)
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return resp, fmt.Errorf("the function answered status %d", resp.StatusCode)
	}
	return resp, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ServeFunctionURL serves function id behind a local Function URL door on
// 127.0.0.1 until ctx ends, and returns its URL. The door accepts requests
// signed by the local principals (among them the credentials Config gives
// the SDK), and invokes through Invoke, so it shares the per-function lock
// with every other caller.
func (s *State) ServeFunctionURL(ctx context.Context, id string) (string, error) {
	if _, ok := s.Functions[id]; !ok {
		return "", fmt.Errorf("serve a function URL: no function %q in the local stack", id)
	}
	addr := "127.0.0.1:0"
	if u, ok := s.FunctionURLs[id]; ok {
		addr = strings.TrimSuffix(strings.TrimPrefix(u, "http://"), "/")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("serve a function URL for %s: %w", id, err)
	}
	door := &FunctionURL{
		Invoke:      func(ctx context.Context, payload []byte) ([]byte, error) { return s.Invoke(ctx, id, payload) },
		Credentials: localPrincipals,
		Region:      s.Region,
		AccountID:   accountID,
		Now:         time.Now,
	}
	srv := &http.Server{Handler: door, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return "http://" + l.Addr().String() + "/", nil
}
