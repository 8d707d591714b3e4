// Package plan turns a confirmed incident's notices into recipient batches,
// one shard of users at a time, so that planning any audience size fits in
// bounded Lambda runs, can be resumed where it stopped, and never queues a
// member twice for the same task.
package plan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"breachnotify/shared/audience"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/incident"
)

// Task plans one notice for one shard of users. Shards hold whole users, so
// the tasks of a notice never share a member. It carries ids and the
// notice's rules, never the incident's prose: the worker reads the title
// from the incident record, so a message stays small whatever the title.
type Task struct {
	IncidentID string          `json:"incidentId"`
	NoticeID   string          `json:"noticeId"`
	Notice     incident.Notice `json:"notice"`
	Shard      int             `json:"shard"`
	// Count: the task counts and fingerprints its members, keeping a
	// sample of them, and queues nothing. An incident that may need
	// approval is counted first, and planned again for sending only once
	// it may send, so nothing of it is queued before then.
	Count bool `json:"count,omitempty"`
	// Range is the part of the notice's audience file this task plans. A
	// file notice starts as one task without it, which reads the file's
	// size and version and queues a task per range (Planner.split).
	Range *FileRange `json:"range,omitempty"`
}

// FileRange is one range of an audience file, pinned to the version of the
// file that was split.
type FileRange struct {
	Part int `json:"part"`
	audience.Range
	ETag string `json:"etag"`
	// Gzip: the file is compressed, and this one range is all of it.
	Gzip bool `json:"gzip,omitempty"`
}

// ID names the task within its incident; a counting task's differs from
// the sending one's, so each keeps its own checkpoint.
func (t Task) ID() string {
	id := fmt.Sprintf("%s#%02d", t.NoticeID, t.Shard)
	switch {
	case t.Range != nil:
		id = fmt.Sprintf("%s#file#%05d", t.NoticeID, t.Range.Part)
	case t.Notice.Audience.File != "":
		id = t.NoticeID + "#file"
	}
	if t.Count {
		return "count#" + id
	}
	return id
}

// Tasks splits an incident's planning into one task per notice and shard
// that can hold its members: every shard for a cohort, only the named
// users' shards otherwise, so that notifying one user is one task; and one
// task for an audience file, which the planner splits into ranges. Each
// task names only the user ids of its shard (the others are not its
// members), so the tasks of a notice together carry each id once. With
// count, the tasks only count (Task.Count).
func Tasks(in incident.Incident, count bool) []Task {
	var out []Task
	for i, n := range in.Notices {
		if n.Audience.File != "" {
			// Its size is unknown here: the planner splits it.
			out = append(out, Task{IncidentID: in.ID, NoticeID: incident.NoticeID(i, n.Template), Notice: n, Count: count})
			continue
		}
		ids := make([][]string, audience.Shards)
		for _, id := range n.Audience.UserIDs {
			s := audience.UserShard(id)
			ids[s] = append(ids[s], id)
		}
		for shard := range audience.Shards {
			if n.Audience.HasCohort() || len(ids[shard]) > 0 {
				tn := n
				tn.Audience.UserIDs = ids[shard]
				out = append(out, Task{IncidentID: in.ID, NoticeID: incident.NoticeID(i, n.Template), Notice: tn, Shard: shard, Count: count})
			}
		}
	}
	return out
}

