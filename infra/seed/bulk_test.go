package seed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"breachnotify/shared/audience"
)

// TestParseFormats: the same users read from JSON Lines and from CSV, and
// the same validation; a CSV user spans consecutive lines, one device a
// line, and is reported at its first line.
func TestParseFormats(t *testing.T) {
	tests := []struct {
		name, format, input string
		want                []audience.User
		bad                 []int
		headerErr           string
	}{
		{
			name:   "jsonl",
			format: "jsonl",
			input: `{"userId":"u-1","email":"a@example.com","devices":[{"deviceId":"d-1","platform":"android","appVersion":"8.1","pushToken":"t-1"},{"deviceId":"d-2","platform":"ios","appVersion":"2","endpointArn":"arn:e-2"}]}
{"userId":"u-2"}

{"userId":"u-3","email":"not an address"}`,
			want: []audience.User{
				{ID: "u-1", Email: "a@example.com", Devices: []audience.Device{{ID: "d-1", Platform: "android", AppVersion: "8.1", PushToken: "t-1"}, {ID: "d-2", Platform: "ios", AppVersion: "2", EndpointARN: "arn:e-2"}}},
				{ID: "u-2"},
			},
			bad: []int{4},
		},
		{
			name:   "csv, a user on two lines, columns in any order",
			format: "csv",
			input: "\ufeffemail,userId,deviceId,platform,appVersion,pushToken,endpointArn\n" +
				"a@example.com,u-1,d-1,android,8.1,t-1,\n" +
				",u-1,d-2,ios,2,,arn:e-2\n" +
				"\"\",u-2,,,,,\n" +
				"not an address,u-3,,,,,\n",
			want: []audience.User{
				{ID: "u-1", Email: "a@example.com", Devices: []audience.Device{{ID: "d-1", Platform: "android", AppVersion: "8.1", PushToken: "t-1"}, {ID: "d-2", Platform: "ios", AppVersion: "2", EndpointARN: "arn:e-2"}}},
				{ID: "u-2"},
			},
			bad: []int{5},
		},
		{
			name:   "csv bad rows",
			format: "csv",
			input: "userId,email,deviceId,platform,appVersion\n" +
				"u-1,a@example.com,d-1,android,8.1\n" +
				"u-1,b@example.com,d-2,android,8.1\n" + // disagrees with its first line
				"u-2,,d-1,windows,1\n" + // invalid platform
				"u-3,\"unterminated,d-1,android,1\n" + // not CSV
				"u-4,,d-1\n" + // too few fields
				"u#5,,,,\n" + // invalid id
				"u-6,,d-1,ios,1\n",
			want: []audience.User{{ID: "u-6", Devices: []audience.Device{{ID: "d-1", Platform: "ios", AppVersion: "1"}}}},
			bad:  []int{2, 4, 5, 6, 7},
		},
		{name: "csv unknown column", format: "csv", input: "userId,emial\nu-1,a@example.com\n", headerErr: `unknown column "emial"`},
		{name: "csv column twice", format: "csv", input: "userId,email,email\n", headerErr: `column "email" given twice`},
		{name: "csv without userId", format: "csv", input: "email\na@example.com\n", headerErr: "no userId column"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newStore()
			im := &Importer{Store: store, Format: FormatOf("users." + tc.format)}
			rep, err := im.Run(context.Background(), strings.NewReader(tc.input))
			if tc.headerErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.headerErr) {
					t.Fatalf("err = %v, want %q", err, tc.headerErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := store.All() // in id order
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("imported\n%+v\nwant\n%+v", got, tc.want)
			}
			var bad []int
			for _, le := range rep.Bad {
				bad = append(bad, le.Line)
				if strings.Contains(le.Error(), "not an address") || strings.Contains(le.Error(), "b@example.com") {
					t.Errorf("report quotes the line: %v", le)
				}
			}
			if !slices.Equal(bad, tc.bad) {
				t.Errorf("bad lines %v, want %v (%v)", bad, tc.bad, rep.Bad)
			}
		})
	}
}

// recordingStore is a memStore that records the transactions.
type recordingStore struct {
	memStore
	mu       sync.Mutex
	replaced map[string][]string
}

func (s *recordingStore) Replace(ctx context.Context, u audience.User, removed []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replaced[u.ID] = removed
	return s.put(ctx, u)
}

