package faultserver

import (
	"math"
	"time"
)

type channel uint8

const (
	email channel = iota
	push
)

func (c channel) String() string {
	if c == email {
		return "email"
	}
	return "push"
}

// bucket is a token bucket (see Config for why not a window). It is guarded
// by Server.mu rather than by its own lock: every request already takes that
// lock once, and one more would only add contention.
type bucket struct {
	rate   float64 // tokens per second; 0 = unlimited
	burst  float64
	tokens float64
	last   time.Time
}

func burstFor(rate float64) float64 {
	return math.Max(1, math.Ceil(rate))
}

// setRate changes the rate from now on. Tokens earned at the old rate are
// kept (up to the new burst), so lowering the rate at run time throttles at
// once and raising it does not hand out a free burst.
func (b *bucket) setRate(rate float64, now time.Time) {
	if b.rate == 0 {
		b.rate, b.burst = rate, burstFor(rate)
		b.refillFull(now)
		return
	}
	b.refill(now)
	b.rate, b.burst = rate, burstFor(rate)
	b.tokens = math.Min(b.tokens, b.burst)
}

func (b *bucket) refillFull(now time.Time) {
	b.tokens, b.last = b.burst, now
}

func (b *bucket) refill(now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(b.burst, b.tokens+el.Seconds()*b.rate)
		b.last = now
	}
}

// take reports whether a request arriving at now is within the rate.
func (b *bucket) take(now time.Time) bool {
	if b.rate == 0 {
		return true
	}
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}
