package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"breachnotify/shared/audience"
	"breachnotify/shared/audit"
	"breachnotify/shared/errs"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
	"breachnotify/shared/metrics"
	"breachnotify/shared/notice"
)

// Users reads user records by id; missing ids are absent from the map.
type Users interface {
	Get(ctx context.Context, ids []string) (map[string]audience.User, error)
}

// Ledger records deliveries, one record per recipient (see package ledger).
type Ledger interface {
	// Claim takes a recipient's record by the rule of ledger.Take and
	// returns it, with the deliveries already recorded. A record that is
	// done fails with ledger.ErrDone and comes back as it stands.
	Claim(ctx context.Context, c ledger.Claim) (ledger.Record, error)
	// Record merges outcomes into a claimed record (ledger.Record.Merge),
	// writes it and ends the claim, unless the claim was lost.
	Record(ctx context.Context, claimed ledger.Record, outcomes []ledger.Entry, at time.Time) error
}

// Mail is one email to send.
type Mail struct {
	To         string
	Subject    string
	Text, HTML string
	// Tags identify the message in SES events; values are ids, never personal data.
	Tags map[string]string
}

// Mailer sends email; errors are *SendError where the class is known.
type Mailer interface {
	Send(ctx context.Context, m Mail) (messageID string, err error)
}

// Pusher sends a push notice to one device endpoint.
type Pusher interface {
	Push(ctx context.Context, endpointARN string, p notice.Push, data map[string]string) (messageID string, err error)
}

// Control is what the worker reads and writes about an incident besides
// the ledger: whether it may send, the channels the provider paused, and
// the batches kept until then.
type Control interface {
	Gate(ctx context.Context, incidentID string) (Gate, error)
	Pause(ctx context.Context, incidentID string, ch incident.Channel, reason string) error
	// Park keeps a batch (of one channel) until the channel is resumed.
	Park(ctx context.Context, b Batch) error
	// Hold keeps a batch until its incident may send; ErrNotHeld if it
	// may already.
	Hold(ctx context.Context, b Batch) error
}

// Gate is an incident's state and paused channels, as a worker needs them,
// and its title, which notices quote: it is read here rather than carried
// in every queue message.
type Gate struct {
	State  incident.State
	Paused map[incident.Channel]string
	Title  string
}

// ErrNotHeld: the incident may send (or is cancelled), so the batch was
// not held.
var ErrNotHeld = errs.New(errs.Conflict, "incident no longer holds batches")

// Counter counts sending progress per batch (see ledger.Progress).
type Counter interface {
	Count(ctx context.Context, incidentID, noticeID string, done map[incident.Channel]map[ledger.Status]int, first, last time.Time) error
}

// ReachCounter counts recipients reached and unreachable per notice (see
// ledger.Progress.Reach).
type ReachCounter interface {
	CountReach(ctx context.Context, incidentID, noticeID string, delta map[ledger.Reach]int) error
}

// Addresses tells which email addresses (by ledger.AddressHash) bounced for
// good or complained before.
type Addresses interface {
	Unreachable(ctx context.Context, hashes []string) (map[string]bool, error)
}

// Later sends a batch to be processed at a given time (or sooner: the
// worker checks again whether it is due).
type Later interface {
	SendLater(ctx context.Context, body []byte, at time.Time) error
}

// Auditor appends to an incident's audit trail.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) error
}

// Cancelled is the reason recorded for deliveries of a cancelled incident.
const Cancelled = "cancelled"

// GateTTL is how long a worker trusts the incident state it read: a cancel
// stops sends within this time, at one read per incident and worker.
const GateTTL = time.Second

// Limiter paces sends to a provider's quota: Wait blocks until one more
// message may go out, or fails if ctx would end first.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Share is one worker's part of a provider's rate when at most
// concurrency workers run at once: their sum never exceeds the rate.
func Share(rate float64, concurrency int) float64 {
	return rate / float64(max(concurrency, 1))
}

// Parallelism is how many sends one worker keeps in flight to reach rate
// per second when a send takes latency: rate × latency, with room for
// slower calls.
func Parallelism(rate float64, latency time.Duration) int {
	return max(1, int(math.Ceil(2*rate*latency.Seconds())))
}

