package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"breachnotify/shared/audit"
)

// Audit keeps each incident's audit trail beside it: sk "audit#<seq>" (seq
// zero-padded, so entries sort in order) and the chain's head in its own
// item, sk "audithead", apart from the incident record that whole-record
// writes replace. An entry and the head move together in one transaction
// conditional on the head being unchanged, so concurrent writers (workers
// summarising batches) serialise without a lock.
type Audit struct {
	Client Client
	Table  string
}

const (
	auditPrefix = "audit#"
	auditHeadSK = "audithead"
	// appendAttempts bounds retries when other writers keep moving the head.
	appendAttempts = 20
)

type auditItem struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
	audit.Entry
}

type headItem struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
	audit.Head
}

// Head reads an incident's chain head (zero if it has no entries).
func (a *Audit) Head(ctx context.Context, id string) (audit.Head, error) {
	out, err := a.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &a.Table, ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": str(id), "sk": str(auditHeadSK)}})
	if err != nil {
		return audit.Head{}, fmt.Errorf("read audit head of %s: %w", id, err)
	}
	var h headItem
	if err := unmarshal(out.Item, &h); err != nil {
		return audit.Head{}, fmt.Errorf("decode audit head of %s: %w", id, err)
	}
	return h.Head, nil
}

// Append chains e after the incident's last entry.
func (a *Audit) Append(ctx context.Context, e audit.Entry) error {
	for attempt := 0; attempt < appendAttempts; attempt++ {
		head, err := a.Head(ctx, e.IncidentID)
		if err != nil {
			return err
		}
		var prev *audit.Entry
		if head.Seq > 0 {
			prev = &audit.Entry{Seq: head.Seq, Hash: head.Hash}
		}
		next := audit.Next(prev, e)
		err = a.write(ctx, head, next)
		var cancelled *types.TransactionCanceledException
		if !errors.As(err, &cancelled) {
			return err
		}
		// Another writer moved the head first: read it again.
		time.Sleep(time.Duration(rand.Int64N(int64(10*time.Millisecond) << min(attempt, 5))))
	}
	return fmt.Errorf("append %s to the audit of %s: the head kept moving for %d attempts", e.Kind, e.IncidentID, appendAttempts)
}

func (a *Audit) write(ctx context.Context, head audit.Head, e audit.Entry) error {
	item, err := marshal(auditItem{PK: e.IncidentID, SK: fmt.Sprintf("%s%012d", auditPrefix, e.Seq), Entry: e})
	if err != nil {
		return fmt.Errorf("encode audit entry: %w", err)
	}
	hd, err := marshal(headItem{PK: e.IncidentID, SK: auditHeadSK, Head: e.Head()})
	if err != nil {
		return fmt.Errorf("encode audit head: %w", err)
	}
	cond := "attribute_not_exists(pk)"
	values := map[string]types.AttributeValue{}
	if head.Seq > 0 {
		cond = "seq = :seq AND #h = :hash"
		values[":seq"] = num(int(head.Seq))
		values[":hash"] = str(head.Hash)
	}
	put := &types.Put{TableName: &a.Table, Item: hd, ConditionExpression: &cond}
	if head.Seq > 0 {
		put.ExpressionAttributeValues = values
		put.ExpressionAttributeNames = map[string]string{"#h": "hash"}
	}
	_, err = a.Client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &a.Table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: put},
	}})
	if err != nil {
		return fmt.Errorf("append audit entry %d of %s: %w", e.Seq, e.IncidentID, err)
	}
	return nil
}

// Entries reads an incident's trail in order.
func (a *Audit) Entries(ctx context.Context, id string) ([]audit.Entry, error) {
	var out []audit.Entry
	err := a.Each(ctx, id, func(e audit.Entry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// Each calls fn with an incident's audit entries in seq order, a page at a
// time: a large incident's trail holds an entry per batch.
func (a *Audit) Each(ctx context.Context, id string, fn func(audit.Entry) error) error {
	inc := &Incidents{Client: a.Client, Table: a.Table}
	err := inc.query(ctx, id, auditPrefix, func(item map[string]types.AttributeValue) error {
		var it auditItem
		if err := unmarshal(item, &it); err != nil {
			return err
		}
		return fn(it.Entry)
	})
	if err != nil {
		return fmt.Errorf("read audit of %s: %w", id, err)
	}
	return nil
}
