// Package usersync keeps the users table current from a company's own user
// store, one change at a time: the store (or its outbox) puts a
// "user.updated" event carrying the user's whole current record, or a
// "user.deleted" event carrying its id, on an EventBridge bus, and a rule
// invokes this handler. It goes through the bulk importer's code, so a
// synced user is validated, registered and written exactly as an imported
// one: a shrinking device set in a transaction, anything else in a plain
// batch write.
//
// It is an example for docs/, not one of the product's functions: how a
// company's users reach the table is the company's choice (this, a
// DynamoDB Streams consumer of its own table, or a nightly export through
// the importer).
package usersync

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"breachnotify/infra/seed"
)

// The event's detail-type says what changed; its detail is the user
// record (user.updated) or {"userId": ...} (user.deleted), as the importer
// reads a JSON line.
const (
	Updated = "user.updated"
	Deleted = "user.deleted"
)

// Handler applies one user change.
type Handler struct {
	Store       seed.Store
	Registrar   seed.Registrar
	Deregistrar seed.Deregistrar
	Log         *slog.Logger
}

// Result is what an event changed.
type Result struct {
	Imported  int `json:"imported"`
	Deleted   int `json:"deleted"`
	NotFound  int `json:"notFound"`
	Endpoints int `json:"endpoints"` // registered or deleted
}

// Handle applies the change an event carries. Any failure is returned:
// Lambda retries the asynchronous invocation and then hands the event to
// the function's OnFailure destination, so a change is never dropped (and
// applying one twice is harmless: the write replaces the user). The log
// names the event, never the user's data.
func (h *Handler) Handle(ctx context.Context, ev events.EventBridgeEvent) (Result, error) {
	im := &seed.Importer{Store: h.Store, Workers: 1, Registrations: 4}
	switch ev.DetailType {
	case Updated:
		im.Registrar = h.Registrar
	case Deleted:
		im.Delete, im.Deregistrar = true, h.Deregistrar
	default:
		return Result{}, fmt.Errorf("event %s: detail-type %.64q is neither %s nor %s", ev.ID, ev.DetailType, Updated, Deleted)
	}
	// One line: a detail spread over lines would read as several.
	var line bytes.Buffer
	if err := json.Compact(&line, ev.Detail); err != nil {
		return Result{}, fmt.Errorf("event %s: detail is not JSON: %w", ev.ID, err)
	}
	rep, err := im.Run(ctx, &line)
	if err != nil {
		return Result{}, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	if skipped := append(rep.Bad, rep.Refused...); len(skipped) > 0 {
		return Result{}, fmt.Errorf("event %s: %v", ev.ID, skipped[0].Err)
	}
	res := Result{Imported: rep.Imported, Deleted: rep.Deleted, NotFound: rep.NotFound, Endpoints: rep.Endpoints + rep.EndpointsDeleted}
	h.Log.InfoContext(ctx, "user synced", "event", ev.ID, "change", ev.DetailType,
		"imported", res.Imported, "deleted", res.Deleted, "notFound", res.NotFound, "endpoints", res.Endpoints)
	return res, nil
}
