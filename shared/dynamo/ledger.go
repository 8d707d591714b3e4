package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"breachnotify/shared/ledger"
)

// Ledger is the deliveries table. A delivery's item is created by a
// conditional write, so two workers can never both send it.
type Ledger struct {
	Client Client
	Table  string
}

type ledgerItem struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
	ledger.Entry
	// LeaseUntil is Unix seconds; a number, so the condition compares it.
	LeaseUntil int64 `json:"leaseUntil,omitempty"`
}

func ledgerKey(k ledger.Key) map[string]types.AttributeValue {
	sk := k.NoticeID + "#" + k.UserID + "#" + string(k.Channel)
	if k.DeviceID != "" {
		sk += "#" + k.DeviceID
	}
	return map[string]types.AttributeValue{
		"pk": str(shardPK(k.IncidentID, k.Shard())),
		"sk": str(sk),
	}
}

func shardPK(incidentID string, shard int) string {
	return incidentID + "#" + strconv.Itoa(shard)
}

// Claim writes e unless the delivery exists, except that an expired claim
// (its worker died) may be taken over.
func (l *Ledger) Claim(ctx context.Context, e ledger.Entry, leaseUntil time.Time) error {
	key := ledgerKey(e.Key)
	item, err := marshal(ledgerItem{Entry: e, LeaseUntil: leaseUntil.Unix()})
	if err != nil {
		return fmt.Errorf("encode %s: %w", e.Key, err)
	}
	item["pk"], item["sk"] = key["pk"], key["sk"]
	_, err = l.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                &l.Table,
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(pk) OR (#s = :claimed AND leaseUntil < :now)"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":claimed": str(string(ledger.Claimed)),
			":now":     &types.AttributeValueMemberN{Value: strconv.FormatInt(e.UpdatedAt.Unix(), 10)},
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		var old ledgerItem
		if err := unmarshal(ccf.Item, &old); err == nil && old.Status == ledger.Claimed {
			return &ledger.InFlightError{Until: time.Unix(old.LeaseUntil, 0)}
		}
		return ledger.ErrDone
	}
	if err != nil {
		return fmt.Errorf("claim %s: %w", e.Key, err)
	}
	return nil
}

// Finish records a claimed delivery's outcome.
func (l *Ledger) Finish(ctx context.Context, e ledger.Entry) error {
	item, err := marshal(ledgerItem{Entry: e})
	if err != nil {
		return fmt.Errorf("encode %s: %w", e.Key, err)
	}
	key := ledgerKey(e.Key)
	item["pk"], item["sk"] = key["pk"], key["sk"]
	_, err = l.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &l.Table,
		Item:                      item,
		ConditionExpression:       aws.String("#s = :claimed"),
		ExpressionAttributeNames:  map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":claimed": str(string(ledger.Claimed))},
	})
	if err != nil {
		return fmt.Errorf("finish %s as %s: %w", e.Key, e.Status, err)
	}
	return nil
}

// Release deletes a claim that did not lead to a send.
func (l *Ledger) Release(ctx context.Context, k ledger.Key) error {
	_, err := l.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &l.Table,
		Key:                       ledgerKey(k),
		ConditionExpression:       aws.String("#s = :claimed"),
		ExpressionAttributeNames:  map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":claimed": str(string(ledger.Claimed))},
	})
	if err != nil {
		return fmt.Errorf("release %s: %w", k, err)
	}
	return nil
}

// List reads every delivery of an incident, shard by shard.
func (l *Ledger) List(ctx context.Context, incidentID string) ([]ledger.Entry, error) {
	var out []ledger.Entry
	for shard := range ledger.Shards {
		p := dynamodb.NewQueryPaginator(l.Client, &dynamodb.QueryInput{
			TableName:                 &l.Table,
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(shardPK(incidentID, shard))},
			ConsistentRead:            aws.Bool(true),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list deliveries of %s shard %d: %w", incidentID, shard, err)
			}
			for _, item := range page.Items {
				var it ledgerItem
				if err := unmarshal(item, &it); err != nil {
					return nil, fmt.Errorf("decode delivery: %w", err)
				}
				out = append(out, it.Entry)
			}
		}
	}
	return out, nil
}