// Worker processes recipient batches.
type Worker struct {
	Users  Users
	Ledger Ledger
	Mailer Mailer
	Pusher Pusher
	// EmailLimiter and PushLimiter pace each channel to its share of the
	// provider's quota; nil means unpaced.
	EmailLimiter, PushLimiter Limiter
	// Control gates sends by the incident's state and pauses channels the
	// provider has stopped.
	Control Control
	// Progress counts what each batch decided; Audit records a summary of
	// each batch. Either may be nil.
	Progress Counter
	Audit    Auditor
	// Reach counts the recipients each batch reached or found unreachable
	// (a push accepted, no channel at all); nil counts none.
	Reach ReachCounter
	// Addresses skips, as AddressSuppressed, the email of a user whose
	// address bounced for good or complained before; nil skips none.
	Addresses Addresses
	// Later brings a fallback batch's member back when the channel it
	// waits on has had its time (see fallbackJobs).
	Later Later
	// Parallel is how many deliveries are in flight at once across all the
	// batches the worker is processing. At a provider latency L, one worker
	// reaches rate r only with r×L sends in flight, so a paced worker needs
	// more than one.
	Parallel int
	// SendAttempts is how often a send that failed retryably (throttled,
	// 5xx) is tried before its batch goes back to the queue: retried here,
	// paced by the limiter after a short backoff, a throttled send costs
	// milliseconds instead of a queue round trip. 0 means 1.
	SendAttempts int
	Brand        string
	// PublicURL is where the public notice pages are served
	// (PublicNoticeUrl); notices name their page as text when it is set.
	PublicURL string
	// Reserve is the time an invocation keeps before its deadline for its
	// closing writes (ledger, progress, audit, the message's visibility),
	// which run on a context of their own with this budget (Closing): no
	// send runs into it.
	Reserve time.Duration
	// SendTimeout is the longest a send may take: none starts later than
	// the deadline minus Reserve and SendTimeout, and a member whose sends
	// could not start by then is left for another invocation
	// (DeferredError).
	SendTimeout time.Duration
	// Metrics receives each batch's metrics per channel (sent, failed,
	// pending, throttled, and the send rate against Quota, this worker's
	// share of the provider's rate); nil writes none.
	Metrics *metrics.Emitter
	Quota   map[incident.Channel]float64
	Log     *slog.Logger
	Now     func() time.Time

	slotsOnce sync.Once
	slotPool  chan struct{}

	gatesMu sync.Mutex
	gates   map[string]cachedGate
}

type cachedGate struct {
	Gate
	at time.Time
}

// Counts is what one batch did, by outcome.
type Counts struct {
	Sent, Failed, Skipped, AlreadyDone, Retry int
	// Parked deliveries wait in a parked batch for their channel to resume.
	Parked int
	// Held members wait in a held batch for their incident to send.
	Held int
	// Deferred members go back to the queue unprocessed: the invocation
	// had no time left for them.
	Deferred int
}

// ErrRetry is returned when some deliveries of a batch must be tried again;
// the message goes back to the queue and its done deliveries are skipped by
// the ledger next time.
var ErrRetry = errs.New(errs.Retryable, "some deliveries must be retried")

// Process sends one batch. It returns ErrRetry (wrapped) when the message
// must be redelivered, a *DeferredError (not a failure) when the
// invocation had no time left for some members, and other errors when the
// ledger or the user store failed, which are retryable too.
func (w *Worker) Process(ctx context.Context, b Batch) (Counts, error) {
	cut := w.cutoff(ctx)
	if w.late(b, cut) {
		// No time for even the first member: the batch goes back whole,
		// before anything is read for it.
		return Counts{Deferred: len(b.Members)}, &DeferredError{Rest: b}
	}
	c := &tally{paused: map[incident.Channel]string{}, done: map[incident.Channel]map[ledger.Status]int{},
		channels: map[incident.Channel]*channelCounts{}}
	started := w.Now()
	g, err := w.gate(ctx, b.IncidentID, true)
	if err != nil {
		return Counts{}, fmt.Errorf("batch %s/%s: %w", b.IncidentID, b.NoticeID, err)
	}
	if !g.State.Sends() && g.State != incident.StateCancelled && g.State != incident.StateCompleted {
		err := w.Control.Hold(ctx, b)
		if err == nil {
			w.Log.InfoContext(ctx, "batch held until the incident may send", "incidentId", b.IncidentID, "noticeId", b.NoticeID,
				"state", string(g.State), "members", len(b.Members))
			return Counts{Held: len(b.Members)}, nil
		}
		if !errors.Is(err, ErrNotHeld) {
			return Counts{}, fmt.Errorf("batch %s/%s: %w", b.IncidentID, b.NoticeID, err)
		}
		// Released meanwhile: read the state that let it go.
		if g, err = w.gate(ctx, b.IncidentID, true); err != nil {
			return Counts{}, fmt.Errorf("batch %s/%s: %w", b.IncidentID, b.NoticeID, err)
		}
	}
	maps.Copy(c.paused, g.Paused)
	ids := make([]string, len(b.Members))
	for i, m := range b.Members {
		ids[i] = m.UserID
	}
	users, err := w.Users.Get(ctx, ids)
	if err != nil {
		return Counts{}, fmt.Errorf("batch %s/%s: read users: %w", b.IncidentID, b.NoticeID, err)
	}
	if c.suppressed, err = w.suppressed(ctx, b, users); err != nil {
		return Counts{}, fmt.Errorf("batch %s/%s: %w", b.IncidentID, b.NoticeID, err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		slots = w.slots()
	)
	for i, m := range b.Members {
		u, ok := users[m.UserID]
		run := func() {
			if err := w.member(ctx, cut, b, i, u, ok, c); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}
		if cap(slots) == 1 {
			run()
			continue
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			run()
		})
	}
	wg.Wait()
	closing, cancel := Closing(ctx, w.Reserve)
	defer cancel()
	errs = append(errs, w.park(closing, b, c), w.record(closing, b, c))
	w.emit(ctx, b, c, started)
	return c.finish(ctx, w.Log, b, errors.Join(errs...))
}

