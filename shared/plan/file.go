package plan

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"breachnotify/shared/audience"
)

// Files reads audience files (package objstore).
type Files interface {
	// Stat returns the file's size and entity tag.
	Stat(ctx context.Context, key string) (audience.FileInfo, error)
	// Open reads the file from offset on, failing with
	// audience.ErrFileChanged unless its entity tag is still etag.
	Open(ctx context.Context, key, etag string, offset int64) (io.ReadCloser, error)
}

// Lookup says which of many ids belong to users (package dynamo's
// UserLookup, which looks up a range's ids in parallel).
type Lookup interface {
	Existing(ctx context.Context, ids []string) ([]string, error)
}

// Expander counts a file's range tasks on the incident.
type Expander interface {
	// Expand records the split task's checkpoint (its ETag and Parts) and
	// adds p.Parts to the incident's number of tasks, once however often
	// it is called: the range tasks are then awaited before the audience
	// freezes.
	Expand(ctx context.Context, t Task, p Progress) error
}

// UnknownSample is how many unknown ids a file range keeps for the report.
const UnknownSample = 20

// split plans a file notice: it pins the file's version, cuts it into
// ranges, counts them on the incident and queues a task per range; the
// ranges are then planned like shards. The count is recorded before the
// tasks are queued, so the audience cannot freeze without them; a re-run
// queues them again, and a range already planned is a no-op.
func (p *Planner) split(ctx context.Context, t Task, prog Progress) (Progress, error) {
	if p.Files == nil || p.Expander == nil || p.Tasks == nil {
		return prog, fmt.Errorf("task %s/%s: this planner reads no audience files", t.IncidentID, t.ID())
	}
	key := t.Notice.Audience.File
	info, err := p.Files.Stat(ctx, key)
	if err != nil {
		return prog, fmt.Errorf("task %s/%s: read audience file: %w", t.IncidentID, t.ID(), err)
	}
	pinned := prog.ETag
	if pinned == "" && !t.Count {
		// The sending pass of a counted incident plans the file that was
		// counted (and approved), or nothing.
		counted := t
		counted.Count = true
		cp, err := p.Store.Progress(ctx, counted)
		if err != nil {
			return prog, fmt.Errorf("task %s/%s: read counted checkpoint: %w", t.IncidentID, t.ID(), err)
		}
		pinned = cp.ETag
	}
	if pinned != "" && pinned != info.ETag {
		return prog, fmt.Errorf("task %s/%s: %w: planned version %s, now %s", t.IncidentID, t.ID(), audience.ErrFileChanged, pinned, info.ETag)
	}
	gz, err := p.isGzip(ctx, key, info)
	if err != nil {
		return prog, fmt.Errorf("task %s/%s: %w", t.IncidentID, t.ID(), err)
	}
	if gz && info.Size > audience.MaxGzipBytes {
		return prog, fmt.Errorf("task %s/%s: %w: %d bytes, more than %d; upload it uncompressed", t.IncidentID, t.ID(), audience.ErrFileTooLarge, info.Size, audience.MaxGzipBytes)
	}
	part := p.RangeBytes
	if part <= 0 {
		part = audience.RangeBytes
	}
	tasks := rangeTasks(t, info, part, gz)
	prog.ETag, prog.Parts = info.ETag, len(tasks)
	if err := p.Expander.Expand(ctx, t, prog); err != nil {
		return prog, fmt.Errorf("task %s/%s: count range tasks: %w", t.IncidentID, t.ID(), err)
	}
	bodies := make([][]byte, 0, len(tasks))
	for _, rt := range tasks {
		b, err := rt.Encode()
		if err != nil {
			return prog, err
		}
		bodies = append(bodies, b)
	}
	for start := 0; start < len(bodies); start += sendChunk {
		if err := p.Tasks.Send(ctx, bodies[start:min(start+sendChunk, len(bodies))]); err != nil {
			return prog, fmt.Errorf("task %s/%s: queue range tasks: %w", t.IncidentID, t.ID(), err)
		}
	}
	prog.Done = true
	if err := p.Store.Finish(ctx, t, prog); err != nil {
		return prog, fmt.Errorf("task %s/%s: finish: %w", t.IncidentID, t.ID(), err)
	}
	p.Log.InfoContext(ctx, "audience file split", "incidentId", t.IncidentID, "task", t.ID(), "bytes", info.Size, "gzip", gz, "ranges", len(tasks))
	return prog, nil
}

