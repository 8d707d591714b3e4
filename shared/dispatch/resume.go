package dispatch

import (
	"context"
	"encoding/json"
	"fmt"

	"breachnotify/shared/incident"
)

// Parked is a batch kept while its channel was paused.
type Parked struct {
	ID    string
	Batch Batch
}

// ParkingLot is where paused channels and parked batches are kept.
type ParkingLot interface {
	Unpause(ctx context.Context, incidentID string, ch incident.Channel) error
	Parked(ctx context.Context, incidentID string, ch incident.Channel) ([]Parked, error)
	Unpark(ctx context.Context, incidentID, id string) error
}

// Queue takes recipient batch messages.
type Queue interface {
	Send(ctx context.Context, bodies [][]byte) error
}

// Resume lifts a channel's pause and puts its parked batches back on the
// queue. The pause goes first, so a batch re-queued now is sent rather than
// parked again; a batch is removed from the lot only once it is queued, so a
// failed resume loses nothing and can be run again (the ledger skips what a
// repeated batch already did).
func Resume(ctx context.Context, lot ParkingLot, q Queue, incidentID string, ch incident.Channel) (int, error) {
	if err := lot.Unpause(ctx, incidentID, ch); err != nil {
		return 0, fmt.Errorf("resume %s %s: %w", incidentID, ch, err)
	}
	parked, err := lot.Parked(ctx, incidentID, ch)
	if err != nil {
		return 0, fmt.Errorf("resume %s %s: %w", incidentID, ch, err)
	}
	for i, p := range parked {
		if err := Requeue(ctx, q, p.Batch); err != nil {
			return i, fmt.Errorf("resume %s %s: %s: %w", incidentID, ch, p.ID, err)
		}
		if err := lot.Unpark(ctx, incidentID, p.ID); err != nil {
			return i, fmt.Errorf("resume %s %s: unpark %s: %w", incidentID, ch, p.ID, err)
		}
	}
	return len(parked), nil
}

// Requeue puts a batch back on the recipients queue.
func Requeue(ctx context.Context, q Queue, b Batch) error {
	body, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("encode batch %s/%s: %w", b.IncidentID, b.NoticeID, err)
	}
	if err := q.Send(ctx, [][]byte{body}); err != nil {
		return fmt.Errorf("queue batch %s/%s: %w", b.IncidentID, b.NoticeID, err)
	}
	return nil
}
