package dynamo

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"breachnotify/shared/audience"
)

// batchWriter is a Client whose BatchWriteItem answers from a script: each
// call takes the next answer, which may leave items unprocessed or fail.
type batchWriter struct {
	Client
	answers []func(in []types.WriteRequest) ([]types.WriteRequest, error)
	written []types.WriteRequest
	calls   int
}

func (b *batchWriter) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	reqs := in.RequestItems["users"]
	answer := func(in []types.WriteRequest) ([]types.WriteRequest, error) { return nil, nil }
	if b.calls < len(b.answers) {
		answer = b.answers[b.calls]
	}
	b.calls++
	unprocessed, err := answer(reqs)
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if !contains(unprocessed, r) {
			b.written = append(b.written, r)
		}
	}
	out := &dynamodb.BatchWriteItemOutput{}
	if len(unprocessed) > 0 {
		out.UnprocessedItems = map[string][]types.WriteRequest{"users": unprocessed}
	}
	return out, nil
}

func contains(reqs []types.WriteRequest, r types.WriteRequest) bool {
	for _, o := range reqs {
		if o.PutRequest == r.PutRequest && o.DeleteRequest == r.DeleteRequest {
			return true
		}
	}
	return false
}

func leaveHalf(in []types.WriteRequest) ([]types.WriteRequest, error) { return in[len(in)/2:], nil }
func leaveAll(in []types.WriteRequest) ([]types.WriteRequest, error)  { return in, nil }

func serverError(in []types.WriteRequest) ([]types.WriteRequest, error) {
	return nil, &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 500}}, Err: errors.New("dictionary changed size during iteration")}
}

func validation(in []types.WriteRequest) ([]types.WriteRequest, error) {
	return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "item too large"}
}

func fastRetries(t *testing.T) {
	t.Helper()
	base, cap := retryBase, retryCap
	retryBase, retryCap = time.Microsecond, time.Millisecond
	t.Cleanup(func() { retryBase, retryCap = base, cap })
}

func users(ids ...string) []audience.User {
	var out []audience.User
	for _, id := range ids {
		out = append(out, audience.User{ID: id, Devices: []audience.Device{{ID: "d-1", Platform: "ios", AppVersion: "1"}}})
	}
	return out
}

// TestPutBatchRetriesUnprocessedItems: what DynamoDB leaves unprocessed,
// or answers with a server error, is sent again until written; when the
// retries run out, the users not written are named with an error that says
// so, and their device items are not written without their profiles.
func TestPutBatchRetriesUnprocessedItems(t *testing.T) {
	fastRetries(t)
	tests := []struct {
		name        string
		answers     []func([]types.WriteRequest) ([]types.WriteRequest, error)
		wantFailed  int
		wantWritten int
		unprocessed bool
	}{
		{"unprocessed, then written", []func([]types.WriteRequest) ([]types.WriteRequest, error){leaveHalf, leaveHalf, leaveAll}, 0, 6, false},
		{"a 500, then written", []func([]types.WriteRequest) ([]types.WriteRequest, error){serverError, serverError}, 0, 6, false},
		{"unprocessed past the retries", repeat(leaveAll, retryAttempts), 3, 0, true},
		{"one item refused: each user apart", []func([]types.WriteRequest) ([]types.WriteRequest, error){validation, nil, validation, nil, nil, nil}, 1, 4, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i, a := range tc.answers {
				if a == nil {
					tc.answers[i] = func([]types.WriteRequest) ([]types.WriteRequest, error) { return nil, nil }
				}
			}
			c := &batchWriter{answers: tc.answers}
			u := &Users{Client: c, Table: "users"}
			failed := u.PutBatch(context.Background(), users("u-1", "u-2", "u-3"))
			if len(failed) != tc.wantFailed || len(c.written) != tc.wantWritten {
				t.Fatalf("%d failed (%v), %d items written; want %d failed, %d written", len(failed), failed, len(c.written), tc.wantFailed, tc.wantWritten)
			}
			var ue *UnprocessedError
			for _, err := range failed {
				if errors.As(err, &ue) != tc.unprocessed {
					t.Errorf("error %v: unprocessed %t, want %t", err, !tc.unprocessed, tc.unprocessed)
				}
			}
		})
	}
}

func repeat[T any](v T, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestDeleteBatchDeletesDevicesBeforeTheProfile: a user whose device items
// could not be deleted keeps its profile, which lists them for the next
// try.
func TestDeleteBatchDeletesDevicesBeforeTheProfile(t *testing.T) {
	fastRetries(t)
	c := &batchWriter{answers: repeat(leaveAll, retryAttempts)}
	u := &Users{Client: c, Table: "users"}
	failed := u.DeleteBatch(context.Background(), users("u-1"))
	if failed["u-1"] == nil || c.calls != retryAttempts {
		t.Fatalf("failed %v after %d calls, want u-1 after %d", failed, c.calls, retryAttempts)
	}
	c = &batchWriter{}
	u.Client = c
	if failed := u.DeleteBatch(context.Background(), users("u-1", "u-2")); len(failed) != 0 {
		t.Fatal(failed)
	}
	var sks []string
	for _, r := range c.written {
		sks = append(sks, r.DeleteRequest.Key["sk"].(*types.AttributeValueMemberS).Value)
	}
	if len(sks) != 4 || sks[0] != "device#d-1" || sks[3] != "profile" {
		t.Errorf("deleted %v, want the device items before the profiles", sks)
	}
}
