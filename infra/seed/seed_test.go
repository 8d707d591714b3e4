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

// stored is the user of id that the import left in store (zero if none).
func stored(store *fake.Users, id string) audience.User {
	users, _ := store.Get(context.Background(), []string{id})
	return users[id]
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
	store := fake.NewUsers()
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
	if got := stored(store, "u-1").Devices[0].EndpointARN; got != "arn:endpoint/android/tok-1" {
		t.Errorf("endpoint = %q", got)
	}
	if stored(store, "u-6").ID == "" {
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
	store := fake.NewUsers()
	refusing := storeFunc(func(ctx context.Context, u audience.User) error {
		if u.ID == "u-secret" {
			return fmt.Errorf("put user %s: %w", u.ID, apiError{"ValidationException"})
		}
		return store.Put(ctx, u)
	})
	reg := regFunc(func(_ context.Context, _, token string) (string, error) {
		return "", fmt.Errorf("register %s: %w", token, apiError{"InvalidParameter"})
	})
	rep, err := Import(context.Background(), strings.NewReader(input), refusing, reg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 2 || len(store.All()) != 2 || stored(store, "u-4").ID == "" {
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

// TestImportStopsWhenEveryLineWouldFail: credentials, connections and a
// cancelled context stop the import, naming the line to resume from.
func TestImportStopsWhenEveryLineWouldFail(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"expired credentials", apiError{"ExpiredTokenException"}},
		{"no table", apiError{"ResourceNotFoundException"}},
		{"throttled past the retries", apiError{"ProvisionedThroughputExceededException"}},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}},
		{"cancelled", context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			store := storeFunc(func(_ context.Context, u audience.User) error {
				calls++
				if u.ID == "u-2" {
					return fmt.Errorf("put user %s: %w", u.ID, tc.err)
				}
				return nil
			})
			rep, err := Import(context.Background(), strings.NewReader("{\"userId\":\"u-1\"}\n{\"userId\":\"u-2\"}\n{\"userId\":\"u-3\"}"), store, nil)
			if err == nil || !strings.Contains(err.Error(), "line 2") {
				t.Fatalf("err = %v, want a stop at line 2", err)
			}
			if strings.Contains(err.Error(), "u-2") {
				t.Errorf("error quotes the user: %v", err)
			}
			if calls != 2 || rep.Imported != 1 {
				t.Errorf("%d writes, %d imported; want the import to stop after the failing line", calls, rep.Imported)
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
	store := fake.NewUsers()
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
	if rep.Imported != 2 || stored(store, "u-6").ID == "" || stored(store, "u-8").ID == "" {
		t.Errorf("imported %d: %v, want u-6 and u-8", rep.Imported, store)
	}
}

type storeFunc func(context.Context, audience.User) error

func (f storeFunc) Put(ctx context.Context, u audience.User) error { return f(ctx, u) }
