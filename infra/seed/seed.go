// Package seed imports users from JSON Lines or CSV into the users table,
// registering their push tokens as SNS platform endpoints, and deletes
// users who left. It works the same against the local stack and against
// AWS: batched writes from parallel workers, a transaction only for a user
// whose device set shrank, and a checkpoint to resume from.
package seed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"breachnotify/shared/audience"
)

// Store is the users table as the importer writes it.
type Store interface {
	// Stored returns the stored record of each of ids that exists, read
	// consistently.
	Stored(ctx context.Context, ids []string) (map[string]audience.User, error)
	// PutBatch writes users whose device sets did not shrink and returns
	// the error of each it could not write.
	PutBatch(ctx context.Context, users []audience.User) map[string]error
	// Replace writes a user whose device set shrank, removing the index
	// items of the devices removed, atomically.
	Replace(ctx context.Context, user audience.User, removed []string) error
	// DeleteBatch deletes users (and the devices their records list) and
	// returns the error of each it could not delete.
	DeleteBatch(ctx context.Context, users []audience.User) map[string]error
}

// Registrar turns a device token into a platform endpoint ARN.
type Registrar interface {
	Register(ctx context.Context, platform, token string) (string, error)
}

// Deregistrar deletes a platform endpoint.
type Deregistrar interface {
	Deregister(ctx context.Context, endpointARN string) error
}

// LineError is a line that was skipped, and why. It never quotes the line:
// lines hold personal data.
type LineError struct {
	Line int
	// Reason is the kind of problem, for the summary's counts.
	Reason string
	Err    error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e LineError) Unwrap() error { return e.Err }

// Report is what an import or a deletion did.
type Report struct {
	Imported int
	// Replaced users (among Imported) had fewer devices than stored: they
	// were written in a transaction that removed the others.
	Replaced int
	// Endpoints were registered; EndpointsGiven came with the line.
	Endpoints      int
	EndpointsGiven int
	// Deleted users, their EndpointsDeleted, and the NotFound ids that
	// named no user (deletion mode).
	Deleted          int
	EndpointsDeleted int
	NotFound         int
	// Bad lines could not be read as a valid user; Refused lines were
	// valid but the store or the registrar refused them. Both are skipped
	// and the import goes on. Each is sorted by line.
	Bad     []LineError
	Refused []LineError
	// Lines is the number of the last line read.
	Lines int
	// Resume is where an import that stopped may resume from: every
	// line before it is done (imported or reported).
	Resume Position
	// Deletion is set for a run of the deletion mode.
	Deletion bool
}

// Skipped counts the skipped lines by reason.
func (r Report) Skipped() map[string]int {
	n := map[string]int{}
	for _, le := range append(slices.Clone(r.Bad), r.Refused...) {
		n[le.Reason]++
	}
	if r.NotFound > 0 {
		n["no such user"] += r.NotFound
	}
	return n
}

// Summary is the report in a few lines, without personal data.
func (r Report) Summary() string {
	var b strings.Builder
	if r.Deletion {
		fmt.Fprintf(&b, "deleted %d users and %d push endpoints\n", r.Deleted, r.EndpointsDeleted)
	} else {
		fmt.Fprintf(&b, "imported %d users (%d with fewer devices than before), registered %d push endpoints (%d came with their lines)\n",
			r.Imported, r.Replaced, r.Endpoints, r.EndpointsGiven)
	}
	skipped := r.Skipped()
	reasons := slices.Sorted(func(yield func(string) bool) {
		for k := range skipped {
			if !yield(k) {
				return
			}
		}
	})
	total := 0
	for _, k := range reasons {
		total += skipped[k]
	}
	fmt.Fprintf(&b, "skipped %d lines", total)
	for _, k := range reasons {
		fmt.Fprintf(&b, "\n  %7d  %s", skipped[k], k)
	}
	return b.String()
}

// Progress is how far an import is.
type Progress struct {
	Read, Done int      // records read and finished (written, refused or deleted)
	At         Position // where a resumed import would start
	Offset     int64    // bytes read
	Total      int64    // the input's size, 0 if unknown
	Elapsed    time.Duration
	Start      Position // where this run started
}

