package plan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"breachnotify/shared/audience"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/version"
)

const (
	incID = "INC-2014-0527"
	title = "Unauthorised access to internal systems"
)

// testUsers is the directory of most tests: 400 users spread over every
// shard.
var testUsers = fake.UserIDsInShards(400, fake.AnyShard)

// testIncident has two notices over users: the first names 30 users (one of
// them twice) and two unknown ids; the second is an android and ios cohort
// below 8.9.0 (android listed twice) together with two named users, one of
// whom the cohort also matches.
func testIncident(users []string) incident.Incident {
	explicit := append(slices.Clone(users[:30]), users[1], "x-404", "x-405")
	return incident.Incident{
		ID: incID, Status: incident.Confirmed, Title: title,
		Notices: []incident.Notice{
			{Template: "account-accessed", Channels: []incident.Channel{incident.Email, incident.Push}, Audience: incident.Audience{UserIDs: explicit}},
			{
				Template: "update-app", Channels: []incident.Channel{incident.Push},
				Audience: incident.Audience{
					UserIDs:   []string{users[1], users[5]},
					Platforms: []string{"android", "ios", "android"}, AppVersionBelow: "8.9.0",
				},
				FixedVersion: "8.9.0",
			},
		},
	}
}

// allShardTasks plans every notice of in for every shard, whether or not
// the shard can hold the notice's audience.
func allShardTasks(in incident.Incident) []Task {
	var out []Task
	for i, n := range in.Notices {
		for shard := range audience.Shards {
			out = append(out, Task{IncidentID: in.ID, NoticeID: incident.NoticeID(i, n.Template), Notice: n, Shard: shard})
		}
	}
	return out
}

// expected is an audience resolved the plain way, from the whole
// directory: what planning every shard must add up to.
type expected struct {
	members       map[string]audience.Member
	unknown       []string
	cohortDevices int
	unparsed      int
}

func resolveAll(d *fakeDirectory, a incident.Audience) expected {
	want := expected{members: map[string]audience.Member{}}
	for _, id := range a.UserIDs {
		switch {
		case d.users[id]:
			want.members[id] = audience.Member{UserID: id, AllDevices: true}
		case !slices.Contains(want.unknown, id):
			want.unknown = append(want.unknown, id)
		}
	}
	slices.Sort(want.unknown)
	if a.HasCohort() {
		below, err := version.Parse(a.AppVersionBelow)
		if err != nil {
			panic(err)
		}
		for _, dev := range d.devices {
			if !slices.Contains(a.Platforms, dev.platform) {
				continue
			}
			v, err := version.Parse(dev.version)
			if err == nil && v.Compare(below) >= 0 {
				continue
			}
			want.cohortDevices++
			if err != nil {
				want.unparsed++
			}
			m := want.members[dev.user]
			m.UserID = dev.user
			if !m.AllDevices {
				m.DeviceIDs = append(m.DeviceIDs, dev.id)
				slices.Sort(m.DeviceIDs)
			}
			want.members[dev.user] = m
		}
	}
	return want
}

// runAll runs tasks in order, as the only tasks of their incident.
func (e *env) runAll(t *testing.T, tasks []Task) {
	t.Helper()
	e.store.tasks[incID] = len(tasks)
	for _, task := range tasks {
		if _, err := e.planner.Run(context.Background(), task); err != nil {
			t.Fatalf("Run %s: %v", task.ID(), err)
		}
	}
}

