package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"breachnotify/shared/incident"
	"breachnotify/shared/lifecycle"
)

// Invoke is the function's entry point, for both doors: a Function URL
// event (it has requestContext.http) gets an HTTP response, with the
// caller taken from the IAM request context; anything else is a direct
// invocation's Request, which must name its actor. Only admins may hold
// lambda:InvokeFunction or lambda:InvokeFunctionUrl on the function, so
// the actor of a direct invocation is as trustworthy as that policy.
func (h *Handler) Invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		RequestContext *struct {
			HTTP *struct {
				Method string `json:"method"`
			} `json:"http"`
		} `json:"requestContext"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object: %w", ErrBadRequest, err)
	}
	if probe.RequestContext == nil || probe.RequestContext.HTTP == nil {
		var r Request
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("%w: decode request: %w", ErrBadRequest, err)
		}
		return h.Handle(ctx, r)
	}
	var ev events.LambdaFunctionURLRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		return reply(http.StatusBadRequest, errorBody(fmt.Errorf("decode Function URL event: %w", err))), nil
	}
	return h.url(ctx, ev), nil
}

func (h *Handler) url(ctx context.Context, ev events.LambdaFunctionURLRequest) events.LambdaFunctionURLResponse {
	// AuthType AWS_IAM makes Lambda refuse unsigned requests before the
	// function runs; a request without an IAM caller reaching it means the
	// URL's auth type was changed, and is refused here too.
	az := ev.RequestContext.Authorizer
	if az == nil || az.IAM == nil || az.IAM.UserARN == "" {
		h.Log.WarnContext(ctx, "Function URL request without an IAM caller refused", "path", ev.RawPath)
		return reply(http.StatusForbidden, map[string]string{"error": "forbidden: the admin URL needs an AWS_IAM-signed request"})
	}
	if ev.RequestContext.HTTP.Method != http.MethodPost {
		return reply(http.StatusMethodNotAllowed, map[string]string{"error": "POST a JSON request"})
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return reply(http.StatusBadRequest, errorBody(fmt.Errorf("decode body: %w", err)))
		}
	}
	var r Request
	if err := json.Unmarshal(body, &r); err != nil {
		return reply(http.StatusBadRequest, errorBody(fmt.Errorf("decode request: %w", err)))
	}
	// The signed caller is the actor, whatever the body says.
	r.Actor = az.IAM.UserARN
	resp, err := h.Handle(ctx, r)
	if err != nil {
		return reply(statusOf(err), errorBody(err))
	}
	return reply(http.StatusOK, resp)
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrBadRequest), errors.Is(err, incident.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, incident.ErrIllegalTransition), errors.Is(err, lifecycle.ErrStateChanged):
		return http.StatusConflict
	case errors.Is(err, lifecycle.ErrNotFound):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func errorBody(err error) map[string]string { return map[string]string{"error": err.Error()} }

func reply(code int, v any) events.LambdaFunctionURLResponse {
	body, err := json.Marshal(v)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	return events.LambdaFunctionURLResponse{StatusCode: code, Headers: map[string]string{"content-type": "application/json"}, Body: string(body)}
}
