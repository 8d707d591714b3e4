package fake

import (
	"context"
	"slices"
	"sync"
)

// Queue is an SQS queue in memory: Send keeps the bodies it is given, in
// order. Safe for concurrent use.
type Queue struct {
	// Fail, when set, decides each Send's error from its call number
	// (starting at 1).
	Fail func(call int) error
	// Accept is how many of a failing call's bodies are queued before it
	// fails: SQS takes ten per SendMessageBatch request, so a Send that
	// fails part way may have queued some.
	Accept int

	mu     sync.Mutex
	calls  int
	sizes  []int
	bodies [][]byte
}

// Send queues bodies, unless Fail fails the call.
func (q *Queue) Send(_ context.Context, bodies [][]byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if q.Fail != nil {
		if err := q.Fail(q.calls); err != nil {
			q.keep(bodies[:min(q.Accept, len(bodies))])
			return err
		}
	}
	q.sizes = append(q.sizes, len(bodies))
	q.keep(bodies)
	return nil
}

func (q *Queue) keep(bodies [][]byte) {
	for _, b := range bodies {
		q.bodies = append(q.bodies, slices.Clone(b))
	}
}

// Calls is how many times Send was called, failed calls included.
func (q *Queue) Calls() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.calls
}

// Sizes are the number of bodies of each successful Send, in order.
func (q *Queue) Sizes() []int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.sizes)
}

// Bodies are the bodies queued, in order.
func (q *Queue) Bodies() [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.bodies)
}

// Len is how many bodies are queued.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.bodies)
}

// FailOn is a Queue.Fail that fails the calls listed with err.
func FailOn(err error, calls ...int) func(call int) error {
	return func(call int) error {
		if slices.Contains(calls, call) {
			return err
		}
		return nil
	}
}
