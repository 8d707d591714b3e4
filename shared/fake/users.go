package fake

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"breachnotify/shared/audience"
)

// Users is the users table in memory: Put replaces a user with its
// devices, as an import does, and Get returns those of the ids asked for
// that exist. Safe for concurrent use.
type Users struct {
	mu    sync.Mutex
	users map[string]audience.User
}

// NewUsers holds users.
func NewUsers(users ...audience.User) *Users {
	u := &Users{}
	for _, user := range users {
		_ = u.Put(context.Background(), user)
	}
	return u
}

// Put stores user, replacing any record of the same id.
func (u *Users) Put(_ context.Context, user audience.User) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.users == nil {
		u.users = map[string]audience.User{}
	}
	u.users[user.ID] = user
	return nil
}

// Get returns the users found among ids.
func (u *Users) Get(_ context.Context, ids []string) (map[string]audience.User, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[string]audience.User, len(ids))
	for _, id := range ids {
		if user, ok := u.users[id]; ok {
			out[id] = user
		}
	}
	return out, nil
}

// All is every user stored, in id order.
func (u *Users) All() []audience.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := slices.Collect(maps.Values(u.users))
	slices.SortFunc(out, func(a, b audience.User) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// UserIDsInShards returns the first n of the ids u-000000, u-000001, …
// (in that order) whose shard pick keeps: users spread over every shard,
// or packed into one, for tests of sharded planning.
func UserIDsInShards(n int, pick func(shard int) bool) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		id := fmt.Sprintf("u-%06d", i)
		if pick(audience.UserShard(id)) {
			out = append(out, id)
		}
	}
	return out
}

// AnyShard keeps every shard (for UserIDsInShards).
func AnyShard(int) bool { return true }

// InShard keeps shard s alone (for UserIDsInShards).
func InShard(s int) func(shard int) bool { return func(shard int) bool { return shard == s } }

// Stored is Get, under the name of the bulk importer's store.
func (u *Users) Stored(ctx context.Context, ids []string) (map[string]audience.User, error) {
	return u.Get(ctx, ids)
}

// PutBatch stores users; none fails.
func (u *Users) PutBatch(ctx context.Context, users []audience.User) map[string]error {
	for _, user := range users {
		_ = u.Put(ctx, user)
	}
	return nil
}

// Replace stores a user whose device set shrank: in memory there are no
// device index items to remove.
func (u *Users) Replace(ctx context.Context, user audience.User, _ []string) error {
	return u.Put(ctx, user)
}

// DeleteBatch deletes users; none fails.
func (u *Users) DeleteBatch(_ context.Context, users []audience.User) map[string]error {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, user := range users {
		delete(u.users, user.ID)
	}
	return nil
}
