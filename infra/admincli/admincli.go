// Package admincli is the client side of the admin function: the two doors
// it is reached by (a SigV4-signed Function URL, or a direct invocation that
// names its actor) and the text an operator reads. The request and response
// are package admin's own, so the CLI and the function cannot drift.
package admincli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"breachnotify/shared/admin"
	"breachnotify/shared/incident"
)

// Answer is the admin function's Response (package admin declares it for
// both sides) with the bytes it came in, which -json prints as the
// function wrote them.
type Answer struct {
	admin.Response
	Raw json.RawMessage `json:"-"`
}

// Error is an operation the admin function refused or failed.
type Error struct {
	// Status is the HTTP status through the Function URL; zero for a
	// direct invocation, which reports a function error instead.
	Status  int
	Message string
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return "admin function error: " + e.Message
	}
	return fmt.Sprintf("admin function: HTTP %d: %s", e.Status, e.Message)
}

// Transport carries a request to the admin function and returns the body
// of its answer; a refusal or a function failure is an *Error.
type Transport interface {
	Call(ctx context.Context, r admin.Request) ([]byte, error)
}

// Client runs admin operations.
type Client struct {
	Transport Transport
}

// Do runs one operation.
func (c *Client) Do(ctx context.Context, r admin.Request) (Answer, error) {
	body, err := c.Transport.Call(ctx, r)
	if err != nil {
		return Answer{}, fmt.Errorf("%s %s: %w", r.Operation, r.IncidentID, err)
	}
	// Not strict: a newer function may answer with fields this CLI does
	// not know yet, and they are only not shown.
	a := Answer{Raw: body}
	if err := json.Unmarshal(body, &a.Response); err != nil {
		return Answer{}, fmt.Errorf("%s %s: read the response: %w", r.Operation, r.IncidentID, err)
	}
	return a, nil
}

// Watch asks for r's status every interval and hands each answer to show,
// until the incident is completed or cancelled, a call fails, or ctx ends
// (then it returns ctx's error). It returns the last answer it got.
func (c *Client) Watch(ctx context.Context, r admin.Request, every time.Duration, show func(Answer)) (Answer, error) {
	r.Operation = "status"
	tick := time.NewTicker(every)
	defer tick.Stop()
	var last Answer
	for {
		resp, err := c.Do(ctx, r)
		if err != nil {
			return last, err
		}
		last = resp
		show(resp)
		if CurrentState(resp.Response).Terminal() {
			return resp, nil
		}
		select {
		case <-ctx.Done():
			return resp, ctx.Err()
		case <-tick.C:
		}
	}
}

// CurrentState is the incident's state as the response reports it: the
// status's when there is one, else the state the operation left.
func CurrentState(r admin.Response) incident.State {
	if r.Status != nil && r.Status.State != "" {
		return r.Status.State
	}
	return r.State
}