// Encode is a task as a queue message. HTML characters are not escaped:
// json.Marshal would make each '<' in a user id six bytes, so a message
// would no longer stay near the size of the event it came from.
func (t Task) Encode() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(t); err != nil {
		return nil, err
	}
	if b.Len() > incident.MaxMessageBytes {
		return nil, fmt.Errorf("task %s/%s is %d bytes, more than %d", t.IncidentID, t.ID(), b.Len(), incident.MaxMessageBytes)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// ParseTask decodes a planning queue message.
func ParseTask(body []byte) (Task, error) {
	var t Task
	if err := json.Unmarshal(body, &t); err != nil {
		return t, fmt.Errorf("%w: decode task: %w", dispatch.ErrMalformed, err)
	}
	if !incident.ValidID(t.IncidentID) || t.NoticeID == "" || t.Shard < 0 || t.Shard >= audience.Shards {
		return t, fmt.Errorf("%w: task %q/%q shard %d", dispatch.ErrMalformed, t.IncidentID, t.NoticeID, t.Shard)
	}
	if r := t.Range; r != nil && (t.Notice.Audience.File == "" || r.Part < 0 || r.Start < 0 || r.End < r.Start || r.ETag == "") {
		return t, fmt.Errorf("%w: task %q/%q range %+v", dispatch.ErrMalformed, t.IncidentID, t.NoticeID, *r)
	}
	return t, nil
}

// Progress is a task's checkpoint.
type Progress struct {
	// Batches is how many of the task's batches are queued; a re-run skips
	// them.
	Batches          int  `json:"batches"`
	Done             bool `json:"done"`
	Members          int  `json:"members"`
	CohortDevices    int  `json:"cohortDevices"`
	UnparsedVersions int  `json:"unparsedVersions"`
	// UnknownUserIDs are the named ids no user has: all of them for
	// userIds, the first UnknownSample of a file range. Unknown counts
	// them all.
	UnknownUserIDs []string `json:"unknownUserIds,omitempty"`
	Unknown        int      `json:"unknown,omitempty"`
	// InvalidLines counts an audience file's lines that named no id, by
	// reason (audience.Line*).
	InvalidLines map[string]int `json:"invalidLines,omitempty"`
	// ETag and Parts are a file's split: the version planned and its
	// number of ranges.
	ETag  string `json:"etag,omitempty"`
	Parts int    `json:"parts,omitempty"`
	// Sample is the first SampleSize member ids of the shard: what preview
	// reads locales from before anything is sent.
	Sample []string `json:"sample,omitempty"`
	// Fingerprint sums a hash of each member id: the tasks' fingerprints add
	// up to the audience's, whatever order they finish in.
	Fingerprint uint64 `json:"fingerprint"`
}

// Store keeps task checkpoints.
type Store interface {
	Progress(ctx context.Context, t Task) (Progress, error)
	Save(ctx context.Context, t Task, p Progress) error
	// Finish records a task done and counts it on the incident, once
	// however often it is called.
	Finish(ctx context.Context, t Task, p Progress) error
	// ReadyToFreeze reports whether every task of the incident has
	// finished and its audience is not frozen yet.
	ReadyToFreeze(ctx context.Context, incidentID string) (bool, error)
	// Freeze totals every task's progress into the incident, once however
	// often it is called.
	Freeze(ctx context.Context, incidentID string) error
}

// Queue takes recipient batch messages.
type Queue interface {
	Send(ctx context.Context, bodies [][]byte) error
}

// Releaser decides what follows a frozen audience: sending, or waiting
// for approval (package lifecycle).
type Releaser interface {
	Frozen(ctx context.Context, incidentID string) error
}

// Planner runs planning tasks.
type Planner struct {
	Store     Store
	Directory audience.Directory
	Queue     Queue
	Releaser  Releaser
	BatchSize int
	Log       *slog.Logger
	// Files, Expander, Tasks and Lookup plan audience files: the files
	// are read from Files, a file's range tasks are counted on the
	// incident by Expander and queued on Tasks (the planning queue), and
	// a range's ids are looked up with Lookup.
	Files    Files
	Expander Expander
	Tasks    dispatch.Queue
	Lookup   Lookup
	// RangeBytes is the size of a file's ranges; zero means
	// audience.RangeBytes.
	RangeBytes int64
}

// SampleSize is how many member ids a task keeps for preview: 64 shards
// give a cohort notice a sample of 1,280.
const SampleSize = 20

// sendChunk is how many batches are queued between checkpoints: one
// SendMessageBatch call. A crash between the call and its checkpoint queues
// at most these again, and the ledger keeps anyone from being notified twice.
const sendChunk = 10

// Run plans one task, from its checkpoint. The shard is resolved in full and
// sorted by user id, so a re-run rebuilds the same batches and skips those
// already queued. Users whose records change between two runs of a task
// (rare: a run takes seconds) are planned as they are in the last run.
func (p *Planner) Run(ctx context.Context, t Task) (Progress, error) {
	prog, err := p.Store.Progress(ctx, t)
	if err != nil {
		return prog, fmt.Errorf("task %s/%s: read checkpoint: %w", t.IncidentID, t.ID(), err)
	}
	if !prog.Done {
		plan := p.plan
		if t.Notice.Audience.File != "" && t.Range == nil {
			plan = p.split
		}
		if prog, err = plan(ctx, t, prog); err != nil {
			return prog, err
		}
	}
	// Asked even of a task that was done before: if freezing failed after
	// the last task finished, its redelivery is what freezes the audience.
	ready, err := p.Store.ReadyToFreeze(ctx, t.IncidentID)
	if err != nil {
		return prog, fmt.Errorf("task %s/%s: read planning progress: %w", t.IncidentID, t.ID(), err)
	}
	if ready {
		if err := p.Store.Freeze(ctx, t.IncidentID); err != nil {
			return prog, fmt.Errorf("task %s/%s: freeze audience: %w", t.IncidentID, t.ID(), err)
		}
		if err := p.Releaser.Frozen(ctx, t.IncidentID); err != nil {
			return prog, fmt.Errorf("task %s/%s: after freezing: %w", t.IncidentID, t.ID(), err)
		}
	}
	return prog, nil
}

func (p *Planner) plan(ctx context.Context, t Task, prog Progress) (Progress, error) {
	var (
		r       audience.Resolution
		invalid map[string]int
		err     error
	)
	if t.Range != nil {
		r, invalid, err = p.resolveRange(ctx, t)
	} else {
		r, err = audience.Resolve(ctx, p.Directory, t.Notice.Audience, t.Shard)
	}
	if err != nil {
		return prog, fmt.Errorf("task %s/%s: %w", t.IncidentID, t.ID(), err)
	}
	var bodies [][]byte
	if !t.Count {
		var err error
		if bodies, err = p.batches(t, r.Members); err != nil {
			return prog, err
		}
	}
	for prog.Batches < len(bodies) {
		end := min(prog.Batches+sendChunk, len(bodies))
		if err := p.Queue.Send(ctx, bodies[prog.Batches:end]); err != nil {
			return prog, fmt.Errorf("task %s/%s: queue batches: %w", t.IncidentID, t.ID(), err)
		}
		prog.Batches = end
		if err := p.Store.Save(ctx, t, prog); err != nil {
			return prog, fmt.Errorf("task %s/%s: checkpoint: %w", t.IncidentID, t.ID(), err)
		}
	}
	prog.Done = true
	prog.Members, prog.CohortDevices, prog.UnparsedVersions, prog.UnknownUserIDs = len(r.Members), r.CohortDevices, r.UnparsedVersions, r.UnknownUserIDs
	prog.Unknown, prog.InvalidLines = len(r.UnknownUserIDs), invalid
	if t.Range != nil {
		// A file may name millions of unknown ids: a sample is enough to
		// see what went wrong, and keeps the checkpoint an item.
		prog.UnknownUserIDs = r.UnknownUserIDs[:min(UnknownSample, len(r.UnknownUserIDs))]
	}
	prog.Fingerprint = fingerprint(t.NoticeID, r.Members)
	for _, m := range r.Members[:min(SampleSize, len(r.Members))] {
		prog.Sample = append(prog.Sample, m.UserID)
	}
	if err := p.Store.Finish(ctx, t, prog); err != nil {
		return prog, fmt.Errorf("task %s/%s: finish: %w", t.IncidentID, t.ID(), err)
	}
	if prog.Members > 0 || prog.Unknown > 0 || len(invalid) > 0 {
		p.Log.InfoContext(ctx, "task planned", "incidentId", t.IncidentID, "task", t.ID(), "members", prog.Members,
			"batches", prog.Batches, "unparsedVersions", prog.UnparsedVersions, "unknownUserIds", prog.Unknown, "invalidLines", invalid)
	}
	return prog, nil
}

func (p *Planner) batches(t Task, members []audience.Member) ([][]byte, error) {
	size := max(p.BatchSize, 1)
	var bodies [][]byte
	for start := 0; start < len(members); start += size {
		b := dispatch.Batch{
			IncidentID: t.IncidentID, NoticeID: t.NoticeID, Template: t.Notice.Template,
			Channels: t.Notice.Routes(), FixedVersion: t.Notice.FixedVersion,
			Members: members[start:min(start+size, len(members))],
		}
		if len(t.Notice.Fallback) > 0 {
			b.Fallback, b.FallbackAfterSeconds = true, int(t.Notice.FallbackWait().Seconds())
		}
		body, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("task %s/%s: encode batch: %w", t.IncidentID, t.ID(), err)
		}
		bodies = append(bodies, body)
	}
	return bodies, nil
}