// suppressed are the users of a batch whose email address is unreachable,
// read once per batch.
func (w *Worker) suppressed(ctx context.Context, b Batch, users map[string]audience.User) (map[string]bool, error) {
	if w.Addresses == nil || !slices.Contains(b.Channels, incident.Email) {
		return nil, nil
	}
	byHash := map[string][]string{}
	for id, u := range users {
		if u.Email != "" {
			h := ledger.AddressHash(u.Email)
			byHash[h] = append(byHash[h], id)
		}
	}
	if len(byHash) == 0 {
		return nil, nil
	}
	found, err := w.Addresses.Unreachable(ctx, slices.Collect(maps.Keys(byHash)))
	if err != nil {
		return nil, fmt.Errorf("read unreachable addresses: %w", err)
	}
	out := map[string]bool{}
	for h := range found {
		for _, id := range byHash[h] {
			out[id] = true
		}
	}
	return out, nil
}

// emit writes the batch's metrics, one document per channel it sends on.
// A metric that cannot be written is logged, never a reason to resend.
func (w *Worker) emit(ctx context.Context, b Batch, c *tally, started time.Time) {
	if w.Metrics == nil {
		return
	}
	now := w.Now()
	elapsed := now.Sub(started).Seconds()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range b.Channels {
		n := c.channels[ch]
		if n == nil {
			n = &channelCounts{}
		}
		values := []metrics.Value{
			{Name: "Sent", Unit: metrics.Count, Value: float64(n.sent)},
			{Name: "Failed", Unit: metrics.Count, Value: float64(n.failed)},
			{Name: "Pending", Unit: metrics.Count, Value: float64(n.pending)},
			{Name: "Throttled", Unit: metrics.Count, Value: float64(n.throttled)},
			{Name: "QuotaRate", Unit: metrics.PerSecond, Value: w.Quota[ch]},
		}
		if elapsed > 0 {
			values = append(values, metrics.Value{Name: "SendRate", Unit: metrics.PerSecond, Value: float64(n.sent) / elapsed})
		}
		if err := w.Metrics.Emit(now, map[string]string{"Channel": string(ch)}, values...); err != nil {
			w.Log.WarnContext(ctx, "batch metrics not written", "incidentId", b.IncidentID, "error", err)
		}
	}
}

// gate returns the incident's gate, read again once older than GateTTL
// (or at once with fresh).
func (w *Worker) gate(ctx context.Context, id string, fresh bool) (Gate, error) {
	w.gatesMu.Lock()
	cg, ok := w.gates[id]
	w.gatesMu.Unlock()
	now := w.Now()
	if ok && !fresh && now.Sub(cg.at) < GateTTL {
		return cg.Gate, nil
	}
	g, err := w.Control.Gate(ctx, id)
	if err != nil {
		return g, fmt.Errorf("read the state of %s: %w", id, err)
	}
	w.gatesMu.Lock()
	defer w.gatesMu.Unlock()
	if w.gates == nil {
		w.gates = map[string]cachedGate{}
	}
	w.gates[id] = cachedGate{g, now}
	return g, nil
}

