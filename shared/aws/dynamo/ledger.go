package dynamo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

// Ledger is the deliveries table: one item per recipient (incident ×
// notice × user), claimed by a conditional write before any send, so two
// workers can never both send it, and written back once with every
// delivery's outcome. Items stay under 1 KB, one write unit each.
type Ledger struct {
	Client Client
	Table  string
}

type recordItem struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
	ledger.Recipient
	Template string       `json:"template"`
	State    ledger.State `json:"state"`
	Owner    string       `json:"owner,omitempty"`
	// LeaseUntil is Unix seconds; a number, so the condition compares it.
	LeaseUntil int64          `json:"leaseUntil,omitempty"`
	Deliveries []deliveryItem `json:"d,omitempty"`
	UpdatedAt  time.Time      `json:"updatedAt"`
	Next       string         `json:"next,omitempty"`
}

// deliveryItem is one delivery inside a record, with short names: they are
// repeated for every delivery and count towards the item's size.
type deliveryItem struct {
	Channel   incident.Channel `json:"ch"`
	DeviceID  string           `json:"dev,omitempty"`
	Status    ledger.Status    `json:"st"`
	Reason    string           `json:"why,omitempty"`
	MessageID string           `json:"mid,omitempty"`
	Version   string           `json:"ver,omitempty"`
	Locale    string           `json:"loc,omitempty"`
	At        time.Time        `json:"at"`
}

func recordKey(r ledger.Recipient) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"pk": str(shardPK(r.IncidentID, r.Shard())),
		"sk": str(r.NoticeID + "#" + r.UserID),
	}
}

func shardPK(incidentID string, shard int) string {
	return incidentID + "#" + strconv.Itoa(shard)
}

func toItem(r ledger.Record) recordItem {
	it := recordItem{Recipient: r.Recipient, Template: r.Template, State: r.State, Owner: r.Owner, UpdatedAt: r.UpdatedAt, Next: r.Next}
	if !r.LeaseUntil.IsZero() {
		it.LeaseUntil = r.LeaseUntil.Unix()
	}
	for _, d := range r.Deliveries {
		it.Deliveries = append(it.Deliveries, deliveryItem{
			Channel: d.Channel, DeviceID: d.DeviceID, Status: d.Status, Reason: d.Reason,
			MessageID: d.ProviderMessageID, Version: d.TemplateVersion, Locale: d.Locale, At: d.UpdatedAt,
		})
	}
	return it
}

func (it recordItem) record() ledger.Record {
	r := ledger.Record{Recipient: it.Recipient, Template: it.Template, State: it.State, Owner: it.Owner, UpdatedAt: it.UpdatedAt, Next: it.Next}
	if it.LeaseUntil != 0 {
		r.LeaseUntil = time.Unix(it.LeaseUntil, 0)
	}
	for _, d := range it.Deliveries {
		r.Deliveries = append(r.Deliveries, ledger.Entry{
			Key: ledger.Key{
				IncidentID: it.IncidentID, NoticeID: it.NoticeID, UserID: it.UserID,
				Channel: d.Channel, DeviceID: d.DeviceID,
			},
			Template: it.Template, TemplateVersion: d.Version, Locale: d.Locale,
			Status: d.Status, Reason: d.Reason, ProviderMessageID: d.MessageID, UpdatedAt: d.At,
		})
	}
	return r
}

func decodeRecord(item map[string]types.AttributeValue) (*ledger.Record, error) {
	if len(item) == 0 {
		return nil, nil
	}
	var it recordItem
	if err := unmarshal(item, &it); err != nil {
		return nil, fmt.Errorf("decode ledger record: %w", err)
	}
	r := it.record()
	if err := withFeedback(&r, item); err != nil {
		return nil, err
	}
	return &r, nil
}