// TestReimportUsesATransactionOnlyWhenDevicesGo: a user whose device set
// shrinks is replaced with the removed devices named; every other user is
// batch-written; the same user twice in one input ends as its last line.
func TestReimportUsesATransactionOnlyWhenDevicesGo(t *testing.T) {
	store := &recordingStore{memStore: newStore(), replaced: map[string][]string{}}
	first := `{"userId":"u-1","devices":[{"deviceId":"d-1","platform":"ios","appVersion":"1"},{"deviceId":"d-2","platform":"ios","appVersion":"1"}]}
{"userId":"u-2","devices":[{"deviceId":"d-1","platform":"ios","appVersion":"1"}]}`
	if _, err := Import(context.Background(), strings.NewReader(first), store, nil); err != nil {
		t.Fatal(err)
	}
	if len(store.replaced) != 0 {
		t.Fatalf("a first import used transactions: %v", store.replaced)
	}
	second := `{"userId":"u-1","devices":[{"deviceId":"d-2","platform":"ios","appVersion":"2"}]}
{"userId":"u-2","devices":[{"deviceId":"d-1","platform":"ios","appVersion":"2"},{"deviceId":"d-3","platform":"android","appVersion":"2"}]}
{"userId":"u-3"}
{"userId":"u-3","devices":[{"deviceId":"d-9","platform":"ios","appVersion":"1"}]}
{"userId":"u-3"}`
	rep, err := Import(context.Background(), strings.NewReader(second), store, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"u-1": {"d-1"}, "u-3": {"d-9"}}
	if fmt.Sprint(store.replaced) != fmt.Sprint(want) || rep.Replaced != 2 || rep.Imported != 5 {
		t.Errorf("transactions %v, replaced %d of %d; want %v", store.replaced, rep.Replaced, rep.Imported, want)
	}
	if n := len(store.memStore.user("u-3").Devices); n != 0 {
		t.Errorf("u-3 has %d devices, want its last line's none", n)
	}
}

// TestEndpointsRegisteredUnlessGiven: a device with a token and no endpoint
// is registered; one that comes with its endpointArn is not.
func TestEndpointsRegisteredUnlessGiven(t *testing.T) {
	input := `{"userId":"u-1","devices":[{"deviceId":"d-1","platform":"android","appVersion":"1","pushToken":"t-1"},{"deviceId":"d-2","platform":"ios","appVersion":"1","pushToken":"t-2","endpointArn":"arn:given"}]}`
	var mu sync.Mutex
	var calls []string
	reg := regFunc(func(_ context.Context, platform, token string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, token)
		return "arn:new/" + token, nil
	})
	store := newStore()
	rep, err := Import(context.Background(), strings.NewReader(input), store, reg)
	if err != nil {
		t.Fatal(err)
	}
	d := store.user("u-1").Devices
	if !slices.Equal(calls, []string{"t-1"}) || d[0].EndpointARN != "arn:new/t-1" || d[1].EndpointARN != "arn:given" {
		t.Errorf("registered %v, devices %+v", calls, d)
	}
	if rep.Endpoints != 1 || rep.EndpointsGiven != 1 {
		t.Errorf("endpoints %d registered, %d given; want 1 and 1", rep.Endpoints, rep.EndpointsGiven)
	}
}

type deregFunc func(context.Context, string) error

func (f deregFunc) Deregister(ctx context.Context, arn string) error { return f(ctx, arn) }

