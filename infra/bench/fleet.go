package bench

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"golang.org/x/time/rate"

	"breachnotify/infra/faultserver"
	"breachnotify/shared/audience"
	"breachnotify/shared/aws/email"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/incident"
)

// Fleet is a deployed worker fleet in one process: Workers environments,
// each its own dispatch.Worker wired as functions/worker/main.go wires it
// (email channel only), taking recipient batches from one queue.
type Fleet struct {
	Server *faultserver.Server
	SES    *sesv2.Client
	// Dials, when set, counts the connections SES's transport opens.
	Dials *atomic.Int64
	// Users are the recipients; each must have an email address.
	Users []audience.User
	// Rate is the account's SES max send rate (the fleet's sum).
	Rate float64
	// Workers is WorkerMaxConcurrency.
	Workers int
	// BatchSize is members per queue message (the template's BatchSize).
	BatchSize int
	// PerReceive is messages per invocation (the event source's BatchSize).
	PerReceive int
	// MaxReceives moves a message to the dead-letter queue after this many
	// receives (the queue's maxReceiveCount).
	MaxReceives int
	// RetryBase is a failed message's first redelivery delay, doubling per
	// receive with ±20% jitter; production's is RetryBaseSeconds (30 s),
	// shortened here so a run does not idle.
	RetryBase time.Duration
	// SendLatency is what the worker sizes its parallelism for (100 ms in
	// functions/worker).
	SendLatency time.Duration
	// InvocationTimeout is the worker function's timeout.
	InvocationTimeout time.Duration
	IncidentID        string
}

// Defaults fills the zero fields with the template's values.
func (f *Fleet) defaults() {
	if f.Workers == 0 {
		f.Workers = 10
	}
	if f.BatchSize == 0 {
		f.BatchSize = 50
	}
	if f.PerReceive == 0 {
		f.PerReceive = 10
	}
	if f.MaxReceives == 0 {
		f.MaxReceives = 5
	}
	if f.RetryBase == 0 {
		f.RetryBase = 500 * time.Millisecond
	}
	if f.SendLatency == 0 {
		f.SendLatency = 100 * time.Millisecond
	}
	if f.InvocationTimeout == 0 {
		f.InvocationTimeout = 60 * time.Second
	}
	if f.IncidentID == "" {
		f.IncidentID = "INC-BENCH-1"
	}
}

// NoticeID is the notice every fleet batch carries.
const NoticeID = "n0-account-accessed"

// FleetResult is one fleet run.
type FleetResult struct {
	Workers  int
	Share    float64 // each worker's email rate
	Parallel int     // each worker's sends in flight
	Batches  int

	// Accepted is the server's accepted emails; First and Last their
	// timestamps; Rate is Accepted / (Last - First).
	Accepted    int
	First, Last time.Time
	Rate        float64
	// Wall is from the fleet's start until every batch was done.
	Wall time.Duration

	Stats  faultserver.APIStats // SendEmail at the server
	Ledger LedgerOps
	Acct   Accounting

	// Receives counts messages received (first and redelivered); Retried
	// those put back; DeadLettered those given up after MaxReceives.
	Receives, Retried, DeadLettered int
	Invocations                     int
	// InvocationTime is the sum of invocation durations (what Lambda
	// bills), ProcessTime of Process calls alone.
	InvocationTime, ProcessTime time.Duration
	// Dials is the connections the SES client opened during the run.
	Dials int64
	// Err is set when the run stopped before every batch was done.
	Err error
}

type message struct {
	batch    dispatch.Batch
	receives int
}