func TestRun(t *testing.T) {
	in := testIncident(testUsers)
	taskSets := []struct {
		name  string
		tasks []Task
	}{
		{"every shard", allShardTasks(in)},
		{"plan.Tasks", Tasks(in, false)},
	}
	for _, ts := range taskSets {
		for _, size := range []int{1, 3, 7, 1000} {
			t.Run(fmt.Sprintf("%s/batch size %d", ts.name, size), func(t *testing.T) {
				t.Parallel()
				e := newEnv(newDirectory(testUsers), size)
				e.store.tasks[incID] = len(ts.tasks)
				got := map[string]map[string]audience.Member{} // notice id → user id → member
				for _, task := range ts.tasks {
					queued := e.queue.Len()
					ex0, co0 := e.directory.calls()
					prog, err := e.planner.Run(context.Background(), task)
					if err != nil {
						t.Fatalf("Run %s: %v", task.ID(), err)
					}
					// The directory is asked about the task's shard only.
					for _, ids := range e.directory.existing[ex0:] {
						for _, id := range ids {
							if audience.UserShard(id) != task.Shard {
								t.Errorf("task %s looked up %s of shard %d", task.ID(), id, audience.UserShard(id))
							}
						}
					}
					for _, c := range e.directory.cohorts[co0:] {
						if c.shard != task.Shard {
							t.Errorf("task %s queried cohort %+v", task.ID(), c)
						}
					}
					batches, err := queuedBatches(e.queue, queued)
					if err != nil {
						t.Fatalf("task %s queued a batch that does not parse: %v", task.ID(), err)
					}
					members := checkBatches(t, task, batches, size)
					if !prog.Done || prog.Batches != len(batches) || prog.Members != len(members) {
						t.Errorf("task %s progress %+v, want done with %d batches and %d members", task.ID(), prog, len(batches), len(members))
					}
					if want := (len(members) + size - 1) / size; len(batches) != want {
						t.Errorf("task %s queued %d batches for %d members, want %d", task.ID(), len(batches), len(members), want)
					}
					if got[task.NoticeID] == nil {
						got[task.NoticeID] = map[string]audience.Member{}
					}
					for _, m := range members {
						if _, dup := got[task.NoticeID][m.UserID]; dup {
							t.Errorf("%s: %s queued twice", task.NoticeID, m.UserID)
						}
						got[task.NoticeID][m.UserID] = m
					}
				}
				for i, n := range in.Notices {
					id := incident.NoticeID(i, n.Template)
					want := resolveAll(e.directory, n.Audience)
					if len(want.members) == 0 {
						t.Fatalf("test bug: notice %s reaches nobody", id)
					}
					if !reflect.DeepEqual(got[id], want.members) {
						t.Errorf("notice %s: queued members\n  %v\nwant\n  %v", id, sortedMembers(got[id]), sortedMembers(want.members))
					}
				}
				for i, n := range e.queue.Sizes() {
					if n > sendChunk {
						t.Errorf("Send %d queued %d bodies, more than one SendMessageBatch (%d)", i, n, sendChunk)
					}
				}
			})
		}
	}
}

func byUserID(a, b audience.Member) int { return strings.Compare(a.UserID, b.UserID) }

func sortedMembers(m map[string]audience.Member) []audience.Member {
	return slices.SortedFunc(maps.Values(m), byUserID)
}

// checkBatches checks a task's batches and returns their members in order.
func checkBatches(t *testing.T, task Task, batches []dispatch.Batch, size int) []audience.Member {
	t.Helper()
	var members []audience.Member
	for i, b := range batches {
		if b.IncidentID != task.IncidentID || b.NoticeID != task.NoticeID || b.Template != task.Notice.Template ||
			!slices.Equal(b.Channels, task.Notice.Channels) || b.FixedVersion != task.Notice.FixedVersion {
			t.Errorf("task %s batch %d = %+v, want the task's incident and notice", task.ID(), i, b)
		}
		if len(b.Members) == 0 || len(b.Members) > size {
			t.Errorf("task %s batch %d has %d members, want 1 to %d", task.ID(), i, len(b.Members), size)
		}
		for _, m := range b.Members {
			if audience.UserShard(m.UserID) != task.Shard {
				t.Errorf("task %s batch %d: %s is in shard %d", task.ID(), i, m.UserID, audience.UserShard(m.UserID))
			}
			if m.AllDevices == (len(m.DeviceIDs) > 0) {
				t.Errorf("task %s batch %d: member %+v must have all devices or some device ids", task.ID(), i, m)
			}
		}
		members = append(members, b.Members...)
	}
	// Sorted by user id: a re-run rebuilds the same batches.
	if !slices.IsSortedFunc(members, byUserID) {
		t.Errorf("task %s members are not in user id order", task.ID())
	}
	return members
}