// record counts the batch's progress and summarises it in the audit trail.
func (w *Worker) record(ctx context.Context, b Batch, c *tally) error {
	c.mu.Lock()
	done, first, last := c.done, c.first, c.last
	c.mu.Unlock()
	var errs []error
	if w.Progress != nil && (len(done) > 0 || !first.IsZero()) {
		errs = append(errs, w.Progress.Count(ctx, b.IncidentID, b.NoticeID, done, first, last))
	}
	c.mu.Lock()
	reach := c.reach
	c.mu.Unlock()
	if w.Reach != nil && len(reach) > 0 {
		errs = append(errs, w.Reach.CountReach(ctx, b.IncidentID, b.NoticeID, reach))
	}
	sent, failed, skipped := c.sent.Load(), c.failed.Load(), c.skipped.Load()
	if w.Audit != nil && sent+failed+skipped > 0 {
		errs = append(errs, w.Audit.Append(ctx, audit.Entry{
			IncidentID: b.IncidentID, At: w.Now(), Actor: "system:worker", Kind: audit.BatchSent,
			Detail: map[string]string{
				"notice": b.NoticeID, "template": b.Template, "members": strconv.Itoa(len(b.Members)),
				"sent": strconv.FormatInt(sent, 10), "failed": strconv.FormatInt(failed, 10), "skipped": strconv.FormatInt(skipped, 10),
				"firstUser": b.Members[0].UserID, "lastUser": b.Members[len(b.Members)-1].UserID,
			},
		}))
	}
	return errors.Join(errs...)
}

// park keeps the batch once for each of its channels that is paused; the
// ledger skips on resume what was already done.
func (w *Worker) park(ctx context.Context, b Batch, c *tally) error {
	for _, ch := range b.Channels {
		if !c.isPaused(ch) {
			continue
		}
		p := b
		p.Channels = []incident.Channel{ch}
		if err := w.Control.Park(ctx, p); err != nil {
			return fmt.Errorf("park %s/%s %s: %w", b.IncidentID, b.NoticeID, ch, err)
		}
	}
	return nil
}

// slots is the worker's pool of in-flight deliveries, shared by the batches
// it processes at once, so one batch's tail does not idle the others.
func (w *Worker) slots() chan struct{} {
	w.slotsOnce.Do(func() { w.slotPool = make(chan struct{}, max(w.Parallel, 1)) })
	return w.slotPool
}

// tally counts outcomes from concurrent deliveries and tracks the channels
// paused before or during the batch.
type tally struct {
	sent, failed, skipped, alreadyDone, retry, parked atomic.Int64

	mu     sync.Mutex
	paused map[incident.Channel]string
	// deferred are the indexes of the members left for another invocation.
	deferred []int
	// done counts recipient channels decided in this batch; first and
	// last are its first and last send.
	done        map[incident.Channel]map[ledger.Status]int
	first, last time.Time
	// retryAt is the latest end of another worker's claim met in the batch.
	retryAt time.Time
	// channels count each channel's deliveries, for the batch's metrics.
	channels map[incident.Channel]*channelCounts
	// reach is the change to the reach counts this batch made.
	reach map[ledger.Reach]int
	// suppressed are the members whose address is unreachable; set
	// before any member is processed, read-only after.
	suppressed map[string]bool
}

// moveReach counts a recipient's reach moving from before to after.
func (t *tally) moveReach(before, after ledger.Reach) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for r, n := range ledger.ReachMoves(before, after) {
		if t.reach == nil {
			t.reach = map[ledger.Reach]int{}
		}
		t.reach[r] += n
	}
}

// channelCounts are one channel's deliveries in a batch: decided sent or
// failed, left pending (parked or for a retry), and send attempts the
// provider throttled.
type channelCounts struct{ sent, failed, pending, throttled int }

// count adds to ch's counts.
func (t *tally) count(ch incident.Channel, add func(*channelCounts)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.channels[ch] == nil {
		t.channels[ch] = &channelCounts{}
	}
	add(t.channels[ch])
}

func (t *tally) notBefore(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at.After(t.retryAt) {
		t.retryAt = at
	}
}

func (t *tally) isPaused(ch incident.Channel) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.paused[ch]
	return ok
}

// pause reports whether this call paused ch (the first to see it stopped).
func (t *tally) pause(ch incident.Channel, reason string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.paused[ch]; ok {
		return false
	}
	t.paused[ch] = reason
	return true
}

// decided counts a recipient channel decided now, and the time of a send.
func (t *tally) decided(ch incident.Channel, st ledger.Status, sentAt time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done[ch] == nil {
		t.done[ch] = map[ledger.Status]int{}
	}
	t.done[ch][st]++
	if !sentAt.IsZero() {
		if t.first.IsZero() || sentAt.Before(t.first) {
			t.first = sentAt
		}
		if sentAt.After(t.last) {
			t.last = sentAt
		}
	}
}

