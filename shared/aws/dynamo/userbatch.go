package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"breachnotify/shared/audience"
)

// The bulk side of the users table, for the importer: plain BatchWriteItem
// for users whose device set did not shrink (nothing to remove, so nothing
// to make atomic), and a transaction only for those whose set shrank.

// batchWriteMax is BatchWriteItem's limit on requests per call.
const batchWriteMax = 25

// Retries of UnprocessedItems, UnprocessedKeys and of throttled or 5xx
// calls: full jitter (a random wait up to base·2^attempt, at most
// retryCap), so that many workers throttled together do not retry
// together. Variables so that tests need not wait.
var (
	retryAttempts = 10
	retryBase     = 50 * time.Millisecond
	retryCap      = 5 * time.Second
)

// UnprocessedError is a batch call whose items DynamoDB still left
// unprocessed, or kept refusing with throttling or a server error, after
// every retry: the users it names were not (all) written.
type UnprocessedError struct {
	Attempts int
	Err      error // the last call's error, or nil when only items were left over
}

func (e *UnprocessedError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("still failing after %d attempts: %v", e.Attempts, e.Err)
	}
	return fmt.Sprintf("items still unprocessed after %d attempts", e.Attempts)
}

func (e *UnprocessedError) Unwrap() error { return e.Err }

// ErrorCode lets callers classify it by shape, as an AWS error.
func (e *UnprocessedError) ErrorCode() string { return "UnprocessedItems" }

// Stored returns the stored record of each of ids that exists, read with
// strong consistency: the importer derives from it which device items a
// re-imported user no longer has, and a stale read would leave them behind.
func (u *Users) Stored(ctx context.Context, ids []string) (map[string]audience.User, error) {
	users := make(map[string]audience.User, len(ids))
	keys := profileKeys(ids)
	for start := 0; start < len(keys); start += batchGetMax {
		req := map[string]types.KeysAndAttributes{u.Table: {Keys: keys[start:min(start+batchGetMax, len(keys))], ConsistentRead: new(true)}}
		err := withRetries(ctx, func() (bool, error) {
			out, err := u.Client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return false, err
			}
			for _, item := range out.Responses[u.Table] {
				var p profileItem
				if err := unmarshal(item, &p); err != nil {
					return false, fmt.Errorf("decode user: %w", err)
				}
				users[p.ID] = p.User
			}
			req = out.UnprocessedKeys
			return len(req) == 0, nil
		})
		if err != nil {
			return nil, fmt.Errorf("read stored users: %w", err)
		}
	}
	return users, nil
}

// PutBatch writes users whose device sets did not shrink (the caller
// checked with Stored) and returns the error of each user it could not
// write. Profiles are written before device items: a failure in between
// leaves devices listed in the profile but not yet indexed (the line is
// reported and imported again), never an index item the profile does not
// list, which a later shrink could not find to remove.
func (u *Users) PutBatch(ctx context.Context, users []audience.User) map[string]error {
	failed := map[string]error{}
	var profiles, devices []userRequest
	for _, user := range users {
		p, ds, err := userItems(user)
		if err != nil {
			failed[user.ID] = err
			continue
		}
		profiles = append(profiles, userRequest{user.ID, types.WriteRequest{PutRequest: &types.PutRequest{Item: p}}})
		for _, d := range ds {
			devices = append(devices, userRequest{user.ID, types.WriteRequest{PutRequest: &types.PutRequest{Item: d}}})
		}
	}
	u.write(ctx, profiles, failed)
	u.write(ctx, slices.DeleteFunc(devices, func(r userRequest) bool { return failed[r.user] != nil }), failed)
	return failed
}

// DeleteBatch deletes users and their device items, and returns the error
// of each user it could not delete. Device items go first: a failure in
// between leaves the profile, which still lists them, for the next try.
func (u *Users) DeleteBatch(ctx context.Context, users []audience.User) map[string]error {
	failed := map[string]error{}
	var profiles, devices []userRequest
	for _, user := range users {
		profiles = append(profiles, userRequest{user.ID, deleteRequest(user.ID, profileSK)})
		for _, d := range user.Devices {
			devices = append(devices, userRequest{user.ID, deleteRequest(user.ID, devicePrefix+d.ID)})
		}
	}
	u.write(ctx, devices, failed)
	u.write(ctx, slices.DeleteFunc(profiles, func(r userRequest) bool { return failed[r.user] != nil }), failed)
	return failed
}