func fingerprint(noticeID string, members []audience.Member) uint64 {
	var sum uint64
	for _, m := range members {
		h := sha256.Sum256([]byte(noticeID + "\x00" + m.UserID))
		sum += binary.BigEndian.Uint64(h[:8])
	}
	return sum
}

// TaskProgress is one task's checkpoint, as Freeze reads them back.
type TaskProgress struct {
	NoticeID, Template string
	Progress
}

// ErrIncomplete: Freeze was asked before every task finished.
var ErrIncomplete = errors.New("planning incomplete")

// Total sums the tasks of an incident into its frozen audience.
func Total(tasks []TaskProgress) (incident.FrozenAudience, error) {
	var a incident.FrozenAudience
	byNotice := map[string]*incident.NoticeTotals{}
	var order []string
	var fp uint64
	for _, t := range tasks {
		if !t.Done {
			return a, fmt.Errorf("%w: %s has not finished", ErrIncomplete, t.NoticeID)
		}
		n, ok := byNotice[t.NoticeID]
		if !ok {
			n = &incident.NoticeTotals{NoticeID: t.NoticeID, Template: t.Template}
			byNotice[t.NoticeID] = n
			order = append(order, t.NoticeID)
		}
		n.Members += t.Members
		n.CohortDevices += t.CohortDevices
		n.UnparsedVersions += t.UnparsedVersions
		n.UnknownUserIDs = append(n.UnknownUserIDs, t.UnknownUserIDs...)
		n.Unknown += t.Unknown
		for reason, c := range t.InvalidLines {
			if n.InvalidLines == nil {
				n.InvalidLines = map[string]int{}
			}
			n.InvalidLines[reason] += c
		}
		n.Messages += t.Batches
		a.Members += t.Members
		fp += t.Fingerprint
	}
	slices.Sort(order)
	for _, id := range order {
		n := byNotice[id]
		slices.Sort(n.UnknownUserIDs)
		// An explicit list holds at most incident.MaxUserIDs; a file's
		// samples are cut to as many, so the record stays an item.
		n.UnknownUserIDs = n.UnknownUserIDs[:min(len(n.UnknownUserIDs), incident.MaxUserIDs)]
		a.Notices = append(a.Notices, *n)
	}
	a.Hash = fmt.Sprintf("%016x", fp)
	return a, nil
}
