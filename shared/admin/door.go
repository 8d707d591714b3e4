package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"breachnotify/shared/errs"
	"breachnotify/shared/identity"
	"breachnotify/shared/strictjson"
)

// Invoke is the function's entry point, for both doors. A payload with a
// requestContext is a Function URL event and gets an HTTP response; the
// actor is the admin directory's person for the IAM caller. Anything else
// is a direct invocation's Request, which names its own actor and may run
// only what Handler.allowed lets it.
//
// The function cannot prove that a URL-shaped payload came through the
// URL: anyone allowed lambda:InvokeFunction without the
// lambda:InvokedViaFunctionUrl condition could send one naming someone
// else. IAM is that barrier (docs/admin.md gives the policy);
// here a URL event is refused unless it is shaped as Lambda builds one
// and its caller's ARN and user id agree and are in the directory.
func (h *Handler) Invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	// One JSON object, each key once, nothing after it: what every
	// reader of these bytes sees the same way.
	var top map[string]json.RawMessage
	if err := strictjson.DecodeOpen(raw, &top); err != nil {
		return nil, fmt.Errorf("%w: not one JSON object: %w", ErrBadRequest, err)
	}
	if _, ok := top["requestContext"]; !ok {
		var r Request
		if err := strictjson.Decode(raw, &r); err != nil {
			return nil, fmt.Errorf("%w: decode request: %w", ErrBadRequest, err)
		}
		return h.Handle(ctx, Caller{Door: DoorInvoke}, r)
	}
	var ev events.LambdaFunctionURLRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		h.Log.WarnContext(ctx, "Function URL event refused", "class", "malformed")
		return reply(http.StatusForbidden, errorBody(fmt.Errorf("%w: not a Function URL event", ErrForbidden))), nil
	}
	return h.url(ctx, ev), nil
}

// Runtime is the Handler as the Lambda runtime calls it: with the
// payload's bytes as they came. The typed entry point
// (lambda.StartHandlerFunc) decodes only the first JSON value and drops
// what follows unseen; Invoke refuses it.
type Runtime struct{ Handler *Handler }

// Invoke runs one invocation and encodes its answer.
func (rt Runtime) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := rt.Handler.Invoke(ctx, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

func (h *Handler) url(ctx context.Context, ev events.LambdaFunctionURLRequest) events.LambdaFunctionURLResponse {
	// AuthType AWS_IAM makes Lambda refuse unsigned requests before the
	// function runs, and Lambda always fills these fields: an event
	// without them was not built by Lambda, or the URL's auth type was
	// changed.
	rc := ev.RequestContext
	az := rc.Authorizer
	if ev.Version != "2.0" || rc.RequestID == "" || rc.HTTP.Method == "" || az == nil || az.IAM == nil {
		h.Log.WarnContext(ctx, "Function URL event refused", "class", "not-an-iam-url-event")
		return reply(http.StatusForbidden, map[string]string{"error": "forbidden: the admin URL needs an AWS_IAM-signed request"})
	}
	person, err := h.Directory.Person(identity.Principal{ARN: az.IAM.UserARN, UserID: az.IAM.UserID})
	if err != nil {
		// The ARN may hold a person's name: only the class is logged.
		class := "unknown-principal"
		if errors.Is(err, identity.ErrMalformed) {
			class = "malformed-principal"
		}
		h.Log.WarnContext(ctx, "Function URL caller refused", "class", class)
		return reply(http.StatusForbidden, errorBody(fmt.Errorf("%w: %w", ErrForbidden, err)))
	}
	if rc.HTTP.Method != http.MethodPost {
		return reply(http.StatusMethodNotAllowed, map[string]string{"error": "POST a JSON request"})
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return reply(http.StatusBadRequest, errorBody(fmt.Errorf("decode body: %w", err)))
		}
	}
	var r Request
	if err := strictjson.Decode(body, &r); err != nil {
		return reply(http.StatusBadRequest, errorBody(fmt.Errorf("%w: decode request: %w", ErrBadRequest, err)))
	}
	// The signed caller's person is the actor, whatever the body says.
	r.Actor = person
	resp, err := h.Handle(ctx, Caller{Door: DoorURL, Principal: az.IAM.UserARN}, r)
	if err != nil {
		return reply(statusOf(err), errorBody(err))
	}
	return reply(http.StatusOK, resp)
}

// statusOf is the one mapping of the error taxonomy (package errs).
func statusOf(err error) int { return errs.HTTPStatus(err) }

func errorBody(err error) map[string]string { return map[string]string{"error": err.Error()} }

func reply(code int, v any) events.LambdaFunctionURLResponse {
	body, err := json.Marshal(v)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	return events.LambdaFunctionURLResponse{StatusCode: code, Headers: map[string]string{"content-type": "application/json"}, Body: string(body)}
}
