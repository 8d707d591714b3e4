package plan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"breachnotify/shared/audience"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/version"
)

var errUnavailable = errors.New("service unavailable")

// memStore implements the Store contract in memory: Progress is zero for a
// task without a checkpoint; Save keeps a checkpoint; Finish marks a task
// done once, counting it toward the incident's number of tasks;
// ReadyToFreeze says whether that count has reached the number and nothing
// is frozen yet; Freeze totals every
// checkpoint of the incident with Total and keeps the first audience it
// computes.
type memStore struct {
	mu sync.Mutex
	// tasks is each incident's number of tasks (the incident record's
	// "tasks", written by intake).
	tasks    map[string]int
	finished map[string]int
	progress map[string]map[string]TaskProgress // incident → task id → checkpoint
	frozen   map[string]incident.FrozenAudience
	// events lists calls in order: "save <task>", "finish <task>",
	// "freeze <incident>".
	events []string
	// progressErr, saveErr and finishErr fail every call of the method;
	// freezeFails fails that many Freeze calls, then lets them through.
	progressErr, saveErr, finishErr error
	freezeFails                     int
}

func newMemStore() *memStore {
	return &memStore{tasks: map[string]int{}, finished: map[string]int{},
		progress: map[string]map[string]TaskProgress{}, frozen: map[string]incident.FrozenAudience{}}
}

func (s *memStore) Progress(_ context.Context, t Task) (Progress, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.progressErr != nil {
		return Progress{}, s.progressErr
	}
	p := s.progress[t.IncidentID][t.ID()].Progress
	p.UnknownUserIDs = slices.Clone(p.UnknownUserIDs)
	return p, nil
}

func (s *memStore) put(t Task, p Progress) {
	if s.progress[t.IncidentID] == nil {
		s.progress[t.IncidentID] = map[string]TaskProgress{}
	}
	p.UnknownUserIDs = slices.Clone(p.UnknownUserIDs)
	s.progress[t.IncidentID][t.ID()] = TaskProgress{NoticeID: t.NoticeID, Template: t.Notice.Template, Progress: p}
}

func (s *memStore) Save(_ context.Context, t Task, p Progress) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saveErr != nil {
		return s.saveErr
	}
	s.events = append(s.events, "save "+t.ID())
	s.put(t, p)
	return nil
}

func (s *memStore) Finish(_ context.Context, t Task, p Progress) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finishErr != nil {
		return s.finishErr
	}
	s.events = append(s.events, "finish "+t.ID())
	if s.progress[t.IncidentID][t.ID()].Done {
		return nil
	}
	s.put(t, p)
	s.finished[t.IncidentID]++
	return nil
}

func (s *memStore) ReadyToFreeze(_ context.Context, incidentID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.tasks[incidentID]
	_, frozen := s.frozen[incidentID]
	return n > 0 && s.finished[incidentID] >= n && !frozen, nil
}

func (s *memStore) Freeze(_ context.Context, incidentID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, "freeze "+incidentID)
	if s.freezeFails > 0 {
		s.freezeFails--
		return errUnavailable
	}
	var tasks []TaskProgress
	for _, tp := range s.progress[incidentID] { // map order: any order
		tasks = append(tasks, tp)
	}
	a, err := Total(tasks)
	if err != nil {
		return err
	}
	if _, ok := s.frozen[incidentID]; !ok {
		s.frozen[incidentID] = a
	}
	return nil
}

