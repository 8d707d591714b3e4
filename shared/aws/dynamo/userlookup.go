package dynamo

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// UserLookup says which of many ids belong to users: an audience file's
// range names up to a million and a half, which one BatchGetItem call
// after another (100 keys, ~10 ms each) would take minutes to look up.
// Workers calls run at once, each retrying its unprocessed keys (batchGet).
type UserLookup struct {
	Client  Client
	Table   string
	Workers int
}

// Existing returns those of ids that belong to a user, in no order. Keys
// are built a call at a time: a million and a half of them at once would
// take hundreds of megabytes.
func (l *UserLookup) Existing(ctx context.Context, ids []string) ([]string, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	chunks := make(chan []string)
	var (
		mu    sync.Mutex
		found []string
		wg    sync.WaitGroup
	)
	for range max(l.Workers, 1) {
		wg.Go(func() {
			for chunk := range chunks {
				err := batchGet(ctx, l.Client, l.Table, profileKeys(chunk), "pk", func(item map[string]types.AttributeValue) error {
					if s, ok := item["pk"].(*types.AttributeValueMemberS); ok {
						mu.Lock()
						found = append(found, s.Value)
						mu.Unlock()
					}
					return nil
				})
				if err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for start := 0; start < len(ids); start += batchGetMax {
		select {
		case chunks <- ids[start:min(start+batchGetMax, len(ids))]:
		case <-ctx.Done():
			break feed
		}
	}
	close(chunks)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, fmt.Errorf("look up %d users: %w", len(ids), err)
	}
	return found, nil
}