// Importer imports, or deletes, users.
type Importer struct {
	Store       Store
	Registrar   Registrar   // nil: push tokens are kept without endpoints
	Deregistrar Deregistrar // nil: deletion leaves the endpoints
	Format      Format
	// Delete makes the input a list of users who left: their items are
	// deleted, and their endpoints if Deregistrar is set.
	Delete bool
	// Workers write in parallel (4 if 0); a user always goes to the same
	// worker, so that its lines are written in order. Registrations bounds
	// the concurrent endpoint calls (16 if 0).
	Workers, Registrations int
	// OnProgress, if set, is called every ProgressEvery (1 s if 0) and at
	// the end.
	OnProgress    func(Progress)
	ProgressEvery time.Duration
}

// chunkSize is the users a worker reads together: one BatchGetItem.
const chunkSize = 100

// Import reads JSON Lines users from r and writes each valid one with the
// default settings. See Importer.Run.
func Import(ctx context.Context, r io.Reader, store Store, reg Registrar) (Report, error) {
	im := &Importer{Store: store, Registrar: reg}
	return im.Run(ctx, r)
}

// Run reads users from r and imports (or deletes) each valid one. A bad
// line, or one the store or the registrar refuses, is reported by number
// without its content, and the next lines go on. Only an error that would
// fail every line (a broken connection, missing or expired credentials, a
// missing table, throttling or unprocessed items that outlasted the
// retries, a cancelled context) stops it; the error names the line to
// resume from, Report.Resume.
func (im *Importer) Run(ctx context.Context, r io.Reader) (Report, error) {
	return im.run(ctx, r, Position{Line: 1}, nil, 0)
}