// TestRunResumes: a run that stops part way resumes from its checkpoint; over
// both runs every member is queued once (or, when the checkpoint after a
// send is lost, at most one SendMessageBatch again).
func TestRunResumes(t *testing.T) {
	ids := fake.UserIDsInShards(25, fake.InShard(7))
	task := Task{IncidentID: incID, NoticeID: "n0-account-accessed", Shard: 7,
		Notice: incident.Notice{Template: "account-accessed", Channels: []incident.Channel{incident.Email}, Audience: incident.Audience{UserIDs: ids}}}
	tests := []struct {
		name   string
		before func(*env)
		// wantCheckpoint is the stored checkpoint's batches after the failed
		// run; wantQueued how many batches that run queued; wantTwice how
		// many members the two runs queue twice.
		wantCheckpoint, wantQueued, wantTwice int
	}{
		{"first send fails", func(e *env) { e.queue.Fail = fake.FailOn(errUnavailable, 1) }, 0, 0, 0},
		{"second send fails", func(e *env) { e.queue.Fail = fake.FailOn(errUnavailable, 2) }, 10, 10, 0},
		{"third send fails", func(e *env) { e.queue.Fail = fake.FailOn(errUnavailable, 3) }, 20, 20, 0},
		{"checkpoint fails", func(e *env) { e.store.saveErr = errUnavailable }, 0, 10, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(newDirectory(ids), 1)
			e.store.tasks[incID] = 1
			tc.before(e)
			if _, err := e.planner.Run(context.Background(), task); !errors.Is(err, errUnavailable) {
				t.Fatalf("first Run error = %v, want %v", err, errUnavailable)
			}
			cp, _ := e.store.checkpoint(task)
			if cp.Batches != tc.wantCheckpoint || cp.Done {
				t.Errorf("checkpoint after the failure = %+v, want %d batches, not done", cp.Progress, tc.wantCheckpoint)
			}
			if n := e.queue.Len(); n != tc.wantQueued {
				t.Errorf("failed run queued %d batches, want %d", n, tc.wantQueued)
			}
			if n := e.store.count("finish"); n != 0 {
				t.Errorf("failed run finished the task %d times", n)
			}

			e.queue.Fail, e.store.saveErr = nil, nil
			queued := e.queue.Len()
			prog, err := e.planner.Run(context.Background(), task)
			if err != nil {
				t.Fatalf("second Run: %v", err)
			}
			if n := e.queue.Len() - queued; n != len(ids)-tc.wantCheckpoint {
				t.Errorf("resumed run queued %d batches, want the remaining %d", n, len(ids)-tc.wantCheckpoint)
			}
			if !prog.Done || prog.Batches != len(ids) || prog.Members != len(ids) {
				t.Errorf("progress = %+v, want done with %d batches and members", prog, len(ids))
			}
			batches, err := queuedBatches(e.queue, 0)
			if err != nil {
				t.Fatal(err)
			}
			times := map[string]int{}
			for _, b := range batches {
				for _, m := range b.Members {
					times[m.UserID]++
				}
			}
			twice := 0
			for _, id := range ids {
				switch times[id] {
				case 1:
				case 2:
					twice++
				default:
					t.Errorf("%s queued %d times", id, times[id])
				}
			}
			if twice != tc.wantTwice || len(times) != len(ids) {
				t.Errorf("%d members queued twice, %d distinct; want %d twice, %d distinct", twice, len(times), tc.wantTwice, len(ids))
			}
			if f, z := e.store.count("finish"), e.store.count("freeze"); f != 1 || z != 1 {
				t.Errorf("finished %d and froze %d times, want once each", f, z)
			}
		})
	}
}

// TestRunDoneTask: a finished task is not planned again.
func TestRunDoneTask(t *testing.T) {
	in := testIncident(testUsers)
	task := taskWithMembers(t, in, "n0-account-accessed")
	tests := []struct {
		name string
		// finish makes the task done and returns its progress.
		finish func(t *testing.T, e *env) Progress
	}{
		{"run before", func(t *testing.T, e *env) Progress {
			prog, err := e.planner.Run(context.Background(), task)
			if err != nil {
				t.Fatal(err)
			}
			if prog.Members == 0 {
				t.Fatalf("test bug: task %s has no members", task.ID())
			}
			return prog
		}},
		{"checkpoint says done", func(t *testing.T, e *env) Progress {
			p := Progress{Batches: 3, Done: true, Members: 5, UnknownUserIDs: []string{"x-404"}, Fingerprint: 42}
			e.store.put(task, p)
			e.store.finished[incID] = 1
			return p
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(newDirectory(testUsers), 2)
			e.store.tasks[incID] = len(Tasks(in, false))
			want := tc.finish(t, e)
			sends, finishes := e.queue.Calls(), e.store.count("finish")
			ex, co := e.directory.calls()
			got, err := e.planner.Run(context.Background(), task)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("re-run progress = %+v, want %+v", got, want)
			}
			if e.queue.Calls() != sends || e.store.count("finish") != finishes || e.store.count("freeze") != 0 {
				t.Errorf("re-run sent %d, finished %d, froze %d more times; want none",
					e.queue.Calls()-sends, e.store.count("finish")-finishes, e.store.count("freeze"))
			}
			if ex2, co2 := e.directory.calls(); ex2 != ex || co2 != co {
				t.Errorf("re-run resolved the audience again")
			}
		})
	}
}