// TestDeleteMode: listed users go with their endpoints; an id that names
// no user is counted; a user whose endpoint cannot be deleted stays, for
// the next try.
func TestDeleteMode(t *testing.T) {
	store := newStore(
		audience.User{ID: "u-1", Devices: []audience.Device{{ID: "d-1", Platform: "ios", AppVersion: "1", EndpointARN: "arn:1"}, {ID: "d-2", Platform: "ios", AppVersion: "1"}}},
		audience.User{ID: "u-2", Devices: []audience.Device{{ID: "d-1", Platform: "ios", AppVersion: "1", EndpointARN: "arn:refused"}}},
		audience.User{ID: "u-3"},
		audience.User{ID: "stay"},
	)
	var mu sync.Mutex
	var deleted []string
	dereg := deregFunc(func(_ context.Context, arn string) error {
		mu.Lock()
		defer mu.Unlock()
		if arn == "arn:refused" {
			return apiError{"InvalidParameter"}
		}
		deleted = append(deleted, arn)
		return nil
	})
	im := &Importer{Store: store, Deregistrar: dereg, Delete: true, Format: CSV}
	rep, err := im.Run(context.Background(), strings.NewReader("userId\nu-1\nu-2\nu-3\nu-gone\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := store.lookup("u-2"); !ok || len(store.All()) != 2 || store.user("stay").ID == "" {
		t.Errorf("left %v, want u-2 (its endpoint failed) and stay", store)
	}
	if !slices.Equal(deleted, []string{"arn:1"}) || rep.Deleted != 2 || rep.EndpointsDeleted != 1 || rep.NotFound != 1 {
		t.Errorf("endpoints deleted %v; report %+v", deleted, rep)
	}
	if len(rep.Refused) != 1 || rep.Refused[0].Line != 3 {
		t.Errorf("refused %v, want line 3", rep.Refused)
	}
	if got := rep.Skipped(); got["no such user"] != 1 || got["endpoint deletion refused (InvalidParameter)"] != 1 {
		t.Errorf("skipped by reason %v", got)
	}
	want := "deleted 2 users and 1 push endpoints\nskipped 2 lines\n        1  endpoint deletion refused (InvalidParameter)\n        1  no such user"
	if got := rep.Summary(); got != want {
		t.Errorf("summary\n%s\nwant\n%s", got, want)
	}
}

// TestResumeFromCheckpoint: an import that stops leaves a checkpoint at
// its first unfinished line; the same command resumes there and removes
// the checkpoint when done; another file is refused.
func TestResumeFromCheckpoint(t *testing.T) {
	for _, format := range []string{"jsonl", "csv"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "users."+format)
			cp := filepath.Join(dir, "checkpoint.json")
			var b strings.Builder
			if format == "csv" {
				b.WriteString("userId,deviceId,platform,appVersion\n")
			}
			const n = 3 * chunkSize
			for i := 1; i <= n; i++ {
				if format == "csv" {
					fmt.Fprintf(&b, "u-%d,d-1,ios,1\nu-%d,d-2,android,1\n", i, i)
				} else {
					fmt.Fprintf(&b, "{\"userId\":\"u-%d\"}\n", i)
				}
			}
			if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			store := newStore()
			failAt := fmt.Sprintf("u-%d", chunkSize+50)
			failing := storeFunc{memStore: store, put: func(ctx context.Context, u audience.User) error {
				if u.ID == failAt {
					return apiError{"ExpiredTokenException"}
				}
				return store.put(ctx, u)
			}}
			im := &Importer{Store: failing, Workers: 1, Format: FormatOf(path)}
			rep, err := im.ImportFile(context.Background(), path, cp)
			if err == nil {
				t.Fatal("the import did not stop")
			}
			if _, err := os.Stat(cp); err != nil {
				t.Fatalf("no checkpoint after a stop: %v", err)
			}
			if len(store.All()) >= n {
				t.Fatalf("%d users stored after a stop", len(store.All()))
			}

			other := filepath.Join(dir, "other."+format)
			if err := os.WriteFile(other, []byte(b.String()+b.String()[len(b.String())-20:]), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := (&Importer{Store: store, Format: FormatOf(other)}).ImportFile(context.Background(), other, cp); err == nil || !strings.Contains(err.Error(), "belongs to another file") {
				t.Fatalf("resume with another file: %v", err)
			}
			if _, err := (&Importer{Store: store, Format: FormatOf(path), Delete: true}).ImportFile(context.Background(), path, cp); err == nil || !strings.Contains(err.Error(), "-delete=false") {
				t.Fatalf("resume in the other mode: %v", err)
			}

			// Resume: nothing before the checkpoint is read again.
			var seen []string
			counting := storeFunc{memStore: store, put: func(ctx context.Context, u audience.User) error {
				seen = append(seen, u.ID)
				return store.put(ctx, u)
			}}
			rep2, err := (&Importer{Store: counting, Workers: 1, Format: FormatOf(path)}).ImportFile(context.Background(), path, cp)
			if err != nil {
				t.Fatal(err)
			}
			if len(store.All()) != n {
				t.Errorf("%d users after the resume, want %d", len(store.All()), n)
			}
			// One worker writes in line order: the resume starts at the
			// failed user's line and writes every user from there once.
			if len(seen) == 0 || seen[0] != failAt || len(seen) != n-chunkSize-49 || rep2.Imported != len(seen) {
				t.Errorf("the resume wrote %d users (%d imported), from %v: want the %d from the failed one", len(seen), rep2.Imported, seen[:min(3, len(seen))], n-chunkSize-49)
			}
			if rep.Imported != n-chunkSize-1 {
				t.Errorf("imported %d before the stop, want %d: all but the failed one and the chunk after", rep.Imported, n-chunkSize-1)
			}
			if u := store.user("u-7"); format == "csv" && len(u.Devices) != 2 {
				t.Errorf("a CSV user has %d devices, want 2", len(u.Devices))
			}
			if _, err := os.Stat(cp); !os.IsNotExist(err) {
				t.Errorf("checkpoint left after a finished import: %v", err)
			}
		})
	}
}

