package seed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"breachnotify/shared/audience"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
)

// memStore is the users table in memory (fake.Users: safe for the
// importer's parallel workers), with the reads the tests make.
type memStore struct{ *fake.Users }

func newStore(users ...audience.User) memStore { return memStore{fake.NewUsers(users...)} }

func (m memStore) put(ctx context.Context, u audience.User) error { return m.Put(ctx, u) }

// lookup is the user of id, and whether there is one.
func (m memStore) lookup(id string) (audience.User, bool) {
	got, _ := m.Get(context.Background(), []string{id}) // in memory: never fails
	u, ok := got[id]
	return u, ok
}

func (m memStore) user(id string) audience.User {
	u, _ := m.lookup(id)
	return u
}

func eachUser(users []audience.User, f func(audience.User) error) map[string]error {
	failed := map[string]error{}
	for _, u := range users {
		if err := f(u); err != nil {
			failed[u.ID] = err
		}
	}
	return failed
}

type regFunc func(ctx context.Context, platform, token string) (string, error)

func (f regFunc) Register(ctx context.Context, platform, token string) (string, error) {
	return f(ctx, platform, token)
}

func TestImportSkipsBadLinesAndKeepsGoodOnes(t *testing.T) {
	input := strings.Join([]string{
		`{"userId":"u-1","email":"a@example.com","locale":"es-ES","devices":[{"deviceId":"d-1","platform":"android","appVersion":"8.8.2","pushToken":"tok-1"}]}`,
		`{"userId":"u-2","email":"not an address"}`,
		``,
		`{"userId":"u-3","emial":"typo@example.com"}`,
		`not json`,
		`{"userId":"u#4"}`,
		`{"userId":"u-5","devices":[{"deviceId":"d-1","platform":"windows","appVersion":"1"}]}`,
		`{"userId":"u-6","devices":[{"deviceId":"d-1","platform":"ios","appVersion":"beta"}]}`,
	}, "\n")
	store := newStore()
	reg := regFunc(func(_ context.Context, platform, token string) (string, error) {
		return "arn:endpoint/" + platform + "/" + token, nil
	})
	rep, err := Import(context.Background(), strings.NewReader(input), store, reg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 2 || len(store.All()) != 2 || rep.Endpoints != 1 {
		t.Errorf("imported %d (store %d), endpoints %d; want 2, 2, 1", rep.Imported, len(store.All()), rep.Endpoints)
	}
	if got := store.user("u-1").Devices[0].EndpointARN; got != "arn:endpoint/android/tok-1" {
		t.Errorf("endpoint = %q", got)
	}
	if _, ok := store.lookup("u-6"); !ok {
		t.Error("a user with an unparseable app version must be imported")
	}
	var lines []int
	for _, b := range rep.Bad {
		lines = append(lines, b.Line)
		if strings.Contains(b.Error(), "typo@example.com") || strings.Contains(b.Error(), "not an address") {
			t.Errorf("line error quotes personal data: %v", b)
		}
	}
	if want := []int{2, 4, 5, 6, 7}; !slices.Equal(lines, want) {
		t.Errorf("bad lines %v, want %v (%v)", lines, want, rep.Bad)
	}
}

// apiError has the shape of an AWS SDK API error.
type apiError struct{ code string }

func (e apiError) Error() string     { return "api error " + e.code + ": put user u-secret" }
func (e apiError) ErrorCode() string { return e.code }

// TestImportKeepsGoingPastRefusedLines: a line the store or the registrar
// refuses is reported by number, without its content, and the next lines
// are imported.
func TestImportKeepsGoingPastRefusedLines(t *testing.T) {
	input := strings.Join([]string{
		`{"userId":"u-1"}`,
		`{"userId":"u-secret"}`,
		`{"userId":"u-3","devices":[{"deviceId":"d-1","platform":"ios","appVersion":"1","pushToken":"bad-token"}]}`,
		`{"userId":"u-4"}`,
	}, "\n")
	store := newStore()
	refusing := storeFunc{memStore: store, put: func(ctx context.Context, u audience.User) error {
		if u.ID == "u-secret" {
			return fmt.Errorf("put user %s: %w", u.ID, apiError{"ValidationException"})
		}
		return store.put(ctx, u)
	}}
	reg := regFunc(func(_ context.Context, _, token string) (string, error) {
		return "", fmt.Errorf("register %s: %w", token, apiError{"InvalidParameter"})
	})
	rep, err := Import(context.Background(), strings.NewReader(input), refusing, reg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 2 || len(store.All()) != 2 || store.user("u-4").ID == "" {
		t.Errorf("imported %d (store %v), want u-1 and u-4", rep.Imported, store)
	}
	var lines []int
	for _, r := range rep.Refused {
		lines = append(lines, r.Line)
		if msg := r.Error(); strings.Contains(msg, "secret") || strings.Contains(msg, "bad-token") {
			t.Errorf("refusal quotes the line: %s", msg)
		}
	}
	if !slices.Equal(lines, []int{2, 3}) || len(rep.Bad) != 0 || rep.Lines != 4 {
		t.Errorf("refused lines %v, bad %v, %d lines read; want refused [2 3]", lines, rep.Bad, rep.Lines)
	}
}

// TestImportStopsWhenEveryLineWouldFail: credentials, connections, a
// cancelled context and items still unprocessed after the retries stop the
// import, naming the line to resume from; the lines of the chunk that were
// written are done, and nothing after it is written.
func TestImportStopsWhenEveryLineWouldFail(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"expired credentials", apiError{"ExpiredTokenException"}},
		{"no table", apiError{"ResourceNotFoundException"}},
		{"throttled past the retries", apiError{"ProvisionedThroughputExceededException"}},
		{"unprocessed past the retries", apiError{"UnprocessedItems"}},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}},
		{"cancelled", context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var input strings.Builder
			for i := 1; i <= 2*chunkSize; i++ {
				fmt.Fprintf(&input, "{\"userId\":\"u-%d\"}\n", i)
			}
			store := newStore()
			failing := storeFunc{memStore: store, put: func(ctx context.Context, u audience.User) error {
				if u.ID == "u-2" {
					return fmt.Errorf("put user %s: %w", u.ID, tc.err)
				}
				return store.put(ctx, u)
			}}
			// One worker: the first chunk is lines 1-100, and the stop
			// comes before the second.
			im := &Importer{Store: failing, Workers: 1}
			rep, err := im.Run(context.Background(), strings.NewReader(input.String()))
			if err == nil || !strings.Contains(err.Error(), "line 2 ") || !strings.Contains(err.Error(), "resume from line 2:") {
				t.Fatalf("err = %v, want a stop at line 2, to resume from it", err)
			}
			if strings.Contains(err.Error(), "u-2") {
				t.Errorf("error quotes the user: %v", err)
			}
			var stop *StopError
			if !errors.As(err, &stop) || stop.Line != 2 || stop.Resume != rep.Resume {
				t.Errorf("err = %#v, want a StopError at line 2", err)
			}
			if rep.Resume.Line != 2 || rep.Imported != chunkSize-1 || len(store.All()) != chunkSize-1 {
				t.Errorf("resume at %d, %d imported, %d stored; want line 2, the rest of the first chunk", rep.Resume.Line, rep.Imported, len(store.All()))
			}
		})
	}
}