// TestFreeze: the audience is frozen once, by the last task to finish, and
// sums every task's planning.
func TestFreeze(t *testing.T) {
	in := testIncident(testUsers)
	tasks := Tasks(in, false)
	e := newEnv(newDirectory(testUsers), 3)
	e.store.tasks[incID] = len(tasks)
	messages := map[string]int{}
	for i, task := range tasks {
		queued := e.queue.Len()
		if _, err := e.planner.Run(context.Background(), task); err != nil {
			t.Fatalf("Run %s: %v", task.ID(), err)
		}
		messages[task.NoticeID] += e.queue.Len() - queued
		if i < len(tasks)-1 && e.store.count("freeze") != 0 {
			t.Fatalf("frozen after task %d of %d", i+1, len(tasks))
		}
	}
	if n := e.store.count("freeze"); n != 1 {
		t.Fatalf("froze %d times, want once", n)
	}
	if last := e.store.events[len(e.store.events)-1]; last != "freeze "+incID {
		t.Errorf("last store call = %q, want the freeze after every finish", last)
	}
	// Redelivered tasks change nothing.
	for _, task := range tasks {
		if _, err := e.planner.Run(context.Background(), task); err != nil {
			t.Fatal(err)
		}
	}
	if f, z := e.store.count("finish"), e.store.count("freeze"); f != len(tasks) || z != 1 {
		t.Errorf("after redelivery: %d finishes, %d freezes; want %d and 1", f, z, len(tasks))
	}

	got, ok := e.store.frozen[incID]
	if !ok {
		t.Fatal("audience not frozen")
	}
	var want incident.FrozenAudience
	for i, n := range in.Notices {
		id := incident.NoticeID(i, n.Template)
		r := resolveAll(e.directory, n.Audience)
		want.Notices = append(want.Notices, incident.NoticeTotals{
			NoticeID: id, Template: n.Template, Members: len(r.members), CohortDevices: r.cohortDevices,
			UnparsedVersions: r.unparsed, UnknownUserIDs: r.unknown, Unknown: len(r.unknown), Messages: messages[id],
		})
		want.Members += len(r.members)
	}
	want.Hash = got.Hash
	if !reflect.DeepEqual(got, want) {
		t.Errorf("frozen audience =\n  %+v\nwant\n  %+v", got, want)
	}
	if want.Notices[0].UnknownUserIDs == nil || want.Notices[1].UnparsedVersions == 0 || want.Notices[0].Messages == 0 {
		t.Errorf("test bug: the example must have unknown ids, unparsed versions and messages: %+v", want)
	}
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(got.Hash) {
		t.Errorf("hash = %q, want 16 hex digits", got.Hash)
	}
}

// frozenAudience plans in with users in the given task order (or
// concurrently) and returns the frozen audience.
func frozenAudience(t *testing.T, users []string, in incident.Incident, batchSize int, order func([]Task), concurrent bool) incident.FrozenAudience {
	t.Helper()
	e := newEnv(newDirectory(users), batchSize)
	tasks := Tasks(in, false)
	order(tasks)
	e.store.tasks[incID] = len(tasks)
	if concurrent {
		var wg sync.WaitGroup
		errs := make(chan error, len(tasks))
		for _, task := range tasks {
			wg.Go(func() {
				if _, err := e.planner.Run(context.Background(), task); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	} else {
		e.runAll(t, tasks)
	}
	if n := e.store.count("freeze"); n != 1 {
		t.Fatalf("froze %d times, want once", n)
	}
	return e.store.frozen[incID]
}

func shuffle(seed uint64) func([]Task) {
	return func(ts []Task) {
		rand.New(rand.NewPCG(seed, seed)).Shuffle(len(ts), func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })
	}
}

func TestFreezeHash(t *testing.T) {
	in := testIncident(testUsers)
	keep := func([]Task) {}
	base := frozenAudience(t, testUsers, in, 3, keep, false)

	t.Run("independent of task order", func(t *testing.T) {
		orders := []struct {
			name       string
			order      func([]Task)
			concurrent bool
		}{
			{"reversed", slices.Reverse[[]Task], false},
			{"shuffled", shuffle(1), false},
			{"shuffled again", shuffle(7), false},
			{"concurrently", keep, true},
		}
		for _, o := range orders {
			t.Run(o.name, func(t *testing.T) {
				t.Parallel()
				if got := frozenAudience(t, testUsers, in, 3, o.order, o.concurrent); !reflect.DeepEqual(got, base) {
					t.Errorf("audience =\n  %+v\nwant (in order)\n  %+v", got, base)
				}
			})
		}
	})

	t.Run("independent of batch size", func(t *testing.T) {
		got := frozenAudience(t, testUsers, in, 50, keep, false)
		if got.Hash != base.Hash || got.Members != base.Members {
			t.Errorf("batch size 50: hash %s members %d, want %s %d", got.Hash, got.Members, base.Hash, base.Members)
		}
	})

	t.Run("differs with the audience", func(t *testing.T) {
		higher := testIncident(testUsers)
		higher.Notices[1].Audience.AppVersionBelow = "9.1"
		swapped := testIncident(testUsers)
		swapped.Notices[0], swapped.Notices[1] = swapped.Notices[1], swapped.Notices[0]
		renamed := slices.Clone(testUsers)
		renamed[3] = "v-000003"
		tests := []struct {
			name  string
			users []string
			in    incident.Incident
		}{
			{"one user fewer", slices.Delete(slices.Clone(testUsers), 3, 4), in},
			{"one user renamed", renamed, in},
			{"cohort below a higher version", testUsers, higher},
			{"notices swapped", testUsers, swapped},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				if got := frozenAudience(t, tc.users, tc.in, 3, keep, false); got.Hash == base.Hash {
					t.Errorf("hash %s is the same as for the original audience", got.Hash)
				}
			})
		}
	})
}