// Claim takes a recipient's record by the rule of ledger.Take, in one
// conditional update that returns the record as it stood.
func (l *Ledger) Claim(ctx context.Context, c ledger.Claim) (ledger.Record, error) {
	lease, err := marshal(map[string]any{
		":i": c.IncidentID, ":n": c.NoticeID, ":u": c.UserID, ":t": c.Template,
		":claimed": ledger.Claimed, ":open": ledger.Open, ":o": c.Owner,
		":l": c.LeaseUntil.Unix(), ":now": c.At.Unix(), ":at": c.At,
	})
	if err != nil {
		return ledger.Record{}, fmt.Errorf("encode claim of %s: %w", c.Recipient, err)
	}
	update := "SET incidentId = :i, noticeId = :n, userId = :u, template = :t, #s = :claimed, #o = :o, leaseUntil = :l, updatedAt = :at"
	if c.Next != "" {
		lease[":next"] = str(c.Next)
		update += ", #next = :next"
	}
	names := map[string]string{"#s": "state", "#o": "owner"}
	if c.Next != "" {
		names["#next"] = "next"
	}
	out, err := l.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &l.Table,
		Key:                                 recordKey(c.Recipient),
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String("attribute_not_exists(pk) OR #s = :open OR (#s = :claimed AND leaseUntil < :now)"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           lease,
		ReturnValues:                        types.ReturnValueAllOld,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		old, derr := decodeRecord(ccf.Item)
		if derr != nil || old == nil {
			return ledger.Record{}, errors.Join(fmt.Errorf("claim %s: condition failed", c.Recipient), derr)
		}
		_, err := ledger.Take(old, c)
		return *old, err
	}
	if err != nil {
		return ledger.Record{}, fmt.Errorf("claim %s: %w", c.Recipient, err)
	}
	old, err := decodeRecord(out.Attributes)
	if err != nil {
		return ledger.Record{}, err
	}
	return ledger.Take(old, c)
}

// Record writes a claimed record back with its outcomes, ending the claim,
// on condition that the claim is still the caller's. It updates the
// worker's attributes only, so delivery feedback recorded meanwhile (see
// Feedback) stays.
func (l *Ledger) Record(ctx context.Context, claimed ledger.Record, outcomes []ledger.Entry, at time.Time) error {
	r, err := claimed.Merge(claimed.Owner, outcomes, at)
	if err != nil {
		return err
	}
	it := toItem(r)
	values, err := marshal(map[string]any{
		":t": it.Template, ":s": it.State, ":d": it.Deliveries, ":at": it.UpdatedAt,
		":claimed": ledger.Claimed, ":o": claimed.Owner,
	})
	if err != nil {
		return fmt.Errorf("encode %s: %w", r.Recipient, err)
	}
	if len(it.Deliveries) == 0 {
		values[":d"] = &types.AttributeValueMemberL{Value: []types.AttributeValue{}}
	}
	_, err = l.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &l.Table,
		Key:                       recordKey(r.Recipient),
		UpdateExpression:          aws.String("SET template = :t, #s = :s, d = :d, updatedAt = :at REMOVE #o, leaseUntil"),
		ConditionExpression:       aws.String("#s = :claimed AND #o = :o"),
		ExpressionAttributeNames:  map[string]string{"#s": "state", "#o": "owner"},
		ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("record %s: %w", r.Recipient, ledger.ErrNotOwner)
	}
	if err != nil {
		return fmt.Errorf("record %s as %s: %w", r.Recipient, r.State, err)
	}
	return l.indexPush(ctx, outcomes)
}

// indexPush writes, for each push sent, the item that leads its message
// id back to the delivery (Feedback.Locate): one more write per push, only
// for push. Written after the record, so that a failure here never leaves
// a send unrecorded; its report is then kept aside as unmatched.
func (l *Ledger) indexPush(ctx context.Context, outcomes []ledger.Entry) error {
	for _, o := range outcomes {
		if o.Channel != incident.Push || o.Status != ledger.Sent || o.ProviderMessageID == "" {
			continue
		}
		it, err := marshal(o.Key)
		if err != nil {
			return fmt.Errorf("encode push message %s: %w", o.ProviderMessageID, err)
		}
		maps.Copy(it, pushMessageKey(o.ProviderMessageID))
		if _, err := l.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &l.Table, Item: it}); err != nil {
			return fmt.Errorf("index push message of %s: %w", o.Key, err)
		}
	}
	return nil
}