func (t *tally) finish(ctx context.Context, log *slog.Logger, b Batch, err error) (Counts, error) {
	c := Counts{
		Sent: int(t.sent.Load()), Failed: int(t.failed.Load()), Skipped: int(t.skipped.Load()),
		AlreadyDone: int(t.alreadyDone.Load()), Retry: int(t.retry.Load()), Parked: int(t.parked.Load()),
	}
	rest, deferred := t.rest(b)
	c.Deferred = len(rest.Members)
	log.InfoContext(ctx, "batch processed",
		"incidentId", b.IncidentID, "noticeId", b.NoticeID, "members", len(b.Members),
		"sent", c.Sent, "failed", c.Failed, "skipped", c.Skipped, "alreadyDone", c.AlreadyDone,
		"retry", c.Retry, "parked", c.Parked, "deferred", c.Deferred)
	if err != nil {
		err = fmt.Errorf("batch %s/%s: %w: %w", b.IncidentID, b.NoticeID, ErrRetry, err)
		t.mu.Lock()
		defer t.mu.Unlock()
		if !t.retryAt.IsZero() {
			err = &RetryLaterError{At: t.retryAt, Err: err}
		}
		return c, err
	}
	if deferred {
		return c, &DeferredError{Rest: rest}
	}
	return c, nil
}

// RetryLaterError says a batch cannot make progress before At: another
// worker's claims hold some of its deliveries until then.
type RetryLaterError struct {
	At  time.Time
	Err error
}

func (e *RetryLaterError) Error() string { return e.Err.Error() }
func (e *RetryLaterError) Unwrap() error { return e.Err }

// RetryAt is when the batch is worth trying again.
func (e *RetryLaterError) RetryAt() time.Time { return e.At }

// job is one delivery a member is due: a send, or a skip decided from the
// user record alone.
type job struct {
	ledger.Entry
	skip   string
	device audience.Device
	// wait: a fallback channel waiting for the one before it.
	wait bool
}

// jobs lists a member's deliveries on the batch's channels.
func jobs(b Batch, m audience.Member, u audience.User, known, suppressed bool) []job {
	var out []job
	for _, ch := range b.Channels {
		j := job{Entry: ledger.Entry{
			Key:      ledger.Key{IncidentID: b.IncidentID, NoticeID: b.NoticeID, UserID: m.UserID, Channel: ch},
			Template: b.Template,
		}}
		if ch == incident.Push {
			j.DeviceID = ledger.NoDeviceID
		}
		switch {
		case !known:
			j.skip = ledger.UnknownUser
		case ch == incident.Email && u.Email == "":
			j.skip = ledger.NoEmail
		case ch == incident.Email && suppressed:
			j.skip = ledger.AddressSuppressed
		case ch == incident.Push:
			devices := targetDevices(m, u)
			if len(devices) == 0 {
				j.skip = ledger.NoDevice
				break
			}
			for _, d := range devices {
				dj := j
				dj.DeviceID, dj.device = d.ID, d
				if d.EndpointARN == "" {
					dj.skip = ledger.NoEndpoint
				}
				out = append(out, dj)
			}
			continue
		}
		out = append(out, j)
	}
	return out
}