func TestTotal(t *testing.T) {
	done := func(notice string, batches, members, cohort, unparsed int, fp uint64, unknown ...string) TaskProgress {
		return TaskProgress{NoticeID: notice, Template: strings.SplitN(notice, "-", 2)[1], Progress: Progress{
			Batches: batches, Done: true, Members: members, CohortDevices: cohort, UnparsedVersions: unparsed, UnknownUserIDs: unknown, Fingerprint: fp}}
	}
	tasks := []TaskProgress{
		done("n1-update-app", 2, 5, 7, 1, 100),
		done("n0-account-accessed", 1, 1, 0, 0, 10, "x-9", "x-2"),
		done("n1-update-app", 0, 0, 0, 0, 0),
		done("n0-account-accessed", 1, 2, 0, 0, 20, "x-5"),
		done("n1-update-app", 3, 8, 9, 2, 1000),
	}
	wantTotals := []incident.NoticeTotals{
		{NoticeID: "n0-account-accessed", Template: "account-accessed", Members: 3, UnknownUserIDs: []string{"x-2", "x-5", "x-9"}, Messages: 2},
		{NoticeID: "n1-update-app", Template: "update-app", Members: 13, CohortDevices: 16, UnparsedVersions: 3, Messages: 5},
	}
	unfinished := slices.Clone(tasks)
	unfinished[3].Done = false
	reversed := slices.Clone(tasks)
	slices.Reverse(reversed)
	other := slices.Clone(tasks)
	other[4].Fingerprint++

	tests := []struct {
		name    string
		tasks   []TaskProgress
		wantErr error
	}{
		{"in order", tasks, nil},
		{"reversed", reversed, nil},
		{"unfinished task", unfinished, ErrIncomplete},
		{"only unfinished", []TaskProgress{{NoticeID: "n0-account-accessed"}}, ErrIncomplete},
	}
	base, err := Total(tasks)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.tasks)
			got, err := Total(in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Total error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Notices, wantTotals) || got.Members != 16 {
				t.Errorf("Total =\n  %+v\nwant notices\n  %+v\nand 16 members", got, wantTotals)
			}
			if got.Hash != base.Hash || !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(got.Hash) {
				t.Errorf("hash = %q, want %q (16 hex digits, whatever the order)", got.Hash, base.Hash)
			}
		})
	}
	if a, err := Total(other); err != nil || a.Hash == base.Hash {
		t.Errorf("another fingerprint: hash %q, %v; want a hash other than %q", a.Hash, err, base.Hash)
	}
}

// exampleIncident is the contract's example: one named user, one cohort.
func exampleIncident() incident.Incident {
	return incident.Incident{
		ID: incID, Status: incident.Confirmed, Title: title,
		Notices: []incident.Notice{
			{Template: "account-accessed", Channels: []incident.Channel{incident.Email, incident.Push}, Audience: incident.Audience{UserIDs: []string{"u-000123"}}},
			{Template: "update-app", Channels: []incident.Channel{incident.Email, incident.Push},
				Audience: incident.Audience{Platforms: []string{"android"}, AppVersionBelow: "8.9.0"}, FixedVersion: "8.9.0"},
		},
	}
}