// Records reads every record of an incident, in (notice, user) order.
func (l *Ledger) Records(ctx context.Context, incidentID string) ([]ledger.Record, error) {
	var out []ledger.Record
	err := l.Each(ctx, incidentID, func(r ledger.Record) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// eachPage is how many records Each reads from a shard at a time: with
// every shard's page in memory at once, Shards × eachPage records of under
// 1 KB each (a few MB) bound what Each holds, whatever the incident's size.
const eachPage = 200

// Each calls fn with every record of an incident, in (notice, user)
// order, holding a page of each shard at a time. Within a shard DynamoDB
// returns records in sort-key order, "<notice>#<user>", which is (notice,
// user) order since notice ids ("n<i>-<template>") hold no character
// below "#"; the shards are merged into one order.
func (l *Ledger) Each(ctx context.Context, incidentID string, fn func(ledger.Record) error) error {
	cursors := make([]*shardCursor, 0, ledger.Shards)
	for shard := range ledger.Shards {
		c := &shardCursor{incidentID: incidentID, shard: shard, p: dynamodb.NewQueryPaginator(l.Client, &dynamodb.QueryInput{
			TableName:                 &l.Table,
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(shardPK(incidentID, shard))},
			ConsistentRead:            aws.Bool(true),
			Limit:                     aws.Int32(eachPage),
		})}
		if err := c.fill(ctx); err != nil {
			return err
		}
		if len(c.page) > 0 {
			cursors = append(cursors, c)
		}
	}
	for len(cursors) > 0 {
		// A linear pick over at most Shards cursors: cheaper than a heap
		// at this size, and each pick is one record's write anyway.
		next := 0
		for i, c := range cursors[1:] {
			if before(c.page[0], cursors[next].page[0]) {
				next = i + 1
			}
		}
		c := cursors[next]
		if err := fn(c.page[0]); err != nil {
			return err
		}
		c.page = c.page[1:]
		if len(c.page) == 0 {
			if err := c.fill(ctx); err != nil {
				return err
			}
			if len(c.page) == 0 {
				cursors = slices.Delete(cursors, next, next+1)
			}
		}
	}
	return nil
}

func before(a, b ledger.Record) bool {
	return cmp.Or(cmp.Compare(a.NoticeID, b.NoticeID), cmp.Compare(a.UserID, b.UserID)) < 0
}

// shardCursor is one shard's records being read, a page at a time.
type shardCursor struct {
	incidentID string
	shard      int
	p          *dynamodb.QueryPaginator
	page       []ledger.Record
}

// fill reads the shard's next page that holds records; an empty page
// means the shard is done.
func (c *shardCursor) fill(ctx context.Context) error {
	c.page = nil
	for len(c.page) == 0 && c.p.HasMorePages() {
		page, err := c.p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list records of %s shard %d: %w", c.incidentID, c.shard, err)
		}
		c.page = make([]ledger.Record, 0, len(page.Items))
		for _, item := range page.Items {
			r, err := decodeRecord(item)
			if err != nil {
				return err
			}
			c.page = append(c.page, *r)
		}
	}
	return nil
}

// List reads every delivery of an incident.
func (l *Ledger) List(ctx context.Context, incidentID string) ([]ledger.Entry, error) {
	records, err := l.Records(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	var out []ledger.Entry
	for _, r := range records {
		out = append(out, r.Deliveries...)
	}
	return out, nil
}

// Get reads the records of the given recipients; those without one are
// absent from the map.
func (l *Ledger) Get(ctx context.Context, rs []ledger.Recipient) (map[ledger.Recipient]ledger.Record, error) {
	keys := make([]map[string]types.AttributeValue, len(rs))
	for i, r := range rs {
		keys[i] = recordKey(r)
	}
	out := map[ledger.Recipient]ledger.Record{}
	err := batchGet(ctx, l.Client, l.Table, keys, "", func(item map[string]types.AttributeValue) error {
		r, err := decodeRecord(item)
		if err != nil {
			return err
		}
		out[r.Recipient] = *r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read ledger records: %w", err)
	}
	return out, nil
}
