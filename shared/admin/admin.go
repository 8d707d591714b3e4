// Package admin is the admin function: operations an accountable person
// runs on an incident. Every request names its actor, and every operation
// is logged with it.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"breachnotify/shared/dispatch"
	"breachnotify/shared/incident"
)

// Request is one admin operation.
type Request struct {
	Operation  string `json:"operation"`
	Actor      string `json:"actor"`
	IncidentID string `json:"incidentId"`
	// Channel limits resume to one channel; empty means every channel.
	Channel incident.Channel `json:"channel,omitempty"`
}

// Response reports what an operation did.
type Response struct {
	Operation  string         `json:"operation"`
	IncidentID string         `json:"incidentId"`
	Actor      string         `json:"actor"`
	Resumed    map[string]int `json:"resumed,omitempty"`
}

// ErrBadRequest marks a request that cannot be carried out as written.
var ErrBadRequest = errors.New("bad request")

// Handler runs admin operations.
type Handler struct {
	Lot   dispatch.ParkingLot
	Queue dispatch.Queue
	Log   *slog.Logger
}

var operations = []string{"resume"}

// Handle runs one operation.
func (h *Handler) Handle(ctx context.Context, r Request) (Response, error) {
	var p []string
	if strings.TrimSpace(r.Actor) == "" {
		p = append(p, "actor is required: who is doing this is recorded")
	}
	if !incident.ValidID(r.IncidentID) {
		p = append(p, fmt.Sprintf("incidentId %q is not an incident id", r.IncidentID))
	}
	if !slices.Contains(operations, r.Operation) {
		p = append(p, fmt.Sprintf("operation %q must be one of %q", r.Operation, operations))
	}
	if r.Channel != "" && r.Channel != incident.Email && r.Channel != incident.Push {
		p = append(p, fmt.Sprintf("channel %q must be %q or %q", r.Channel, incident.Email, incident.Push))
	}
	if len(p) > 0 {
		return Response{}, fmt.Errorf("%w: %s", ErrBadRequest, strings.Join(p, "; "))
	}
	resp := Response{Operation: r.Operation, IncidentID: r.IncidentID, Actor: r.Actor, Resumed: map[string]int{}}
	channels := []incident.Channel{incident.Email, incident.Push}
	if r.Channel != "" {
		channels = []incident.Channel{r.Channel}
	}
	for _, ch := range channels {
		n, err := dispatch.Resume(ctx, h.Lot, h.Queue, r.IncidentID, ch)
		if err != nil {
			return resp, err
		}
		resp.Resumed[string(ch)] = n
	}
	h.Log.InfoContext(ctx, "admin operation", "operation", r.Operation, "actor", r.Actor,
		"incidentId", r.IncidentID, "resumedEmail", resp.Resumed["email"], "resumedPush", resp.Resumed["push"])
	return resp, nil
}
