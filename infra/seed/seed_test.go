package seed

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"breachnotify/shared/audience"
)

type memStore map[string]audience.User

func (m memStore) Put(_ context.Context, u audience.User) error { m[u.ID] = u; return nil }

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
	store := memStore{}
	reg := regFunc(func(_ context.Context, platform, token string) (string, error) {
		return "arn:endpoint/" + platform + "/" + token, nil
	})
	rep, err := Import(context.Background(), strings.NewReader(input), store, reg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 2 || len(store) != 2 || rep.Endpoints != 1 {
		t.Errorf("imported %d (store %d), endpoints %d; want 2, 2, 1", rep.Imported, len(store), rep.Endpoints)
	}
	if got := store["u-1"].Devices[0].EndpointARN; got != "arn:endpoint/android/tok-1" {
		t.Errorf("endpoint = %q", got)
	}
	if _, ok := store["u-6"]; !ok {
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

func TestImportStopsOnStoreFailure(t *testing.T) {
	boom := errors.New("throttled")
	store := storeFunc(func(context.Context, audience.User) error { return boom })
	_, err := Import(context.Background(), strings.NewReader(`{"userId":"u-1"}`), store, nil)
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want the store's error", err)
	}
}

type storeFunc func(context.Context, audience.User) error

func (f storeFunc) Put(ctx context.Context, u audience.User) error { return f(ctx, u) }
