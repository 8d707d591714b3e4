package plan

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"breachnotify/shared/audience"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
)

const fileKey = "incidents/INC-2014-0527/affected.csv"

func fileIncident(count bool) (incident.Incident, Task) {
	in := incident.Incident{ID: incID, Status: incident.Confirmed, Title: title, Notices: []incident.Notice{{
		Template: "account-accessed", Channels: []incident.Channel{incident.Email}, Audience: incident.Audience{File: fileKey},
	}}}
	return in, Tasks(in, count)[0]
}

// runFile runs a file notice's split task and then every range task it
// queued, in order, and returns the range tasks.
func (e *env) runFile(t *testing.T, split Task) []Task {
	t.Helper()
	e.store.tasks[incID] = 1
	if _, err := e.planner.Run(context.Background(), split); err != nil {
		t.Fatalf("split: %v", err)
	}
	ranges := e.queuedTasks(t)
	for _, rt := range ranges {
		if _, err := e.planner.Run(context.Background(), rt); err != nil {
			t.Fatalf("Run %s: %v", rt.ID(), err)
		}
	}
	return ranges
}

// queuedTasks decodes the planning tasks queued so far.
func (e *env) queuedTasks(t *testing.T) []Task {
	t.Helper()
	var out []Task
	for _, b := range e.tasks.Bodies() {
		rt, err := ParseTask(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rt)
	}
	return out
}

// queuedMembers counts how often each user was queued.
func (e *env) queuedMembers(t *testing.T) map[string]int {
	t.Helper()
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
	return times
}

// affectedFile lists every known user of users with an index divisible by
// 3 and, between them, unknown ids, blank lines and bad lines, in the forms
// a file may mix, with CRLF line ends; with dup, the first user is listed
// again at the end.
func affectedFile(users []string, dup bool) (data []byte, members []string, unknown []string) {
	var b strings.Builder
	b.WriteString("userId,email\r\n")
	for i, id := range users {
		if i%3 != 0 {
			continue
		}
		members = append(members, id)
		switch i % 2 {
		case 0:
			fmt.Fprintf(&b, "%s,someone@example.com\r\n", id)
		default:
			fmt.Fprintf(&b, "{\"userId\":%q,\"locale\":\"de\"}\r\n", id)
		}
		if i%9 == 0 {
			u := fmt.Sprintf("gone-%04d", i)
			unknown = append(unknown, u)
			fmt.Fprintf(&b, "\r\n%s\r\nnot an id\r\n", u)
		}
	}
	if dup {
		fmt.Fprintf(&b, "%s\r\n", members[0])
	}
	b.WriteString(`{"userId":12}`) // not a string; the last line has no end
	slices.Sort(members)
	slices.Sort(unknown)
	return []byte(b.String()), members, unknown
}

func gzipped(data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

// TestFileAudience: a file notice is split into range tasks, which
// together queue each known user of the file once, count the unknown ids
// and the bad lines, and freeze the audience when the last one finishes,
// however small the ranges and whether or not the file is compressed.
func TestFileAudience(t *testing.T) {
	// Within one range a repeated id is seen as such; across ranges it
	// is not (see docs/design.md, Audience files), so only one-range files repeat
	// one here.
	dup, members, unknown := affectedFile(testUsers, true)
	data, _, _ := affectedFile(testUsers, false)
	tests := []struct {
		name       string
		data       []byte
		rangeBytes int64
		wantRanges int
		wantDup    int
	}{
		{"one range", dup, 1 << 20, 1, 1},
		{"ranges of 97 bytes", data, 97, (len(data) + 96) / 97, 0},
		{"ranges of 1 KiB", data, 1 << 10, (len(data) + 1023) / 1024, 0},
		{"gzip is one range", gzipped(dup), 97, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(newDirectory(testUsers), 7)
			e.planner.RangeBytes = tc.rangeBytes
			e.files.put(fileKey, tc.data)
			_, split := fileIncident(false)
			ranges := e.runFile(t, split)
			if len(ranges) != tc.wantRanges {
				t.Fatalf("split into %d range tasks, want %d", len(ranges), tc.wantRanges)
			}
			times := e.queuedMembers(t)
			if got := slices.Sorted(func(yield func(string) bool) {
				for id := range times {
					if !yield(id) {
						return
					}
				}
			}); !slices.Equal(got, members) {
				t.Errorf("queued %d distinct users, want the file's %d known users", len(got), len(members))
			}
			for id, n := range times {
				if n != 1 {
					t.Errorf("%s queued %d times", id, n)
				}
			}
			a, ok := e.store.frozen[incID]
			if !ok {
				t.Fatal("audience not frozen after the last range")
			}
			n := a.Notices[0]
			wantInvalid := map[string]int{audience.LineBadUserID: len(unknown), audience.LineNotJSON: 1}
			if tc.wantDup > 0 {
				wantInvalid[audience.LineDuplicate] = tc.wantDup
			}
			if a.Members != len(members) || n.Unknown != len(unknown) {
				t.Errorf("frozen %d members, %d unknown; want %d, %d", a.Members, n.Unknown, len(members), len(unknown))
			}
			// Each range keeps the first of its unknown ids.
			if len(n.UnknownUserIDs) < min(UnknownSample, len(unknown)) || slices.ContainsFunc(n.UnknownUserIDs, func(id string) bool { return !slices.Contains(unknown, id) }) {
				t.Errorf("unknown sample %v, want at least %d of %v", n.UnknownUserIDs, UnknownSample, unknown)
			}
			if tc.wantRanges == 1 && !slices.Equal(n.UnknownUserIDs, unknown[:UnknownSample]) {
				t.Errorf("unknown sample %v, want the first %d of %v", n.UnknownUserIDs, UnknownSample, unknown)
			}
			if !reflect.DeepEqual(n.InvalidLines, wantInvalid) {
				t.Errorf("invalid lines %v, want %v", n.InvalidLines, wantInvalid)
			}
			if e.released.calls[incID] != 1 {
				t.Errorf("released %d times, want once", e.released.calls[incID])
			}
		})
	}
}