// Replace writes a user whose device set shrank in one transaction that
// also removes the index items of the devices it no longer has, so that a
// cohort never finds a device the user record does not list.
func (u *Users) Replace(ctx context.Context, user audience.User, removed []string) error {
	if len(user.Devices) > maxDevices || len(removed) > maxDevices {
		return fmt.Errorf("replace user %s: %d devices and %d removed, at most %d each", user.ID, len(user.Devices), len(removed), maxDevices)
	}
	p, ds, err := userItems(user)
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{{Put: &types.Put{TableName: &u.Table, Item: p}}}
	for _, d := range ds {
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &u.Table, Item: d}})
	}
	for _, id := range removed {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &u.Table,
			Key: map[string]types.AttributeValue{"pk": str(user.ID), "sk": str(devicePrefix + id)}}})
	}
	err = withRetries(ctx, func() (bool, error) {
		_, err := u.Client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("replace user %s: %w", user.ID, err)
	}
	return nil
}

// userItems are a user's profile item and device index items.
func userItems(user audience.User) (map[string]types.AttributeValue, []map[string]types.AttributeValue, error) {
	p, err := marshal(profileItem{PK: user.ID, SK: profileSK, User: user})
	if err != nil {
		return nil, nil, fmt.Errorf("encode user %s: %w", user.ID, err)
	}
	ds := make([]map[string]types.AttributeValue, 0, len(user.Devices))
	for _, d := range user.Devices {
		di, err := marshal(deviceItem{
			PK: user.ID, SK: devicePrefix + d.ID, Platform: d.Platform, AppVersion: d.AppVersion,
			CohortPK: audience.CohortPartition(d.Platform, user.ID), CohortSK: audience.CohortSort(d),
		})
		if err != nil {
			return nil, nil, fmt.Errorf("encode device of user %s: %w", user.ID, err)
		}
		ds = append(ds, di)
	}
	return p, ds, nil
}

func deleteRequest(pk, sk string) types.WriteRequest {
	return types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: map[string]types.AttributeValue{"pk": str(pk), "sk": str(sk)}}}
}

// userRequest is one write request and the user it belongs to.
type userRequest struct {
	user string
	req  types.WriteRequest
}

// write sends reqs in calls of 25 and records in failed the users whose
// requests did not all succeed.
func (u *Users) write(ctx context.Context, reqs []userRequest, failed map[string]error) {
	for start := 0; start < len(reqs); start += batchWriteMax {
		chunk := reqs[start:min(start+batchWriteMax, len(reqs))]
		err := u.writeChunk(ctx, chunk)
		var api smithy.APIError
		switch {
		case err == nil:
		case errors.As(err, &api) && api.ErrorCode() == "ValidationException":
			// One item DynamoDB refuses fails the whole call: write each
			// user apart so that only its own requests fail.
			for user := range groupByUser(chunk) {
				if err := u.writeChunk(ctx, user); err != nil {
					failed[user[0].user] = err
				}
			}
		default:
			for _, r := range chunk {
				failed[r.user] = err
			}
		}
	}
}

func groupByUser(reqs []userRequest) func(func([]userRequest) bool) {
	return func(yield func([]userRequest) bool) {
		for i := 0; i < len(reqs); {
			j := i + 1
			for j < len(reqs) && reqs[j].user == reqs[i].user {
				j++
			}
			if !yield(reqs[i:j]) {
				return
			}
			i = j
		}
	}
}

// writeChunk writes at most 25 requests, retrying what DynamoDB leaves
// unprocessed.
func (u *Users) writeChunk(ctx context.Context, chunk []userRequest) error {
	pending := make([]types.WriteRequest, len(chunk))
	for i, r := range chunk {
		pending[i] = r.req
	}
	return withRetries(ctx, func() (bool, error) {
		out, err := u.Client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{u.Table: pending}})
		if err != nil {
			return false, err
		}
		pending = out.UnprocessedItems[u.Table]
		return len(pending) == 0, nil
	})
}

// withRetries calls try until it reports done, waiting with full jitter
// between attempts. An error that retrying cannot cure ends it at once;
// throttling and server errors (moto, too, answers 500 now and then under
// concurrent writes) are retried like unprocessed items, on top of the
// SDK's own retries.
func withRetries(ctx context.Context, try func() (done bool, err error)) error {
	var last error
	for attempt := range retryAttempts {
		if attempt > 0 {
			wait := time.Duration(rand.Int64N(int64(min(retryCap, retryBase<<attempt)) + 1))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		done, err := try()
		switch {
		case done:
			return nil
		case err != nil && !retryable(err):
			return err
		}
		last = err
	}
	return &UnprocessedError{Attempts: retryAttempts, Err: last}
}

// retryable reports whether err is throttling or a server error.
func retryable(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError", "ServiceUnavailable":
			return true
		}
	}
	var resp *smithyhttp.ResponseError
	return errors.As(err, &resp) && resp.HTTPStatusCode() >= 500
}
