package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// batchGetter answers BatchGetItem from a set of user ids, leaving the
// first key of every call unprocessed once, as a throttled table does;
// fail, when set, fails every call.
type batchGetter struct {
	Client
	users map[string]bool
	fail  error
	mu    sync.Mutex
	calls int
	held  map[string]bool
}

func (b *batchGetter) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if b.fail != nil {
		return nil, b.fail
	}
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}, UnprocessedKeys: map[string]types.KeysAndAttributes{}}
	for table, ka := range in.RequestItems {
		if len(ka.Keys) > batchGetMax {
			return nil, fmt.Errorf("%d keys in one call", len(ka.Keys))
		}
		for i, k := range ka.Keys {
			id := k["pk"].(*types.AttributeValueMemberS).Value
			if i == 0 && !b.held[id] {
				b.held[id] = true
				u := out.UnprocessedKeys[table]
				u.Keys = append(u.Keys, k)
				out.UnprocessedKeys[table] = u
				continue
			}
			if b.users[id] {
				out.Responses[table] = append(out.Responses[table], map[string]types.AttributeValue{"pk": str(id)})
			}
		}
	}
	return out, nil
}

func TestUserLookup(t *testing.T) {
	var ids, want []string
	users := map[string]bool{}
	for i := range 1050 {
		id := fmt.Sprintf("u-%05d", i)
		ids = append(ids, id)
		if i%3 == 0 {
			users[id] = true
			want = append(want, id)
		}
	}
	ids = append(ids, ids[:10]...) // repeated ids are looked up once
	for _, workers := range []int{0, 1, 4, 20} {
		t.Run(fmt.Sprint(workers, " workers"), func(t *testing.T) {
			c := &batchGetter{users: users, held: map[string]bool{}}
			l := &UserLookup{Client: c, Table: "users", Workers: workers}
			got, err := l.Existing(context.Background(), ids)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("found %d users, want %d", len(got), len(want))
			}
		})
	}
	t.Run("a failed call fails the lookup", func(t *testing.T) {
		boom := errors.New("service unavailable")
		c := &batchGetter{users: users, held: map[string]bool{}, fail: boom}
		if _, err := (&UserLookup{Client: c, Table: "users", Workers: 4}).Existing(context.Background(), ids); !errors.Is(err, boom) {
			t.Errorf("error = %v, want %v", err, boom)
		}
	})
}