// run reads from start (r is there already); a CSV header is read from r
// unless given.
func (im *Importer) run(ctx context.Context, r io.Reader, start Position, header []byte, total int64) (Report, error) {
	if start.Line == 0 {
		start.Line = 1
	}
	l := newLines(r, start)
	chk := check(validUser)
	if im.Delete {
		chk = validID
	}
	var src source = &jsonLines{l: l, check: chk}
	if im.Format == CSV {
		if header == nil {
			line, _, _, err := l.read()
			if err != nil {
				return Report{Resume: start}, fmt.Errorf("read the CSV header: %w", err)
			}
			header = line
		}
		cols, err := readHeader(header)
		if err != nil {
			return Report{Resume: start}, err
		}
		src = &csvRows{l: l, check: chk, cols: cols}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	run := &run{im: im, src: src, cancel: cancel, start: start, total: total, began: time.Now(),
		pending: map[int]Position{}, regs: make(chan struct{}, cmp.Or(im.Registrations, 16))}
	run.rep.Resume, run.rep.Deletion = start, im.Delete
	workers := cmp.Or(im.Workers, 4)
	ins := make([]chan item, workers)
	var wg sync.WaitGroup
	for i := range ins {
		ins[i] = make(chan item, chunkSize)
		wg.Go(func() { run.work(ctx, ins[i]) })
	}
	stopProgress := run.report(cmp.Or(im.ProgressEvery, time.Second))
	readErr := run.read(ctx, ins)
	for _, in := range ins {
		close(in)
	}
	wg.Wait()
	stopProgress()
	if readErr == nil && ctx.Err() != nil {
		// Cancelled from outside (an interrupt): the lines still pending
		// were not imported.
		readErr = fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return run.finish(readErr)
}

// item is a record handed to a worker.
type item struct {
	seq int
	record
}

// run is one import's shared state.
type run struct {
	im     *Importer
	src    source
	cancel context.CancelFunc
	regs   chan struct{} // a token per concurrent endpoint call
	start  Position
	total  int64
	began  time.Time

	mu      sync.Mutex
	rep     Report
	nread   int
	done    int
	pending map[int]Position // records handed out and not finished
	end     Position         // the source's position
	offset  int64
	stop    error // the first error that stopped the import
	stopAt  int   // its line
}

// read hands the records to the workers, a user always to the same one.
func (r *run) read(ctx context.Context, ins []chan item) error {
	for seq := 0; ; seq++ {
		rec, err := r.src.next()
		if errors.Is(err, io.EOF) {
			r.mu.Lock()
			r.end = r.src.at()
			r.offset = r.end.Offset
			r.rep.Lines = max(r.rep.Lines, r.end.Line-1)
			r.mu.Unlock()
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the input: %w", err)
		}
		r.mu.Lock()
		r.rep.Lines = max(r.rep.Lines, r.src.at().Line-1, rec.pos.Line)
		r.offset = max(r.offset, r.src.at().Offset)
		if rec.bad != nil {
			r.rep.Bad = append(r.rep.Bad, *rec.bad)
		} else {
			r.pending[seq] = rec.pos
			r.nread++
		}
		r.end = r.src.at()
		r.mu.Unlock()
		if rec.bad != nil {
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(rec.user.ID))
		select {
		case ins[h.Sum32()%uint32(len(ins))] <- item{seq, rec}:
		case <-ctx.Done():
			return nil
		}
	}
}

// work imports (or deletes) the users sent to it, a chunk at a time. A
// user seen twice is written in order: the chunk is flushed first.
func (r *run) work(ctx context.Context, in <-chan item) {
	var chunk []item
	flush := func() {
		if len(chunk) > 0 && ctx.Err() == nil {
			if r.im.Delete {
				r.deleteChunk(ctx, chunk)
			} else {
				r.importChunk(ctx, chunk)
			}
		}
		chunk = chunk[:0]
	}
	for it := range in {
		if ctx.Err() != nil {
			continue // drain, so that the reader is not blocked
		}
		if slices.ContainsFunc(chunk, func(o item) bool { return o.user.ID == it.user.ID }) {
			flush()
		}
		chunk = append(chunk, it)
		if len(chunk) == chunkSize {
			flush()
		}
	}
	flush()
}

// outcome is what became of one user of a chunk; a nil err is success.
type outcome struct {
	it     item
	reason string
	err    error
}

func (r *run) importChunk(ctx context.Context, chunk []item) {
	registered := r.register(ctx, chunk)
	var live []item
	for _, it := range chunk {
		if registered[it.seq].err == nil {
			live = append(live, it)
		} else {
			r.settle(ctx, registered[it.seq].outcome)
		}
	}
	if len(live) == 0 {
		return
	}
	stored, err := r.im.Store.Stored(ctx, ids(live))
	if err != nil {
		r.halt(live[0].pos.Line, fmt.Errorf("read the stored users: %s", errorCode(err)))
		return
	}
	var batch []audience.User
	bySeq := map[string]item{}
	for _, it := range live {
		removed := removedDevices(stored[it.user.ID], it.user)
		if len(removed) == 0 {
			batch = append(batch, it.user)
			bySeq[it.user.ID] = it
			continue
		}
		// Rare: only a shrinking device set needs the transaction.
		if err := r.im.Store.Replace(ctx, it.user, removed); err != nil {
			r.settle(ctx, outcome{it, "refused by the store", err})
			continue
		}
		r.succeed(it, registered[it.seq].n, func(rep *Report) { rep.Imported++; rep.Replaced++ })
	}
	failed := r.im.Store.PutBatch(ctx, batch)
	for _, u := range batch {
		it := bySeq[u.ID]
		if err := failed[u.ID]; err != nil {
			r.settle(ctx, outcome{it, "refused by the store", err})
			continue
		}
		r.succeed(it, registered[it.seq].n, func(rep *Report) { rep.Imported++ })
	}
}

// registration is one user's endpoint registration: how many it made and
// whether one failed.
type registration struct {
	outcome
	n int
}

// register creates the platform endpoints of the chunk's devices that
// have a token and no endpoint, in parallel up to the registrations bound.
func (r *run) register(ctx context.Context, chunk []item) map[int]*registration {
	out := make(map[int]*registration, len(chunk))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for ci := range chunk {
		it := &chunk[ci]
		// The outcome's copy shares the devices, so it sees their endpoints.
		reg := &registration{outcome: outcome{it: *it}}
		out[it.seq] = reg
		for di := range it.user.Devices {
			d := &it.user.Devices[di]
			switch {
			case d.EndpointARN != "":
				r.mu.Lock()
				r.rep.EndpointsGiven++
				r.mu.Unlock()
				continue
			case d.PushToken == "" || r.im.Registrar == nil:
				continue
			}
			wg.Go(func() {
				select {
				case r.regs <- struct{}{}:
				case <-ctx.Done():
					return
				}
				defer func() { <-r.regs }()
				var arn string
				err := retry(ctx, func() (err error) {
					arn, err = r.im.Registrar.Register(ctx, d.Platform, d.PushToken)
					return err
				})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if reg.err == nil {
						reg.reason = "refused by the registrar"
						reg.err = fmt.Errorf("devices[%d].pushToken: %w", di, err)
					}
					return
				}
				d.EndpointARN = arn
				reg.n++
			})
		}
	}
	wg.Wait()
	for _, reg := range out {
		if reg.err == nil && ctx.Err() != nil {
			reg.err, reg.reason = ctx.Err(), "cancelled"
		}
	}
	return out
}

func (r *run) deleteChunk(ctx context.Context, chunk []item) {
	stored, err := r.im.Store.Stored(ctx, ids(chunk))
	if err != nil {
		r.halt(chunk[0].pos.Line, fmt.Errorf("read the stored users: %s", errorCode(err)))
		return
	}
	var found []item
	for _, it := range chunk {
		u, ok := stored[it.user.ID]
		if !ok {
			r.succeed(it, 0, func(rep *Report) { rep.NotFound++ })
			continue
		}
		it.user = u
		found = append(found, it)
	}
	// Endpoints go before the items: an item deleted first would leave no
	// record of its endpoint to delete on the next try.
	errs := make([]error, len(found))
	counts := make([]int, len(found))
	var wg sync.WaitGroup
	for i, it := range found {
		for _, d := range it.user.Devices {
			if d.EndpointARN == "" || r.im.Deregistrar == nil {
				continue
			}
			wg.Go(func() {
				select {
				case r.regs <- struct{}{}:
				case <-ctx.Done():
					return
				}
				defer func() { <-r.regs }()
				err := retry(ctx, func() error { return r.im.Deregistrar.Deregister(ctx, d.EndpointARN) })
				r.mu.Lock()
				defer r.mu.Unlock()
				if err != nil {
					errs[i] = cmp.Or(errs[i], err)
					return
				}
				counts[i]++
			})
		}
	}
	wg.Wait()
	var users []audience.User
	byID := map[string]int{}
	for i, it := range found {
		switch {
		case errs[i] != nil:
			r.settle(ctx, outcome{it, "endpoint deletion refused", errs[i]})
		case ctx.Err() != nil:
		default:
			users = append(users, it.user)
			byID[it.user.ID] = i
		}
	}
	failed := r.im.Store.DeleteBatch(ctx, users)
	for _, u := range users {
		i := byID[u.ID]
		if err := failed[u.ID]; err != nil {
			r.settle(ctx, outcome{found[i], "refused by the store", err})
			continue
		}
		r.succeed(found[i], 0, func(rep *Report) { rep.Deleted++; rep.EndpointsDeleted += counts[i] })
	}
}

func ids(chunk []item) []string {
	out := make([]string, len(chunk))
	for i, it := range chunk {
		out[i] = it.user.ID
	}
	return out
}

// removedDevices are the ids of stored devices that user no longer has.
func removedDevices(stored, user audience.User) []string {
	var removed []string
	for _, d := range stored.Devices {
		if !slices.ContainsFunc(user.Devices, func(n audience.Device) bool { return n.ID == d.ID }) {
			removed = append(removed, d.ID)
		}
	}
	return removed
}

// succeed finishes a record that was written, deleted or found missing.
func (r *run) succeed(it item, endpoints int, count func(*Report)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	count(&r.rep)
	r.rep.Endpoints += endpoints
	r.finishItem(it)
}

// settle finishes a record that failed: refused (reported, and the import
// goes on) or, for an error every later line would meet too, the stop of
// the import (the record stays unfinished, for the resume).
func (r *run) settle(ctx context.Context, o outcome) {
	if fatal(ctx, o.err) {
		r.halt(o.it.pos.Line, fmt.Errorf("%s: %s", strings.TrimPrefix(o.reason, "refused by "), errorCode(o.err)))
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rep.Refused = append(r.rep.Refused, LineError{Line: o.it.pos.Line, Reason: fmt.Sprintf("%s (%s)", o.reason, errorCode(o.err)),
		Err: fmt.Errorf("%w %s (%s)", errRefused, strings.TrimPrefix(o.reason, "refused "), errorCode(o.err))})
	r.finishItem(o.it)
}

// errRefused marks a line the store or the registrar refused.
var errRefused = errors.New("refused")

func (r *run) finishItem(it item) {
	delete(r.pending, it.seq)
	r.done++
}

// halt stops the import: the first error is the one reported (the others
// are mostly the cancellation it causes).
func (r *run) halt(line int, err error) {
	r.mu.Lock()
	if r.stop == nil {
		r.stop, r.stopAt = err, line
	}
	r.mu.Unlock()
	r.cancel()
}

// resume is the position of the first unfinished record: every line
// before it is done. Callers hold mu.
func (r *run) resume() Position {
	at := r.end
	for _, p := range r.pending {
		if p.Offset < at.Offset {
			at = p
		}
	}
	return at
}

func (r *run) progress() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Progress{Read: r.nread, Done: r.done, At: r.resume(), Offset: r.offset, Total: r.total, Elapsed: time.Since(r.began), Start: r.start}
}

// report calls OnProgress every interval until the returned func is called,
// which reports once more.
func (r *run) report(every time.Duration) func() {
	if r.im.OnProgress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				r.im.OnProgress(r.progress())
			case <-done:
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		r.im.OnProgress(r.progress())
	}
}