// rangeTasks are the tasks that plan a file's ranges: one for a
// compressed file, which can only be read from its start.
func rangeTasks(t Task, info audience.FileInfo, part int64, gz bool) []Task {
	ranges := audience.Ranges(info.Size, part)
	if gz {
		ranges = []audience.Range{{Start: 0, End: 0}}
	}
	out := make([]Task, len(ranges))
	for i, r := range ranges {
		rt := t
		rt.Range = &FileRange{Part: i, Range: r, ETag: info.ETag, Gzip: gz}
		out[i] = rt
	}
	return out
}

func (p *Planner) isGzip(ctx context.Context, key string, info audience.FileInfo) (bool, error) {
	if info.Size < 2 {
		return false, nil
	}
	rc, err := p.Files.Open(ctx, key, info.ETag, 0)
	if err != nil {
		return false, fmt.Errorf("read audience file: %w", err)
	}
	defer rc.Close()
	head := make([]byte, 2)
	if _, err := io.ReadFull(rc, head); err != nil {
		return false, fmt.Errorf("read audience file: %w", err)
	}
	return audience.IsGzip(head), nil
}

// resolveRange reads the ids of a file range and looks them up: members
// are the ids that belong to a user, sorted, each once.
func (p *Planner) resolveRange(ctx context.Context, t Task) (audience.Resolution, map[string]int, error) {
	var r audience.Resolution
	ids, invalid, err := p.readRange(ctx, t)
	if err != nil {
		return r, nil, err
	}
	slices.Sort(ids)
	if n := len(ids); n > 0 {
		ids = slices.Compact(ids)
		if d := n - len(ids); d > 0 {
			invalid[audience.LineDuplicate] += d
		}
	}
	var found []string
	if len(ids) > 0 {
		if found, err = p.Lookup.Existing(ctx, ids); err != nil {
			return r, nil, fmt.Errorf("look up user ids: %w", err)
		}
	}
	known := make(map[string]bool, len(found))
	for _, id := range found {
		known[id] = true
	}
	for _, id := range ids {
		if known[id] {
			r.Members = append(r.Members, audience.Member{UserID: id, AllDevices: true})
		} else {
			r.UnknownUserIDs = append(r.UnknownUserIDs, id)
		}
	}
	if len(invalid) == 0 {
		invalid = nil
	}
	return r, invalid, nil
}

// readRange returns the ids of the lines in the task's range, with the
// invalid lines counted by reason.
func (p *Planner) readRange(ctx context.Context, t Task) ([]string, map[string]int, error) {
	if p.Files == nil || p.Lookup == nil {
		return nil, nil, errors.New("this planner reads no audience files")
	}
	fr := t.Range
	rc, err := p.Files.Open(ctx, t.Notice.Audience.File, fr.ETag, fr.ReadFrom())
	if err != nil {
		return nil, nil, fmt.Errorf("read audience file: %w", err)
	}
	defer rc.Close()
	var src io.Reader = rc
	var inflated *io.LimitedReader
	if fr.Gzip {
		zr, err := gzip.NewReader(rc)
		if err != nil {
			return nil, nil, fmt.Errorf("read audience file: %w", err)
		}
		defer zr.Close()
		inflated = &io.LimitedReader{R: zr, N: audience.MaxGzipBytes + 1}
		src = inflated
	}
	var ids []string
	invalid := map[string]int{}
	first := fr.Start == 0
	err = fr.Scan(src, func(line []byte) error {
		id, reason := audience.ParseLine(line, first)
		first = false
		switch {
		case reason != "":
			invalid[reason]++
		case id != "":
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read audience file: %w", err)
	}
	if inflated != nil && inflated.N == 0 {
		return nil, nil, fmt.Errorf("%w: more than %d bytes decompressed; upload it uncompressed", audience.ErrFileTooLarge, audience.MaxGzipBytes)
	}
	return ids, invalid, nil
}