// count counts the events starting with prefix.
func (s *memStore) count(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.events {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

// checkpoint is a task's stored progress.
func (s *memStore) checkpoint(t Task) (TaskProgress, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tp, ok := s.progress[t.IncidentID][t.ID()]
	return tp, ok
}

// dirDevice is one device in the fake directory.
type dirDevice struct{ user, id, platform, version string }

// cohortCall is one Cohort query.
type cohortCall struct {
	platform string
	shard    int
}

// fakeDirectory is an in-memory audience.Directory that, like the sharded
// cohort index, answers a Cohort query from one shard only, in version key
// order. It records the queries it answers.
type fakeDirectory struct {
	mu      sync.Mutex
	users   map[string]bool
	devices []dirDevice
	// existingErr and cohortErr fail every call of the method.
	existingErr, cohortErr error
	existing               [][]string
	cohorts                []cohortCall
	// index is the cohort index, built from devices on the first query:
	// each platform and shard's devices in version key order.
	index map[cohortCall][]indexEntry
}

type indexEntry struct {
	key   string
	match audience.Match
}

func (d *fakeDirectory) Existing(_ context.Context, ids []string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.existing = append(d.existing, slices.Clone(ids))
	if d.existingErr != nil {
		return nil, d.existingErr
	}
	var out []string
	for _, id := range ids {
		if d.users[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

func (d *fakeDirectory) Cohort(_ context.Context, platform string, shard int, below version.Version, yield func(audience.Match) error) error {
	d.mu.Lock()
	call := cohortCall{platform, shard}
	d.cohorts = append(d.cohorts, call)
	err := d.cohortErr
	if d.index == nil {
		d.index = map[cohortCall][]indexEntry{}
		for _, dev := range d.devices {
			k := version.KeyOf(dev.version)
			c := cohortCall{dev.platform, audience.UserShard(dev.user)}
			d.index[c] = append(d.index[c], indexEntry{k, audience.Match{UserID: dev.user, DeviceID: dev.id, UnparsedVersion: version.IsUnparsedKey(k)}})
		}
		for _, entries := range d.index {
			slices.SortStableFunc(entries, func(a, b indexEntry) int { return strings.Compare(a.key, b.key) })
		}
	}
	entries := d.index[call]
	d.mu.Unlock()
	if err != nil {
		return err
	}
	key := below.Key()
	for _, e := range entries {
		if e.key >= key {
			break
		}
		if err := yield(e.match); err != nil {
			return err
		}
	}
	return nil
}

// calls returns how many Existing and Cohort calls were made so far.
func (d *fakeDirectory) calls() (existing, cohorts int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.existing), len(d.cohorts)
}

// newDirectory holds users ids, with devices by their position i:
// i%4 == 0: android 8.8.2 (affected below 8.9.0);
// i%4 == 1: android 9.0 (fixed);
// i%4 == 2: android "beta" (unparsed, so affected) and ios 1.0;
// i%4 == 3: android 7.1 and 8.0 (two affected devices);
// every 5th user also has ios 3.0, every 7th has no device at all.
func newDirectory(ids []string) *fakeDirectory {
	d := &fakeDirectory{users: map[string]bool{}}
	for i, id := range ids {
		d.users[id] = true
		if i%7 == 6 {
			continue
		}
		dev := func(n int, platform, v string) {
			d.devices = append(d.devices, dirDevice{id, fmt.Sprintf("d-%s-%d", id, n), platform, v})
		}
		switch i % 4 {
		case 0:
			dev(0, "android", "8.8.2")
		case 1:
			dev(0, "android", "9.0")
		case 2:
			dev(0, "android", "beta")
			dev(1, "ios", "1.0")
		case 3:
			dev(0, "android", "7.1")
			dev(1, "android", "8.0")
		}
		if i%5 == 0 {
			dev(2, "ios", "3.0")
		}
	}
	return d
}

// queuedBatches decodes the bodies queued from index from on, the way the worker
// does.
func queuedBatches(q *fake.Queue, from int) ([]dispatch.Batch, error) {
	var out []dispatch.Batch
	for _, body := range q.Bodies()[from:] {
		b, err := dispatch.ParseBatch(body)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// env is a Planner wired to fakes.
type env struct {
	planner   *Planner
	store     *memStore
	directory *fakeDirectory
	queue     *fake.Queue
	released  *releaser
	// files are the audience files; tasks the planning queue, where a
	// file's split queues its range tasks.
	files *memFiles
	tasks *fake.Queue
}

// releaser counts the Frozen calls per incident.
type releaser struct {
	mu    sync.Mutex
	calls map[string]int
}

func (r *releaser) Frozen(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[id]++
	return nil
}

func newEnv(dir *fakeDirectory, batchSize int) *env {
	e := &env{store: newMemStore(), directory: dir, queue: &fake.Queue{}, released: &releaser{calls: map[string]int{}}}
	e.files, e.tasks = newMemFiles(), &fake.Queue{}
	e.planner = &Planner{Store: e.store, Directory: dir, Queue: e.queue, Releaser: e.released, BatchSize: batchSize, Log: slog.New(slog.DiscardHandler),
		Files: e.files, Expander: e.store, Tasks: e.tasks, Lookup: dir}
	return e
}

// Expand records a file's split once, adding its parts to the incident's
// number of tasks.
func (s *memStore) Expand(_ context.Context, t Task, p Progress) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, "expand "+t.ID())
	if s.progress[t.IncidentID][t.ID()].Parts > 0 || s.progress[t.IncidentID][t.ID()].ETag != "" {
		return nil
	}
	s.put(t, p)
	s.tasks[t.IncidentID] += p.Parts
	return nil
}

// memFiles is an in-memory bucket of audience files: each write makes a
// new version, with a new entity tag, as S3 does. Open fails with
// audience.ErrFileChanged when the tag asked for is not the current one.
type memFiles struct {
	mu      sync.Mutex
	files   map[string][]byte
	etags   map[string]string
	version int
}

func newMemFiles() *memFiles {
	return &memFiles{files: map[string][]byte{}, etags: map[string]string{}}
}

func (f *memFiles) put(key string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	f.files[key], f.etags[key] = data, fmt.Sprintf(`"v%d"`, f.version)
}

func (f *memFiles) Stat(_ context.Context, key string) (audience.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, ok := f.files[key]
	if !ok {
		return audience.FileInfo{}, audience.ErrFileMissing
	}
	return audience.FileInfo{Size: int64(len(data)), ETag: f.etags[key]}, nil
}

func (f *memFiles) Open(_ context.Context, key, etag string, offset int64) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, ok := f.files[key]
	if !ok || f.etags[key] != etag {
		return nil, audience.ErrFileChanged
	}
	return io.NopCloser(bytes.NewReader(data[offset:])), nil
}