func (r *run) finish(readErr error) (Report, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := r.rep
	rep.Resume = r.resume()
	byLine := func(a, b LineError) int { return cmp.Compare(a.Line, b.Line) }
	slices.SortFunc(rep.Bad, byLine)
	slices.SortFunc(rep.Refused, byLine)
	switch {
	case r.stop != nil:
		return rep, &StopError{Line: r.stopAt, Resume: rep.Resume, Err: r.stop}
	case readErr != nil:
		return rep, &StopError{Resume: rep.Resume, Err: readErr}
	}
	return rep, nil
}

// StopError is an import that stopped part way: every line before Resume
// is done, and the lines from there on may not be.
type StopError struct {
	Line   int // the line that failed, if one did
	Resume Position
	Err    error
}

func (e *StopError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("stopped at line %d (resume from line %d: every line before it is done): %v", e.Line, e.Resume.Line, e.Err)
	}
	return fmt.Sprintf("stopped (resume from line %d: every line before it is done): %v", e.Resume.Line, e.Err)
}

func (e *StopError) Unwrap() error { return e.Err }

// SNS calls that are throttled or meet a server error are retried with
// full jitter (a random wait up to base·2^attempt, at most retryCap), on top
// of the SDK's own retries: SNS throttles CreatePlatformEndpoint at its
// per-account rate, and many workers throttled together must not retry
// together. Variables so that tests need not wait.
var (
	retryAttempts = 6
	retryBase     = 100 * time.Millisecond
	retryCap      = 5 * time.Second
)

