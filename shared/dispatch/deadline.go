package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"golang.org/x/time/rate"

	"breachnotify/shared/audience"
	"breachnotify/shared/errs"
	"breachnotify/shared/incident"
)

// ErrDeferred marks a batch some of whose members this invocation had no
// time for: they were not started (or not sent) and go back to the queue
// unprocessed. It is not a failure: the members are simply later.
var ErrDeferred = errs.New(errs.Retryable, "members deferred to another invocation")

// DeferredError returns the members an invocation had no time for, as a
// batch of their own.
type DeferredError struct {
	Rest Batch
}

func (e *DeferredError) Error() string {
	return fmt.Sprintf("batch %s/%s: %d %s", e.Rest.IncidentID, e.Rest.NoticeID, len(e.Rest.Members), ErrDeferred)
}

func (e *DeferredError) Unwrap() error { return ErrDeferred }

// Remainder is the body of a queue message holding the deferred members.
func (e *DeferredError) Remainder() ([]byte, error) {
	body, err := json.Marshal(e.Rest)
	if err != nil {
		return nil, fmt.Errorf("encode the rest of %s/%s: %w", e.Rest.IncidentID, e.Rest.NoticeID, err)
	}
	return body, nil
}

// Closing returns a context for the writes that finish what an invocation
// did (ledger records, progress, audit, the message's visibility): they
// must not be cut by the invocation's context ending, so the result is
// detached from its cancellation, and bounded by budget (none if it is 0)
// and by ctx's deadline, after which Lambda stops the process anyway.
func Closing(ctx context.Context, budget time.Duration) (context.Context, context.CancelFunc) {
	detached := context.WithoutCancel(ctx)
	end, ok := ctx.Deadline()
	if by := time.Now().Add(budget); budget > 0 && (!ok || by.Before(end)) {
		end, ok = by, true
	}
	if !ok {
		return context.WithCancel(detached)
	}
	return context.WithDeadline(detached, end)
}

// cutoff is when an invocation stops starting work: no send is paced
// later than pace, and none runs past send, so that the closing writes
// have Worker.Reserve before the deadline.
type cutoff struct {
	pace, send time.Time
	ok         bool // the context has a deadline
}

func (w *Worker) cutoff(ctx context.Context) cutoff {
	d, ok := ctx.Deadline()
	if !ok {
		return cutoff{}
	}
	send := d.Add(-w.Reserve)
	return cutoff{pace: send.Add(-w.SendTimeout), send: send, ok: true}
}

// paceContext ends at the pace cutoff: a limiter refuses at once a wait
// that would end after it (rate.Limiter.Wait does).
func (c cutoff) paceContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if !c.ok {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, c.pace)
}

// sendContext ends when sends must have returned.
func (c cutoff) sendContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if !c.ok {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, c.send)
}

// backlog is a limiter that can tell how many sends wait before a new one
// (*rate.Limiter: its tokens go below zero for each reserved send).
type backlog interface {
	TokensAt(time.Time) float64
	Limit() rate.Limit
}

// startBy is when a send asked for at now on lim would start.
func startBy(lim Limiter, now time.Time) time.Time {
	bl, ok := lim.(backlog)
	if !ok || bl.Limit() <= 0 || bl.Limit() == rate.Inf {
		return now
	}
	tokens := bl.TokensAt(now)
	if tokens >= 1 {
		return now
	}
	return now.Add(time.Duration((1 - tokens) / float64(bl.Limit()) * float64(time.Second)))
}

// late reports whether a member of b, taken now, could not have its sends
// start before the cutoff: it is then left unclaimed for another
// invocation, so that an invocation takes no more members than its share
// of the quota lets it send in the time it has.
func (w *Worker) late(b Batch, cut cutoff) bool {
	if !cut.ok {
		return false
	}
	now := w.Now()
	for _, ch := range b.Channels {
		lim := w.EmailLimiter
		if ch == incident.Push {
			lim = w.PushLimiter
		}
		if startBy(lim, now).After(cut.pace) {
			return true
		}
	}
	return !now.Before(cut.pace)
}

// deferMember notes a member left for another invocation.
func (t *tally) deferMember(i int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.deferred = append(t.deferred, i)
}

// rest is the batch of the deferred members, in the batch's order.
func (t *tally) rest(b Batch) (Batch, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.deferred) == 0 {
		return Batch{}, false
	}
	slices.Sort(t.deferred)
	r := b
	r.Members = make([]audience.Member, len(t.deferred))
	for i, m := range t.deferred {
		r.Members[i] = b.Members[m]
	}
	return r, true
}
