// Package dynamo stores users, incidents and the delivery ledger in
// DynamoDB, and turns DynamoDB's errors into the domain's.
package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Client is the part of the DynamoDB API this package calls.
type Client interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Items are stored with the domain types' JSON names, so the table reads
// like the documented contracts.
func marshal(v any) (map[string]types.AttributeValue, error) {
	return attributevalue.MarshalMapWithOptions(v, func(o *attributevalue.EncoderOptions) { o.TagKey = "json" })
}

func unmarshal(item map[string]types.AttributeValue, v any) error {
	return attributevalue.UnmarshalMapWithOptions(item, v, func(o *attributevalue.DecoderOptions) { o.TagKey = "json" })
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// batchGetMax is BatchGetItem's limit on keys per call.
const batchGetMax = 100

// batchGet reads keys from table in chunks, retrying unprocessed keys with
// a short backoff, and calls each for every item found.
func batchGet(ctx context.Context, c Client, table string, keys []map[string]types.AttributeValue, projection string, each func(map[string]types.AttributeValue) error) error {
	for start := 0; start < len(keys); start += batchGetMax {
		ka := types.KeysAndAttributes{Keys: keys[start:min(start+batchGetMax, len(keys))]}
		if projection != "" {
			ka.ProjectionExpression = &projection
		}
		req := map[string]types.KeysAndAttributes{table: ka}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt > 0 {
				if attempt > 8 {
					return fmt.Errorf("batch get from %s: keys still unprocessed after %d attempts", table, attempt)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Duration(1<<attempt) * 10 * time.Millisecond):
				}
			}
			out, err := c.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return fmt.Errorf("batch get from %s: %w", table, err)
			}
			for _, item := range out.Responses[table] {
				if err := each(item); err != nil {
					return err
				}
			}
			req = out.UnprocessedKeys
		}
	}
	return nil
}