// member claims a member's record, makes the deliveries it does not hold
// yet, and records them in one write.
func (w *Worker) member(ctx context.Context, cut cutoff, b Batch, i int, u audience.User, known bool, c *tally) error {
	m := b.Members[i]
	if w.late(b, cut) {
		c.deferMember(i)
		return nil
	}
	r := ledger.Recipient{IncidentID: b.IncidentID, NoticeID: b.NoticeID, UserID: m.UserID}
	// Read before each member, within GateTTL, so a cancel stops a batch
	// in the middle.
	g, err := w.gate(ctx, b.IncidentID, false)
	if err != nil {
		c.retry.Add(1)
		return err
	}
	cancelled := g.State == incident.StateCancelled
	now := w.Now()
	deadline, ok := ctx.Deadline()
	claim := ledger.Claim{Recipient: r, Template: b.Template, Owner: owner(), At: now, LeaseUntil: ledger.LeaseUntil(now, deadline, ok)}
	var next []byte
	if b.Fallback {
		// The member's own batch, kept on the record so that a report of
		// a failure sends it at once (package feedback).
		one := b
		one.Members = []audience.Member{m}
		if next, err = json.Marshal(one); err != nil {
			return fmt.Errorf("encode the fallback of %s: %w", r, err)
		}
		claim.Next = string(next)
	}
	rec, err := w.Ledger.Claim(ctx, claim)
	todo := jobs(b, m, u, known, c.suppressed[m.UserID])
	switch {
	case errors.Is(err, ledger.ErrDone):
		c.alreadyDone.Add(int64(len(todo)))
		return nil
	case errors.Is(err, ledger.ErrInFlight):
		c.retry.Add(1)
		var inflight *ledger.InFlightError
		if errors.As(err, &inflight) {
			c.notBefore(inflight.Until)
		}
		return fmt.Errorf("claim %s: %w", r, err)
	case err != nil:
		c.retry.Add(1)
		return fmt.Errorf("claim %s: %w", r, err)
	}
	var (
		outcomes []ledger.Entry
		errs     []error
		deferred bool
		checkAt  time.Time
	)
	if b.Fallback && !cancelled {
		todo, checkAt = fallbackJobs(b, rec, todo, now)
	}
	for _, j := range todo {
		if prev, ok := rec.Outcome(j.Key); ok && prev.Status.Terminal() {
			c.alreadyDone.Add(1)
			continue
		}
		e := j.Entry
		switch {
		case cancelled:
			e.Status, e.Reason, e.UpdatedAt = ledger.Skipped, Cancelled, w.Now()
			c.skipped.Add(1)
		case j.skip != "":
			e.Status, e.Reason, e.UpdatedAt = ledger.Skipped, j.skip, w.Now()
			c.skipped.Add(1)
		case j.wait:
			if prev, ok := rec.Outcome(j.Key); ok && prev.Status == ledger.Pending && prev.Reason == ledger.Fallback {
				continue
			}
			e.Status, e.Reason, e.UpdatedAt = ledger.Pending, ledger.Fallback, w.Now()
		case c.isPaused(e.Channel):
			e.Status, e.Reason, e.UpdatedAt = ledger.Pending, ledger.Paused, w.Now()
			c.parked.Add(1)
			c.count(e.Channel, func(n *channelCounts) { n.pending++ })
		default:
			var err error
			e, err = w.deliver(ctx, cut, b, g.Title, m, u, j, c)
			if errors.Is(err, ErrDeferred) {
				deferred = true
			} else {
				errs = append(errs, err)
			}
		}
		outcomes = append(outcomes, e)
	}
	// Recorded whatever happens to ctx: a send made must be written down.
	closing, cancel := Closing(ctx, w.Reserve)
	defer cancel()
	if err := w.Ledger.Record(closing, rec, outcomes, w.Now()); err != nil {
		if notified(outcomes) {
			// Someone was notified and nothing is left to send, so the
			// batch is not failed for this: the claim stays until its
			// lease ends and a redelivery after that would notify again —
			// the same window as a worker dying right after a send.
			w.Log.ErrorContext(ctx, "delivered but not recorded", "recipient", r.String(), "error", err)
			return errors.Join(errs...)
		}
		errs = append(errs, fmt.Errorf("record %s: %w", r, err))
		return errors.Join(errs...)
	}
	countDecided(c, b.Channels, rec.Deliveries, outcomes)
	if !checkAt.IsZero() && w.Later != nil {
		if err := w.Later.SendLater(closing, next, checkAt); err != nil {
			errs = append(errs, fmt.Errorf("schedule the fallback of %s: %w", r, err))
		}
	}
	// From the record as claimed: a delivery report applied between the
	// claim and this write is counted by the feedback function alone.
	before, _ := ledger.ReachOf(rec.Deliveries)
	after, _ := ledger.ReachOf(ledger.Merged(rec.Deliveries, outcomes))
	c.moveReach(before, after)
	if deferred {
		// The claim is ended with the rest pending; the member goes back
		// whole, and the ledger skips what was done.
		c.deferMember(i)
	}
	return errors.Join(errs...)
}

