// Package admincli is the client side of the admin function: its request
// and response as they travel in JSON, the two doors it is reached by (a
// SigV4-signed Function URL, or a direct invocation that names its actor),
// and the text an operator reads.
package admincli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"breachnotify/shared/incident"
	"breachnotify/shared/preflight"
)

// Request is one admin operation.
type Request struct {
	Operation string `json:"operation"`
	// Actor is who does it; only a direct invocation carries it, since
	// through the Function URL the function takes the caller from IAM.
	Actor        string   `json:"actor,omitempty"`
	IncidentID   string   `json:"incidentId,omitempty"`
	Channel      string   `json:"channel,omitempty"`
	UserIDs      []string `json:"userIds,omitempty"`
	Template     string   `json:"template,omitempty"`
	FixedVersion string   `json:"fixedVersion,omitempty"`
	Title        string   `json:"title,omitempty"`
	Reason       string   `json:"reason,omitempty"`
}

// Response is what an operation did; fields that do not concern it are
// absent.
type Response struct {
	Operation  string          `json:"operation"`
	IncidentID string          `json:"incidentId"`
	Actor      string          `json:"actor"`
	State      string          `json:"state,omitempty"`
	Message    string          `json:"message,omitempty"`
	Status     *Status         `json:"status,omitempty"`
	Preview    json.RawMessage `json:"preview,omitempty"`
	Export     *Export         `json:"export,omitempty"`
	Verify     *Verify         `json:"verify,omitempty"`
	Resumed    map[string]int  `json:"resumed,omitempty"`
	Requeued   int             `json:"requeued,omitempty"`
	Replay     *Replay         `json:"replay,omitempty"`
	// Preflight is the preflight operation's verdict, as the function
	// declares it.
	Preflight *preflight.Verdict `json:"preflight,omitempty"`

	// Raw is the response as the function wrote it, for -json.
	Raw json.RawMessage `json:"-"`
}

// Replay is what replay-intake did.
type Replay struct {
	Replayed   int  `json:"replayed"`
	Failed     int  `json:"failed"`
	Unreadable int  `json:"unreadable"`
	More       bool `json:"more,omitempty"`
}

// Status is where sending stands.
type Status struct {
	State   string   `json:"state"`
	Notices []Notice `json:"notices,omitempty"`
	Total   Total    `json:"total"`
	// ETASeconds is absent when no finish can be estimated (nothing sent yet).
	ETASeconds *float64   `json:"etaSeconds,omitempty"`
	Deadlines  []Deadline `json:"deadlines,omitempty"`
}

// Notice is one notice's progress, per channel.
type Notice struct {
	NoticeID string    `json:"noticeId"`
	Channels []Channel `json:"channels"`
	// Recipients by reach: delivered on some channel, every channel
	// failed for good (or none), the others.
	Reached     int `json:"reached"`
	Pending     int `json:"pending"`
	Unreachable int `json:"unreachable"`
}

// Channel counts one notice's deliveries on one channel.
type Channel struct {
	Channel string `json:"channel"`
	Planned int    `json:"planned"`
	Sent    int    `json:"sent"`
	Failed  int    `json:"failed"`
	Skipped int    `json:"skipped"`
	Pending int    `json:"pending"`
}

// Total is the progress of every notice and channel together.
type Total struct {
	Planned int     `json:"planned"`
	Done    int     `json:"done"`
	Percent float64 `json:"percent"`
}

// Deadline is one regulatory clock.
type Deadline struct {
	Rule        string  `json:"rule"`
	DueAt       string  `json:"dueAt,omitempty"`
	State       string  `json:"state"`
	LeftSeconds float64 `json:"leftSeconds"`
}

// Export locates the exported delivery records.
type Export struct {
	JSONURL string `json:"jsonUrl"`
	CSVURL  string `json:"csvUrl"`
}

// Verify is the audit chain's check.
type Verify struct {
	OK      bool   `json:"ok"`
	Entries int    `json:"entries"`
	Problem string `json:"problem,omitempty"`
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
	Call(ctx context.Context, r Request) ([]byte, error)
}

// Client runs admin operations.
type Client struct {
	Transport Transport
}

// Do runs one operation.
func (c *Client) Do(ctx context.Context, r Request) (Response, error) {
	body, err := c.Transport.Call(ctx, r)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: %w", r.Operation, r.IncidentID, err)
	}
	var resp Response
	if err := json.Unmarshal(body, &resp); err != nil {
		return Response{}, fmt.Errorf("%s %s: read the response: %w", r.Operation, r.IncidentID, err)
	}
	resp.Raw = body
	return resp, nil
}

// Watch asks for r's status every interval and hands each answer to show,
// until the incident is completed or cancelled, a call fails, or ctx ends
// (then it returns ctx's error). It returns the last answer it got.
func (c *Client) Watch(ctx context.Context, r Request, every time.Duration, show func(Response)) (Response, error) {
	r.Operation = "status"
	tick := time.NewTicker(every)
	defer tick.Stop()
	var last Response
	for {
		resp, err := c.Do(ctx, r)
		if err != nil {
			return last, err
		}
		last = resp
		show(resp)
		if incident.State(resp.CurrentState()).Terminal() {
			return resp, nil
		}
		select {
		case <-ctx.Done():
			return resp, ctx.Err()
		case <-tick.C:
		}
	}
}

// CurrentState is the incident's state as the response reports it.
func (r Response) CurrentState() string {
	if r.Status != nil && r.Status.State != "" {
		return r.Status.State
	}
	return r.State
}