// TestImportIsStrictAndBounded: lines are read by the strict decoder and
// bounded in length; a long line does not stop the lines after it.
func TestImportIsStrictAndBounded(t *testing.T) {
	long := `{"userId":"u-long","name":"` + strings.Repeat("n", incident.MaxLineBytes) + `"}`
	input := strings.Join([]string{
		`{"userId":"u-1"} {"userId":"u-x"}`,
		`{"USERID":"u-2"}`,
		`{"userId":"u-3","deviceſ":[]}`,
		`{"userId":"u-4","userId":"u-5"}`,
		long,
		`{"userId":"u-6"}`,
		`{"userId":"u-7","devices":[{"deviceId":"d-1","platform":"android","appVersion":"` + strings.Repeat("9", 2000) + `"}]}`,
		`{"userId":"u-8"}`,
	}, "\n")
	store := newStore()
	rep, err := Import(context.Background(), strings.NewReader(input), store, nil)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, b := range rep.Bad {
		lines = append(lines, b.Line)
		if len(b.Error()) > 1024 {
			t.Errorf("line %d: error of %d bytes", b.Line, len(b.Error()))
		}
	}
	if want := []int{1, 2, 3, 4, 5, 7}; !slices.Equal(lines, want) {
		t.Errorf("bad lines %v, want %v (%v)", lines, want, rep.Bad)
	}
	if rep.Imported != 2 || store.user("u-6").ID == "" || store.user("u-8").ID == "" {
		t.Errorf("imported %d: %v, want u-6 and u-8", rep.Imported, store)
	}
}

// storeFunc is a memStore whose writes go through put.
type storeFunc struct {
	memStore
	put func(context.Context, audience.User) error
}

func (f storeFunc) PutBatch(ctx context.Context, users []audience.User) map[string]error {
	return eachUser(users, func(u audience.User) error { return f.put(ctx, u) })
}

func (f storeFunc) Replace(ctx context.Context, u audience.User, _ []string) error {
	return f.put(ctx, u)
}