func TestTasks(t *testing.T) {
	spread := []string{}
	for _, id := range fake.UserIDsInShards(100, fake.AnyShard) {
		if !slices.ContainsFunc(spread, func(o string) bool { return audience.UserShard(o) == audience.UserShard(id) }) {
			spread = append(spread, id)
		}
		if len(spread) == 3 {
			break
		}
	}
	sameShard := fake.UserIDsInShards(2, fake.InShard(audience.UserShard(spread[0])))
	shardsOf := func(ids ...string) []int {
		var out []int
		for _, id := range ids {
			out = append(out, audience.UserShard(id))
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	var every []int
	for s := range audience.Shards {
		every = append(every, s)
	}
	cohort := incident.Audience{Platforms: []string{"ios"}, AppVersionBelow: "2.0"}
	tests := []struct {
		name      string
		audiences []incident.Audience
		templates []string
		// wantShards lists each notice's shards, in order.
		wantShards [][]int
	}{
		{"example", []incident.Audience{{UserIDs: []string{"u-000123"}}, {Platforms: []string{"android"}, AppVersionBelow: "8.9.0"}},
			[]string{"account-accessed", "update-app"}, [][]int{shardsOf("u-000123"), every}},
		{"named users in three shards", []incident.Audience{{UserIDs: append(slices.Clone(spread), spread[2], sameShard[1])}},
			[]string{"account-accessed"}, [][]int{shardsOf(spread...)}},
		{"named users and a cohort", []incident.Audience{{UserIDs: spread, Platforms: cohort.Platforms, AppVersionBelow: cohort.AppVersionBelow}},
			[]string{"account-accessed"}, [][]int{every}},
		{"same template twice", []incident.Audience{cohort, cohort}, []string{"update-app", "update-app"}, [][]int{every, every}},
		{"no notices", nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := incident.Incident{ID: incID, Title: title}
			for i, a := range tc.audiences {
				in.Notices = append(in.Notices, incident.Notice{Template: tc.templates[i], Channels: []incident.Channel{incident.Email}, Audience: a})
			}
			got := Tasks(in, false)
			var want []Task
			for i, shards := range tc.wantShards {
				for _, s := range shards {
					want = append(want, Task{IncidentID: incID, NoticeID: incident.NoticeID(i, tc.templates[i]), Notice: shardOnly(in.Notices[i], s), Shard: s})
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Tasks = %d tasks %v, want %d %v", len(got), taskIDs(got), len(want), taskIDs(want))
			}
			ids := taskIDs(got)
			if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != len(ids) {
				t.Errorf("task ids are not unique: %q", ids)
			}
			if again := Tasks(in, false); !reflect.DeepEqual(again, got) {
				t.Errorf("Tasks is not stable")
			}
		})
	}

	ex := Tasks(exampleIncident(), false)
	if i := slices.IndexFunc(ex, func(t Task) bool { return t.ID() == "n1-update-app#07" }); i < 0 || ex[i].Shard != 7 || ex[i].NoticeID != "n1-update-app" {
		t.Errorf("example has no task n1-update-app#07 for shard 7: %q", taskIDs(ex))
	}
	if want := fmt.Sprintf("n0-account-accessed#%02d", audience.UserShard("u-000123")); ex[0].ID() != want {
		t.Errorf("example's first task = %q, want %q", ex[0].ID(), want)
	}
}

func taskIDs(ts []Task) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID())
	}
	return out
}

func TestTaskID(t *testing.T) {
	tests := []struct {
		notice string
		shard  int
		want   string
	}{
		{"n1-update-app", 7, "n1-update-app#07"},
		{"n0-account-accessed", 0, "n0-account-accessed#00"},
		{"n12-update-app", 63, "n12-update-app#63"},
	}
	for _, tc := range tests {
		if got := (Task{NoticeID: tc.notice, Shard: tc.shard}).ID(); got != tc.want {
			t.Errorf("ID of %s shard %d = %q, want %q", tc.notice, tc.shard, got, tc.want)
		}
	}
}