// fallbackJobs decides, for a member of a fallback batch, which of its
// channels is due now, from what its record holds: the first channel in
// order that is neither reached, nor failed for good, nor awaiting a
// delivery report for less than the batch's FallbackAfter. That channel's
// jobs are left to send; those of the channels after it wait (pending,
// reason ledger.Fallback), or are skipped (ledger.NotNeeded) once a
// channel reached the member. checkAt is when the member is worth
// looking at again: when the channel sent now, or still awaited, has had
// its time. The walk reads only the record, so any number of deliveries of
// the batch, early or late, decide the same and send nothing twice (the
// claim sees to that).
func fallbackJobs(b Batch, rec ledger.Record, todo []job, now time.Time) (out []job, checkAt time.Time) {
	out = slices.Clone(todo)
	after := b.FallbackAfter()
	var later func(*job)
	for _, ch := range b.Channels {
		var mine []int
		for i, j := range out {
			if j.Channel == ch && j.skip == "" {
				mine = append(mine, i)
			}
		}
		if later != nil {
			for _, i := range mine {
				later(&out[i])
			}
			continue
		}
		var prev []ledger.Entry
		sendable := false
		var sentAt time.Time
		for _, i := range mine {
			p, ok := rec.Outcome(out[i].Key)
			if !ok || !p.Status.Terminal() {
				sendable = true
				continue
			}
			prev = append(prev, p)
			if !p.Status.Undeliverable() && p.UpdatedAt.After(sentAt) {
				sentAt = p.UpdatedAt
			}
		}
		reach, _ := ledger.ReachOf(prev)
		switch {
		case reach == ledger.Reached:
			later = func(j *job) { j.skip = ledger.NotNeeded }
		case sendable:
			later, checkAt = func(j *job) { j.wait = true }, now.Add(after)
		case !sentAt.IsZero() && now.Sub(sentAt) < after:
			// Sent, and SES has not said yet whether it arrived.
			later, checkAt = func(j *job) { j.wait = true }, sentAt.Add(after)
		}
	}
	if later == nil || !slices.ContainsFunc(out, func(j job) bool { return j.wait }) {
		checkAt = time.Time{}
	}
	return out, checkAt
}

// countDecided counts the channels of a recipient that this run decided:
// undecided before (ledger.ChannelStatus of the earlier deliveries), decided
// with the new outcomes.
func countDecided(c *tally, channels []incident.Channel, before, outcomes []ledger.Entry) {
	after := ledger.Merged(before, outcomes)
	on := func(ds []ledger.Entry, ch incident.Channel) []ledger.Entry {
		var out []ledger.Entry
		for _, d := range ds {
			if d.Channel == ch {
				out = append(out, d)
			}
		}
		return out
	}
	for _, ch := range channels {
		was, now := ledger.ChannelStatus(on(before, ch)), ledger.ChannelStatus(on(after, ch))
		if was.Terminal() || !now.Terminal() {
			continue
		}
		var sentAt time.Time
		for _, o := range on(outcomes, ch) {
			if o.Status == ledger.Sent && o.UpdatedAt.After(sentAt) {
				sentAt = o.UpdatedAt
			}
		}
		c.decided(ch, now, sentAt)
	}
}

// notified reports whether outcomes include a send and nothing pending.
func notified(outcomes []ledger.Entry) bool {
	sent := false
	for _, e := range outcomes {
		if !e.Status.Terminal() {
			return false
		}
		sent = sent || e.Status == ledger.Sent
	}
	return sent
}

// owner names one claim; only its maker may record the outcome.
func owner() string { return strconv.FormatUint(rand.Uint64(), 36) }

// targetDevices are the devices a member's push goes to: all for a user named
// explicitly, else those the cohort matched that the user still has.
func targetDevices(m audience.Member, u audience.User) []audience.Device {
	if m.AllDevices {
		return u.Devices
	}
	var out []audience.Device
	for _, d := range u.Devices {
		if slices.Contains(m.DeviceIDs, d.ID) {
			out = append(out, d)
		}
	}
	return out
}

func (w *Worker) render(b Batch, title string, u audience.User, platform string) (notice.Message, error) {
	return notice.Render(b.Template, u.Locale, notice.Data{
		Name: u.Name, IncidentID: b.IncidentID, Title: title,
		FixedVersion: b.FixedVersion, Platform: platform, Brand: w.Brand, PublicNoticeURL: w.PublicURL,
	})
}

// deliver renders and sends one delivery and returns its outcome, with an
// error when it must be retried.
func (w *Worker) deliver(ctx context.Context, cut cutoff, b Batch, title string, m audience.Member, u audience.User, j job, c *tally) (ledger.Entry, error) {
	e := j.Entry
	platform := j.device.Platform
	if e.Channel == incident.Email {
		platform = emailPlatform(m, u)
	}
	msg, err := w.render(b, title, u, platform)
	if err != nil {
		c.retry.Add(1)
		c.count(e.Channel, func(n *channelCounts) { n.pending++ })
		e.Status, e.Reason, e.UpdatedAt = ledger.Pending, "render", w.Now()
		return e, fmt.Errorf("render %s: %w", e.Key, err)
	}
	e.TemplateVersion, e.Locale = msg.Version, msg.Locale
	lim, do := w.EmailLimiter, func(ctx context.Context) (string, error) {
		return w.Mailer.Send(ctx, Mail{
			To: u.Email, Subject: msg.Email.Subject, Text: msg.Email.Text, HTML: msg.Email.HTML,
			Tags: Tags(e.Recipient()),
		})
	}
	if e.Channel == incident.Push {
		lim, do = w.PushLimiter, func(ctx context.Context) (string, error) {
			return w.Pusher.Push(ctx, j.device.EndpointARN, msg.Push, map[string]string{"incidentId": b.IncidentID, "template": b.Template})
		}
	}
	return w.send(ctx, cut, e, c, lim, do)
}