// TestFileAudienceHashMatchesNamedUsers: a file's frozen hash is the hash
// of the same users named in userIds, however the file is cut: the
// two-person rule and the approval see one audience, not its encoding.
func TestFileAudienceHashMatchesNamedUsers(t *testing.T) {
	users := testUsers[:90]
	var b strings.Builder
	for _, id := range users {
		b.WriteString(id + "\n")
	}
	var hashes []string
	for _, part := range []int64{1 << 20, 50} {
		e := newEnv(newDirectory(users), 10)
		e.planner.RangeBytes = part
		e.files.put(fileKey, []byte(b.String()))
		_, split := fileIncident(false)
		e.runFile(t, split)
		hashes = append(hashes, e.store.frozen[incID].Hash)
	}
	named := incident.Incident{ID: incID, Notices: []incident.Notice{{Template: "account-accessed", Channels: []incident.Channel{incident.Email},
		Audience: incident.Audience{UserIDs: users}}}}
	e := newEnv(newDirectory(users), 10)
	e.runAll(t, Tasks(named, false))
	if want := e.store.frozen[incID].Hash; hashes[0] != want || hashes[1] != want {
		t.Errorf("file hashes %v, want the named users' %s", hashes, want)
	}
}

// TestFileRangeResumes: a range task that stopped after queueing part of
// its batches resumes from its checkpoint, queueing the rest once.
func TestFileRangeResumes(t *testing.T) {
	data, members, _ := affectedFile(testUsers, false)
	e := newEnv(newDirectory(testUsers), 1)
	e.files.put(fileKey, data)
	_, split := fileIncident(false)
	e.store.tasks[incID] = 1
	if _, err := e.planner.Run(context.Background(), split); err != nil {
		t.Fatal(err)
	}
	rt := e.queuedTasks(t)[0]
	e.queue.Fail = fake.FailOn(errUnavailable, 3)
	if _, err := e.planner.Run(context.Background(), rt); !errors.Is(err, errUnavailable) {
		t.Fatalf("first run: %v, want %v", err, errUnavailable)
	}
	if cp, _ := e.store.checkpoint(rt); cp.Batches != 2*sendChunk || cp.Done {
		t.Fatalf("checkpoint after the crash = %d batches (done %v), want %d", cp.Batches, cp.Done, 2*sendChunk)
	}
	e.queue.Fail = nil
	prog, err := e.planner.Run(context.Background(), rt)
	if err != nil {
		t.Fatal(err)
	}
	times := e.queuedMembers(t)
	for _, id := range members {
		if times[id] != 1 {
			t.Errorf("%s queued %d times, want once", id, times[id])
		}
	}
	if !prog.Done || prog.Members != len(members) || e.store.count("freeze") != 1 {
		t.Errorf("progress %+v, %d freezes; want done with %d members, frozen once", prog, e.store.count("freeze"), len(members))
	}
}

// TestFileSplitResumes: a split that failed after counting its ranges,
// while queueing them, counts them once when it runs again.
func TestFileSplitResumes(t *testing.T) {
	data, _, _ := affectedFile(testUsers, false)
	e := newEnv(newDirectory(testUsers), 10)
	e.planner.RangeBytes = 100
	e.files.put(fileKey, data)
	_, split := fileIncident(false)
	e.store.tasks[incID] = 1
	e.tasks.Fail = fake.FailOn(errUnavailable, 2)
	if _, err := e.planner.Run(context.Background(), split); !errors.Is(err, errUnavailable) {
		t.Fatalf("first run: %v, want %v", err, errUnavailable)
	}
	e.tasks.Fail = nil
	if _, err := e.planner.Run(context.Background(), split); err != nil {
		t.Fatal(err)
	}
	parts := (len(data) + 99) / 100
	if got := e.store.tasks[incID]; got != 1+parts {
		t.Errorf("incident has %d tasks, want the split and its %d ranges", got, parts)
	}
	distinct := map[string]bool{}
	for _, rt := range e.queuedTasks(t) {
		distinct[rt.ID()] = true
	}
	if got := len(distinct); got != parts {
		t.Errorf("queued %d distinct range tasks, want %d", got, parts)
	}
}