// statusError has the shape of an SDK response error without an error
// code: a server that answered 500 with a body the SDK could not read.
type statusError struct{ status int }

func (e statusError) Error() string       { return fmt.Sprintf("http %d", e.status) }
func (e statusError) HTTPStatusCode() int { return e.status }

// TestRegistrationRetriesServerErrors: a 500 or throttling from SNS is
// retried with backoff; throttling that outlasts the retries stops the
// import, to be resumed, rather than refusing line after line.
func TestRegistrationRetriesServerErrors(t *testing.T) {
	base, cap := retryBase, retryCap
	retryBase, retryCap = time.Microsecond, time.Millisecond
	t.Cleanup(func() { retryBase, retryCap = base, cap })
	tests := []struct {
		name     string
		failures []error
		stop     bool
	}{
		{"two 500s", []error{statusError{500}, statusError{503}}, false},
		{"throttled twice", []error{apiError{"Throttled"}, apiError{"Throttled"}}, false},
		{"throttled throughout", repeatErr(apiError{"Throttled"}, retryAttempts), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			reg := regFunc(func(_ context.Context, platform, token string) (string, error) {
				calls++
				if calls <= len(tc.failures) {
					return "", tc.failures[calls-1]
				}
				return "arn:" + token, nil
			})
			store := newStore()
			rep, err := Import(context.Background(), strings.NewReader(`{"userId":"u-1","devices":[{"deviceId":"d-1","platform":"ios","appVersion":"1","pushToken":"t"}]}`), store, reg)
			if tc.stop {
				if err == nil || !strings.Contains(err.Error(), "Throttled") || len(store.All()) != 0 {
					t.Fatalf("err = %v, stored %d; want a stop", err, len(store.All()))
				}
				return
			}
			if err != nil || rep.Imported != 1 || store.user("u-1").Devices[0].EndpointARN != "arn:t" {
				t.Fatalf("err = %v, report %+v", err, rep)
			}
		})
	}
}

func repeatErr(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}

// TestLinesCountsEveryLine: the report's Lines is the last line read,
// blank ones included, in either format.
func TestLinesCountsEveryLine(t *testing.T) {
	for _, tc := range []struct {
		format, input string
		want          int
	}{
		{"jsonl", "{\"userId\":\"u-1\"}\n\n\n", 3},
		{"jsonl", "{\"userId\":\"u-1\"}\n{\"userId\":\"u-2\"}", 2},
		{"csv", "userId\nu-1\nu-1\n\n", 4},
	} {
		rep, err := (&Importer{Store: newStore(), Format: FormatOf("f." + tc.format)}).Run(context.Background(), strings.NewReader(tc.input))
		if err != nil || rep.Lines != tc.want {
			t.Errorf("%s %q: %d lines (%v), want %d", tc.format, tc.input, rep.Lines, err, tc.want)
		}
	}
}

// TestInterruptIsAnError: an import cancelled from outside (an interrupt)
// says so and where to resume, rather than ending as if complete.
func TestInterruptIsAnError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := newStore()
	var once sync.Once
	interrupting := storeFunc{memStore: store, put: func(ctx context.Context, u audience.User) error {
		once.Do(cancel)
		return store.put(ctx, u)
	}}
	var input strings.Builder
	for i := range 5 * chunkSize {
		fmt.Fprintf(&input, "{\"userId\":\"u-%d\"}\n", i)
	}
	rep, err := (&Importer{Store: interrupting, Workers: 1}).Run(ctx, strings.NewReader(input.String()))
	if err == nil || !strings.Contains(err.Error(), "resume from line") {
		t.Fatalf("err = %v after %d imported, want an interruption", err, rep.Imported)
	}
	if rep.Imported == 5*chunkSize || rep.Resume.Line != rep.Imported+1 {
		t.Errorf("imported %d, resume at %d", rep.Imported, rep.Resume.Line)
	}
}