// retryCodes are the AWS error codes of throttling and server faults.
var retryCodes = []string{"Throttled", "Throttling", "ThrottlingException", "RequestLimitExceeded", "InternalError", "InternalFailure", "ServiceUnavailable"}

func retry(ctx context.Context, call func() error) error {
	for attempt := 0; ; attempt++ {
		err := call()
		if err == nil || attempt == retryAttempts-1 || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(rand.Int64N(int64(min(retryCap, retryBase<<attempt)) + 1))):
		}
	}
}

// transient reports whether err is throttling or a server error (an SDK
// response error has the HTTP status; a server that answered 500 with a
// body the SDK could not read has no error code).
func transient(err error) bool {
	var status interface{ HTTPStatusCode() int }
	return slices.Contains(retryCodes, errorCode(err)) || errors.As(err, &status) && status.HTTPStatusCode() >= 500
}

// fatalCodes are AWS error codes that every later line would meet too:
// the caller's credentials, its permissions, the table, the service's
// capacity once the retries are spent.
var fatalCodes = []string{
	"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException", "ExpiredToken",
	"InvalidClientTokenId", "MissingAuthenticationToken", "AccessDeniedException", "AccessDenied",
	"AuthorizationError", "ResourceNotFoundException", "NotFound", "ProvisionedThroughputExceededException",
	"ThrottlingException", "Throttling", "Throttled", "RequestLimitExceeded", "ServiceUnavailable", "InternalServerError",
	"InternalError", "InternalFailure", "UnprocessedItems",
}

// fatal reports whether err would stop every later line as well. The
// adapters' errors are classified by shape, so this package needs no AWS
// import: SDK API errors have an ErrorCode method; a broken connection is
// a net.Error; missing credentials fail before any request is sent.
func fatal(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if slices.Contains(fatalCodes, errorCode(err)) {
		return true
	}
	return strings.Contains(err.Error(), "failed to retrieve credentials") || strings.Contains(err.Error(), "failed to refresh cached credentials")
}

// errorCode is the AWS error code of err, or "error": what a report may
// say about a refusal without quoting the adapter's message, which names
// the user.
func errorCode(err error) string {
	var coded interface{ ErrorCode() string }
	var ne net.Error
	switch {
	case errors.As(err, &coded) && coded.ErrorCode() != "":
		return coded.ErrorCode()
	case errors.As(err, &ne):
		return ne.Error()
	case errors.Is(err, context.Canceled):
		return context.Canceled.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded.Error()
	case strings.Contains(err.Error(), "credentials"):
		return "no valid credentials"
	}
	return "error"
}