// Run sends one email notice to every user and returns what the server,
// the ledger and the queue saw. The server's counters and accepted list are
// reset first, so they hold this run only.
func (f Fleet) Run(ctx context.Context) FleetResult {
	f.defaults()
	share := dispatch.Share(f.Rate, f.Workers)
	res := FleetResult{Workers: f.Workers, Share: share, Parallel: dispatch.Parallelism(share, f.SendLatency)}
	batches := Batches(Notice{IncidentID: f.IncidentID, NoticeID: NoticeID, Template: "account-accessed",
		Channels: []incident.Channel{incident.Email}}, f.Users, f.BatchSize)
	res.Batches = len(batches)
	led := NewMemLedger()
	users := NewMemUsers(f.Users)
	mailer := &email.Sender{Client: f.SES, From: "security@example.com", ConfigurationSet: "breachnotify"}

	q := make(chan *message, len(batches))
	for _, b := range batches {
		q <- &message{batch: b}
	}
	var (
		remaining   atomic.Int64
		done        = make(chan struct{})
		doneOnce    sync.Once
		mu          sync.Mutex // guards the counters below
		retryTimers sync.WaitGroup
	)
	remaining.Store(int64(len(batches)))
	settle := func() {
		if remaining.Add(-1) == 0 {
			doneOnce.Do(func() { close(done) })
		}
	}
	if len(batches) == 0 {
		close(done)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.Server.Reset()
	var dialsBefore int64
	if f.Dials != nil {
		dialsBefore = f.Dials.Load()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range f.Workers {
		w := &dispatch.Worker{
			Users:   users,
			Ledger:  led,
			Control: Sending{},
			Mailer:  mailer,
			// As functions/worker/main.go: a burst of one, the share of
			// the rate, and rate × latency sends in flight (email only).
			EmailLimiter: rate.NewLimiter(rate.Limit(share), 1),
			Parallel:     res.Parallel,
			SendAttempts: 4,
			Brand:        "Acme",
			Log:          slog.New(slog.DiscardHandler),
			Now:          time.Now,
		}
		wg.Go(func() {
			for {
				var msgs []*message
				select {
				case m := <-q:
					msgs = append(msgs, m)
				case <-done:
					return
				case <-ctx.Done():
					return
				}
			fill:
				for len(msgs) < f.PerReceive {
					select {
					case m := <-q:
						msgs = append(msgs, m)
					default:
						break fill
					}
				}
				ictx, icancel := context.WithTimeout(ctx, f.InvocationTimeout)
				began := time.Now()
				var processing time.Duration
				var retried, dead int
				// As queue.Handler: an invocation's messages are processed
				// together, sharing the worker's send slots.
				var inv sync.WaitGroup
				var invMu sync.Mutex
				for _, m := range msgs {
					inv.Go(func() {
						m.receives++
						t := time.Now()
						_, err := w.Process(ictx, m.batch)
						invMu.Lock()
						defer invMu.Unlock()
						processing += time.Since(t)
						var deferred *dispatch.DeferredError
						switch {
						case err == nil:
							settle()
						case errors.As(err, &deferred) && !errors.Is(err, dispatch.ErrRetry):
							// As queue.Handler: the members the invocation
							// had no time for are a new message; this one
							// is done.
							retryTimers.Add(1)
							go func() {
								defer retryTimers.Done()
								q <- &message{batch: deferred.Rest}
							}()
						case m.receives >= f.MaxReceives:
							dead++
							settle()
						default:
							retried++
							d := backoff(f.RetryBase, m.receives)
							retryTimers.Add(1)
							time.AfterFunc(d, func() {
								defer retryTimers.Done()
								q <- m
							})
						}
					})
				}
				inv.Wait()
				icancel()
				mu.Lock()
				res.Invocations++
				res.Receives += len(msgs)
				res.Retried += retried
				res.DeadLettered += dead
				res.InvocationTime += time.Since(began)
				res.ProcessTime += processing
				mu.Unlock()
			}
		})
	}
	select {
	case <-done:
	case <-ctx.Done():
		res.Err = errors.Join(errors.New("fleet stopped before every batch was done"), context.Cause(ctx))
	}
	res.Wall = time.Since(start)
	cancel()
	wg.Wait()
	retryTimers.Wait()
	if f.Dials != nil {
		res.Dials = f.Dials.Load() - dialsBefore
	}

	accepted := f.Server.Accepted()
	res.Stats = f.Server.Stats().SendEmail
	res.Ledger = led.Ops()
	res.Acct = Account(f.Users, accepted, led, f.IncidentID, NoticeID)
	res.Accepted = len(accepted)
	res.First, res.Last = span(accepted)
	res.Rate = Rate(len(accepted), res.Last.Sub(res.First))
	return res
}

// span is the first and last acceptance time. The server stamps a request
// before it takes its lock, so its list is in order only nearly.
func span(ms []faultserver.Message) (first, last time.Time) {
	for i, m := range ms {
		if i == 0 || m.At.Before(first) {
			first = m.At
		}
		if i == 0 || m.At.After(last) {
			last = m.At
		}
	}
	return first, last
}

// backoff is the redelivery delay after the n-th receive: base × 2^(n-1)
// with ±20% jitter, as queue.Backoff computes it.
func backoff(base time.Duration, n int) time.Duration {
	d := base << min(max(n-1, 0), 10)
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// Rate is n events over span, per second; 0 for an empty span.
func Rate(n int, span time.Duration) float64 {
	if span <= 0 {
		return 0
	}
	return float64(n) / span.Seconds()
}