// emailPlatform names the platform an email's instructions are for: that of
// the devices the notice targets when they share one, else none, so the
// template gives the steps for every store rather than the wrong one.
func emailPlatform(m audience.Member, u audience.User) string {
	platform := ""
	for i, d := range targetDevices(m, u) {
		if i > 0 && d.Platform != platform {
			return ""
		}
		platform = d.Platform
	}
	return platform
}

// send paces and sends one claimed delivery, retrying in-process what is
// worth retrying, and returns its outcome: sent, failed for good, or
// pending with an error that sends the batch back to the queue.
func (w *Worker) send(ctx context.Context, cut cutoff, e ledger.Entry, c *tally, lim Limiter, do func(context.Context) (string, error)) (ledger.Entry, error) {
	var id string
	var sendErr error
	for attempt := 1; ; attempt++ {
		// Paced after the claim, so that a delivery already done costs no
		// quota when a batch is redelivered; and every attempt is paced,
		// never to start after the cutoff.
		if lim != nil {
			pctx, cancel := cut.paceContext(ctx)
			err := lim.Wait(pctx)
			cancel()
			if err != nil {
				c.count(e.Channel, func(n *channelCounts) { n.pending++ })
				e.Status, e.Reason, e.UpdatedAt = ledger.Pending, "not-sent-before-deadline", w.Now()
				if cut.ok && ctx.Err() == nil {
					// Out of time, not failed: the member goes back unsent.
					return e, fmt.Errorf("pace %s: %w: %w", e.Key, ErrDeferred, err)
				}
				c.retry.Add(1)
				return e, fmt.Errorf("pace %s: %w", e.Key, err)
			}
		}
		sctx, cancel := cut.sendContext(ctx)
		id, sendErr = do(sctx)
		cancel()
		if throttled(sendErr) {
			c.count(e.Channel, func(n *channelCounts) { n.throttled++ })
		}
		if sendErr == nil || attempt >= max(w.SendAttempts, 1) {
			break
		}
		if class, _ := classify(sendErr); class != Retryable || !pause(ctx, retryDelay(attempt)) {
			break
		}
	}
	e.UpdatedAt = w.Now()
	if sendErr == nil {
		e.Status, e.ProviderMessageID = ledger.Sent, id
		c.sent.Add(1)
		c.count(e.Channel, func(n *channelCounts) { n.sent++ })
		return e, nil
	}
	class, reason := classify(sendErr)
	switch {
	case class == Paused:
		c.parked.Add(1)
		c.count(e.Channel, func(n *channelCounts) { n.pending++ })
		e.Status, e.Reason = ledger.Pending, ledger.Paused
		if !c.pause(e.Channel, reason) {
			return e, nil
		}
		w.Log.ErrorContext(ctx, "channel paused: the provider stopped sending; batches are parked until resumed",
			"incidentId", e.IncidentID, "channel", string(e.Channel), "reason", reason)
		return e, w.Control.Pause(ctx, e.IncidentID, e.Channel, reason)
	case class == Permanent:
		e.Status, e.Reason = ledger.Failed, reason
		c.failed.Add(1)
		c.count(e.Channel, func(n *channelCounts) { n.failed++ })
		w.Log.WarnContext(ctx, "delivery failed", "delivery", e.Key.String(), "reason", reason)
		return e, nil
	}
	c.retry.Add(1)
	c.count(e.Channel, func(n *channelCounts) { n.pending++ })
	e.Status, e.Reason = ledger.Pending, reason
	return e, fmt.Errorf("send %s: %w", e.Key, sendErr)
}

// retryDelay is the wait before attempt n+1 of a send: 50 ms doubling, with
// jitter so that sends throttled together do not return together.
func retryDelay(n int) time.Duration {
	d := 50 * time.Millisecond << min(n-1, 5)
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

// pause sleeps for d unless ctx ends first.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