func TestParseTask(t *testing.T) {
	example := Tasks(exampleIncident(), false)
	valid := func(edit func(m map[string]any)) string {
		b, err := json.Marshal(example[len(example)-1])
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, err = json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var sqs struct {
		Records []struct {
			Body string `json:"body"`
		}
	}
	raw, err := os.ReadFile("../../events/planner-task.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &sqs); err != nil || len(sqs.Records) != 1 {
		t.Fatalf("events/planner-task.json: %v", err)
	}
	tests := []struct {
		name    string
		body    string
		wantID  string // task id when valid
		wantErr bool
	}{
		{"example task", valid(func(map[string]any) {}), "n1-update-app#63", false},
		{"sample event", sqs.Records[0].Body, "n1-update-app#07", false},
		{"shard 0", valid(func(m map[string]any) { m["shard"] = 0 }), "n1-update-app#00", false},
		{"not JSON", `{"incidentId":`, "", true},
		{"not an object", `[]`, "", true},
		{"shard of the wrong type", valid(func(m map[string]any) { m["shard"] = "7" }), "", true},
		{"incident id with #", valid(func(m map[string]any) { m["incidentId"] = "INC#1" }), "", true},
		{"no incident id", valid(func(m map[string]any) { delete(m, "incidentId") }), "", true},
		{"no notice id", valid(func(m map[string]any) { m["noticeId"] = "" }), "", true},
		{"negative shard", valid(func(m map[string]any) { m["shard"] = -1 }), "", true},
		{"shard = Shards", valid(func(m map[string]any) { m["shard"] = audience.Shards }), "", true},
		{"shard far out of range", valid(func(m map[string]any) { m["shard"] = 1000 }), "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTask([]byte(tc.body))
			if tc.wantErr {
				if !errors.Is(err, dispatch.ErrMalformed) {
					t.Errorf("ParseTask error = %v, want errors.Is ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTask: %v", err)
			}
			if got.ID() != tc.wantID || got.IncidentID != incID || got.Notice.Template != "update-app" ||
				got.Notice.FixedVersion != "8.9.0" || got.Notice.Audience.AppVersionBelow != "8.9.0" {
				t.Errorf("ParseTask = %+v, want task %s of the example", got, tc.wantID)
			}
		})
	}
	// Every task of the example survives the queue unchanged.
	for _, task := range example {
		b, err := json.Marshal(task)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := ParseTask(b); err != nil || !reflect.DeepEqual(got, task) {
			t.Errorf("round trip of %s = %+v, %v", task.ID(), got, err)
		}
		enc, err := task.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if got, err := ParseTask(enc); err != nil || !reflect.DeepEqual(got, task) {
			t.Errorf("round trip of %s through Encode = %+v, %v", task.ID(), got, err)
		}
	}
}

// shardOnly is n as the task for shard s carries it: only the named users
// of that shard.
func shardOnly(n incident.Notice, s int) incident.Notice {
	var ids []string
	for _, id := range n.Audience.UserIDs {
		if audience.UserShard(id) == s {
			ids = append(ids, id)
		}
	}
	n.Audience.UserIDs = ids
	return n
}

// TestTaskMessagesCarryIDsNotProse: a task names its incident, not its
// title, and only its own shard's users, and '<' stays one byte, so the
// messages of an incident add up to about the size of its event.
func TestTaskMessagesCarryIDsNotProse(t *testing.T) {
	var ids []string
	for i := range 300 {
		ids = append(ids, fmt.Sprintf("<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<%05d", i))
	}
	title := strings.Repeat("<", incident.MaxTitleRunes)
	in := incident.Incident{ID: incID, Title: title, Notices: []incident.Notice{
		{Template: "account-accessed", Channels: []incident.Channel{incident.Email}, Audience: incident.Audience{UserIDs: ids}},
	}}
	total, named := 0, 0
	for _, task := range Tasks(in, false) {
		body, err := task.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(body), title) || strings.Contains(string(body), `\u003c`) {
			t.Errorf("task %s carries the title or escapes '<': %.120s", task.ID(), body)
		}
		for _, id := range task.Notice.Audience.UserIDs {
			if audience.UserShard(id) != task.Shard {
				t.Errorf("task %s names %s of shard %d", task.ID(), id, audience.UserShard(id))
			}
		}
		named += len(task.Notice.Audience.UserIDs)
		total += len(body)
	}
	idBytes := 0
	for _, id := range ids {
		idBytes += len(id) + 3
	}
	if named != len(ids) {
		t.Errorf("tasks name %d ids, want each of the %d once", named, len(ids))
	}
	if limit := idBytes + 64*300; total > limit {
		t.Errorf("tasks total %d bytes, want at most %d", total, limit)
	}
}

func TestRunErrors(t *testing.T) {
	// task is the cohort notice's task for the shard of a user it names, so
	// that it both looks users up and queries the cohort.
	in := testIncident(testUsers)
	i := slices.IndexFunc(Tasks(in, false), func(t Task) bool {
		return t.NoticeID == "n1-update-app" && t.Shard == audience.UserShard(in.Notices[1].Audience.UserIDs[0])
	})
	task := Tasks(in, false)[i]
	tests := []struct {
		name   string
		before func(*env)
		// wantQueued says whether the batches were queued; wantFinished
		// whether the task is recorded done.
		wantQueued, wantFinished bool
	}{
		{"checkpoint read fails", func(e *env) { e.store.progressErr = errUnavailable }, false, false},
		{"user lookup fails", func(e *env) { e.directory.existingErr = errUnavailable }, false, false},
		{"cohort query fails", func(e *env) { e.directory.cohortErr = errUnavailable }, false, false},
		{"finish fails", func(e *env) { e.store.finishErr = errUnavailable }, true, false},
		{"freeze fails", func(e *env) { e.store.freezeFails = 1 }, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(newDirectory(testUsers), 2)
			e.store.tasks[incID] = 1 // task is the last: Finish is followed by Freeze
			tc.before(e)
			if _, err := e.planner.Run(context.Background(), task); !errors.Is(err, errUnavailable) {
				t.Fatalf("Run error = %v, want %v", err, errUnavailable)
			}
			if queued := e.queue.Len() > 0; queued != tc.wantQueued {
				t.Errorf("queued %d batches, want queued %v", e.queue.Len(), tc.wantQueued)
			}
			cp, _ := e.store.checkpoint(task)
			if cp.Done != tc.wantFinished {
				t.Errorf("checkpoint = %+v, want done %v", cp.Progress, tc.wantFinished)
			}
			if tc.wantQueued && cp.Batches != e.queue.Len() {
				t.Errorf("checkpoint has %d batches, %d queued", cp.Batches, e.queue.Len())
			}
			if tc.wantFinished {
				return // see TestRunRetriesFreeze
			}
			// The retry queues only what was not queued, and finishes.
			e.store.progressErr, e.store.finishErr = nil, nil
			e.directory.existingErr, e.directory.cohortErr = nil, nil
			queued := e.queue.Len()
			prog, err := e.planner.Run(context.Background(), task)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantQueued && e.queue.Len() != queued {
				t.Errorf("retry queued %d batches again", e.queue.Len()-queued)
			}
			if !prog.Done || prog.Batches != e.queue.Len() || e.store.count("freeze") != 1 {
				t.Errorf("retry progress %+v, %d queued, %d freezes", prog, e.queue.Len(), e.store.count("freeze"))
			}
		})
	}
}