// TestFileChanged: planning reads one version of the file. One that
// changes between the split and a range, or between counting and sending,
// fails the task with ErrFileChanged and queues nothing from the new one.
func TestFileChanged(t *testing.T) {
	data, _, _ := affectedFile(testUsers, false)
	t.Run("between split and range", func(t *testing.T) {
		e := newEnv(newDirectory(testUsers), 10)
		e.files.put(fileKey, data)
		_, split := fileIncident(false)
		e.store.tasks[incID] = 1
		if _, err := e.planner.Run(context.Background(), split); err != nil {
			t.Fatal(err)
		}
		e.files.put(fileKey, data)
		rt := e.queuedTasks(t)[0]
		if _, err := e.planner.Run(context.Background(), rt); !errors.Is(err, audience.ErrFileChanged) {
			t.Errorf("range run: %v, want %v", err, audience.ErrFileChanged)
		}
		if e.queue.Len() != 0 {
			t.Errorf("queued %d batches from a changed file", e.queue.Len())
		}
	})
	t.Run("between counting and sending", func(t *testing.T) {
		e := newEnv(newDirectory(testUsers), 10)
		e.files.put(fileKey, data)
		in, count := fileIncident(true)
		e.runFile(t, count)
		if _, ok := e.store.frozen[incID]; !ok {
			t.Fatal("count pass froze nothing")
		}
		e.files.put(fileKey, data)
		send := Tasks(in, false)[0]
		if _, err := e.planner.Run(context.Background(), send); !errors.Is(err, audience.ErrFileChanged) {
			t.Errorf("sending split: %v, want %v", err, audience.ErrFileChanged)
		}
		if e.queue.Len() != 0 {
			t.Errorf("queued %d batches", e.queue.Len())
		}
	})
	t.Run("unchanged between counting and sending", func(t *testing.T) {
		e := newEnv(newDirectory(testUsers), 10)
		e.files.put(fileKey, data)
		in, count := fileIncident(true)
		e.runFile(t, count)
		if e.queue.Len() != 0 {
			t.Fatalf("count pass queued %d batches", e.queue.Len())
		}
		e.tasks = &fake.Queue{}
		e.planner.Tasks = e.tasks
		e.runFile(t, Tasks(in, false)[0])
		if e.queue.Len() == 0 {
			t.Error("sending pass queued nothing")
		}
	})
}

// TestFileTooLargeGzip: a compressed file above MaxGzipBytes is refused
// at the split, before any range is counted; one that inflates beyond it
// is refused by its range, which queues nothing.
func TestFileTooLargeGzip(t *testing.T) {
	// inflated is a user's line padded with blank lines of spaces (quick
	// to scan) to size bytes.
	inflated := func(user string, size int) []byte {
		b := append([]byte(user+"\n"), bytes.Repeat([]byte(strings.Repeat(" ", 1<<16-1)+"\n"), (size-len(user)-1)>>16)...)
		return append(b, bytes.Repeat([]byte(" "), size-len(b))...)
	}
	t.Run("inflates beyond the limit", func(t *testing.T) {
		users := testUsers[:5]
		e := newEnv(newDirectory(users), 10)
		e.files.put(fileKey, gzipped(inflated(users[0], audience.MaxGzipBytes+1)))
		_, split := fileIncident(false)
		e.store.tasks[incID] = 1
		if _, err := e.planner.Run(context.Background(), split); err != nil {
			t.Fatal(err)
		}
		rt := e.queuedTasks(t)[0]
		if _, err := e.planner.Run(context.Background(), rt); !errors.Is(err, audience.ErrFileTooLarge) {
			t.Errorf("range: %v, want %v", err, audience.ErrFileTooLarge)
		}
		if e.queue.Len() != 0 {
			t.Errorf("queued %d batches", e.queue.Len())
		}
	})
	t.Run("just within the limit", func(t *testing.T) {
		users := testUsers[:5]
		e := newEnv(newDirectory(users), 10)
		e.files.put(fileKey, gzipped(inflated(users[0], audience.MaxGzipBytes)))
		_, split := fileIncident(false)
		e.runFile(t, split)
		if e.store.frozen[incID].Members != 1 {
			t.Errorf("frozen %+v, want the one user", e.store.frozen[incID])
		}
	})
	t.Run("compressed beyond the limit", testCompressedTooLarge)
}

func testCompressedTooLarge(t *testing.T) {
	e := newEnv(newDirectory(testUsers), 10)
	big := make([]byte, audience.MaxGzipBytes+1)
	big[0], big[1] = 0x1f, 0x8b
	e.files.put(fileKey, big)
	_, split := fileIncident(false)
	e.store.tasks[incID] = 1
	if _, err := e.planner.Run(context.Background(), split); !errors.Is(err, audience.ErrFileTooLarge) {
		t.Errorf("split: %v, want %v", err, audience.ErrFileTooLarge)
	}
	if e.store.tasks[incID] != 1 || e.tasks.Len() != 0 {
		t.Errorf("counted %d tasks and queued %d", e.store.tasks[incID], e.tasks.Len())
	}
}