// taskWithMembers is the first task of a notice of in whose shard of the
// test directory holds a member.
func taskWithMembers(t *testing.T, in incident.Incident, noticeID string) Task {
	t.Helper()
	for _, task := range Tasks(in, false) {
		if task.NoticeID != noticeID {
			continue
		}
		r, err := audience.Resolve(context.Background(), newDirectory(testUsers), task.Notice.Audience, task.Shard)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Members) > 0 {
			return task
		}
	}
	t.Fatalf("test bug: no task of %s has members", noticeID)
	return Task{}
}

// TestRunRetriesFreeze: when freezing fails after the last task finished,
// the redelivered task must freeze the audience; nothing else will.
func TestRunRetriesFreeze(t *testing.T) {
	in := exampleIncident()
	tasks := Tasks(in, false)
	e := newEnv(newDirectory(fake.UserIDsInShards(200, fake.AnyShard)), 10)
	e.store.tasks[incID] = len(tasks)
	e.store.freezeFails = 1
	for _, task := range tasks[:len(tasks)-1] {
		if _, err := e.planner.Run(context.Background(), task); err != nil {
			t.Fatal(err)
		}
	}
	last := tasks[len(tasks)-1]
	if _, err := e.planner.Run(context.Background(), last); !errors.Is(err, errUnavailable) {
		t.Fatalf("last task error = %v, want the freeze error %v", err, errUnavailable)
	}
	_, err := e.planner.Run(context.Background(), last) // SQS redelivers the failed task
	if err != nil {
		t.Fatalf("redelivered last task: %v", err)
	}
	if _, frozen := e.store.frozen[incID]; !frozen {
		t.Error("the redelivered last task did not freeze the audience")
	}
	if n := e.released.calls[incID]; n != 1 {
		t.Errorf("lifecycle told of the frozen audience %d times, want once, after the freeze that succeeded", n)
	}
}

// A counting task queues nothing and keeps what the send decision and
// preview need: the count, the fingerprint and a sample; its checkpoint is
// its own, so the sending task of the same shard starts from zero.
func TestCountingTasksQueueNothing(t *testing.T) {
	in := exampleIncident()
	e := newEnv(newDirectory(fake.UserIDsInShards(300, fake.AnyShard)), 10)
	counts, sends := Tasks(in, true), Tasks(in, false)
	if len(counts) != len(sends) || counts[1].ID() == sends[1].ID() || !counts[1].Count {
		t.Fatalf("count tasks %q vs send tasks %q", taskIDs(counts)[:2], taskIDs(sends)[:2])
	}
	var counted, sampled int
	for _, task := range counts {
		p, err := e.planner.Run(context.Background(), task)
		if err != nil {
			t.Fatal(err)
		}
		counted += p.Members
		sampled += len(p.Sample)
		if len(p.Sample) > SampleSize || len(p.Sample) > p.Members {
			t.Errorf("%s: sample of %d for %d members", task.ID(), len(p.Sample), p.Members)
		}
	}
	if n := e.queue.Len(); n != 0 || counted == 0 || sampled == 0 {
		t.Errorf("counting queued %d batches, counted %d members, sampled %d", n, counted, sampled)
	}
	p, err := e.planner.Run(context.Background(), sends[1])
	if err != nil || p.Batches == 0 || e.queue.Len() != p.Batches {
		t.Errorf("the sending task after counting: %+v %v, %d queued", p, err, e.queue.Len())
	}
}
