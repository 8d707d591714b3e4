package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"breachnotify/shared/feedback"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

// Feedback writes delivery feedback into the ledger table. Each delivery's
// latest report is an attribute of its recipient's record of its own,
// "f#<channel>[#<device>]", beside the worker's list of outcomes: a report
// is one conditional update, with no read and no race with the worker
// (whose Record leaves other attributes alone), and forward-only by its
// condition on the stored report's rank. Reading a record applies the
// reports to its outcomes (withFeedback).
//
// Reports that match nothing are kept under "aside#<day>", and unreachable
// addresses (hashed) under "unreachable#<hash>", in the same table: rare
// items, no second table to provision and grant.
type Feedback struct {
	Client Client
	Table  string
}

// feedbackItem is one delivery's latest report.
type feedbackItem struct {
	Status    ledger.Status `json:"st"`
	Reason    string        `json:"why,omitempty"`
	MessageID string        `json:"mid,omitempty"`
	At        time.Time     `json:"at"`
	// Rank is ledger.Rank(Status): a number, so the condition compares it.
	Rank int `json:"rk"`
}

const feedbackPrefix = "f#"

func feedbackAttr(k ledger.Key) string {
	a := feedbackPrefix + string(k.Channel)
	if k.DeviceID != "" {
		a += "#" + k.DeviceID
	}
	return a
}

// Apply records f on its delivery when it moves it forward, with the
// recipient's reach before and after from the record as it stood.
func (f *Feedback) Apply(ctx context.Context, fb ledger.Feedback) (feedback.Applied, error) {
	values, err := marshal(map[string]any{
		":v":  feedbackItem{Status: fb.Status, Reason: fb.Reason, MessageID: fb.MessageID, At: fb.At, Rank: fb.Status.Rank()},
		":rk": fb.Status.Rank(),
	})
	if err != nil {
		return feedback.Applied{}, fmt.Errorf("encode feedback on %s: %w", fb.Key, err)
	}
	out, err := f.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           &f.Table,
		Key:                                 recordKey(fb.Recipient()),
		UpdateExpression:                    aws.String("SET #f = :v"),
		ConditionExpression:                 aws.String("attribute_exists(pk) AND (attribute_not_exists(#f) OR #f.rk < :rk)"),
		ExpressionAttributeNames:            map[string]string{"#f": feedbackAttr(fb.Key)},
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllOld,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf) && len(ccf.Item) == 0:
		return feedback.Applied{}, fmt.Errorf("feedback on %s: %w", fb.Key, feedback.ErrUnknown)
	case errors.As(err, &ccf):
		// As far or further already: a repeated or late report.
		return feedback.Applied{}, nil
	case err != nil:
		return feedback.Applied{}, fmt.Errorf("feedback on %s: %w", fb.Key, err)
	}
	old, err := decodeRecord(out.Attributes)
	if err != nil || old == nil {
		return feedback.Applied{Moved: true}, err
	}
	before, _ := ledger.ReachOf(old.Deliveries)
	after := before
	if i := slices.IndexFunc(old.Deliveries, func(d ledger.Entry) bool { return d.Key == fb.Key }); i >= 0 {
		old.Deliveries[i], _ = old.Deliveries[i].Apply(fb)
		after, _ = ledger.ReachOf(old.Deliveries)
	}
	return feedback.Applied{Moved: true, Before: before, After: after, Record: *old}, nil
}

// KeepAside stores a report that matched no delivery, once per report.
func (f *Feedback) KeepAside(ctx context.Context, u feedback.Unmatched) error {
	it, err := marshal(u)
	if err != nil {
		return fmt.Errorf("encode unmatched %s: %w", u.MessageID, err)
	}
	id := u.MessageID
	if id == "" {
		id = u.At.UTC().Format(time.RFC3339Nano)
	}
	it["pk"], it["sk"] = str("aside#"+u.At.UTC().Format(time.DateOnly)), str(u.Kind+"#"+id)
	if _, err := f.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.Table, Item: it}); err != nil {
		return fmt.Errorf("keep aside %s: %w", u.MessageID, err)
	}
	return nil
}

// MarkUnreachable remembers an address (by hash) that bounced for good or
// complained.
func (f *Feedback) MarkUnreachable(ctx context.Context, hash, reason string, at time.Time) error {
	it, err := marshal(map[string]any{"pk": "unreachable#" + hash, "sk": string(incident.Email), "reason": reason, "at": at})
	if err != nil {
		return err
	}
	if _, err := f.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.Table, Item: it}); err != nil {
		return fmt.Errorf("mark an address unreachable: %w", err)
	}
	return nil
}

// Unreachable reports which of the address hashes were marked unreachable.
func (f *Feedback) Unreachable(ctx context.Context, hashes []string) (map[string]bool, error) {
	keys := make([]map[string]types.AttributeValue, len(hashes))
	for i, h := range hashes {
		keys[i] = map[string]types.AttributeValue{"pk": str("unreachable#" + h), "sk": str(string(incident.Email))}
	}
	out := map[string]bool{}
	err := batchGet(ctx, f.Client, f.Table, keys, "pk", func(item map[string]types.AttributeValue) error {
		if pk, ok := item["pk"].(*types.AttributeValueMemberS); ok {
			out[strings.TrimPrefix(pk.Value, "unreachable#")] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read unreachable addresses: %w", err)
	}
	return out, nil
}

// withFeedback applies the reports stored in a record's item to its
// deliveries.
func withFeedback(r *ledger.Record, item map[string]types.AttributeValue) error {
	for name, v := range item {
		rest, ok := strings.CutPrefix(name, feedbackPrefix)
		if !ok {
			continue
		}
		var fi feedbackItem
		if err := unmarshal(map[string]types.AttributeValue{"v": v}, &struct {
			V *feedbackItem `json:"v"`
		}{&fi}); err != nil {
			return fmt.Errorf("decode feedback %s of %s: %w", name, r.Recipient, err)
		}
		ch, dev, _ := strings.Cut(rest, "#")
		for i, d := range r.Deliveries {
			if string(d.Channel) == ch && d.DeviceID == dev {
				r.Deliveries[i], _ = d.Apply(ledger.Feedback{Key: d.Key, MessageID: fi.MessageID, Status: fi.Status, Reason: fi.Reason, At: fi.At})
			}
		}
	}
	return nil
}

// pushMessageKey is the item that names the delivery of a push message:
// SNS's delivery failure events carry the message id and the endpoint,
// not the recipient.
func pushMessageKey(messageID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str("msg#" + messageID), "sk": str(string(incident.Push))}
}

// Locate is the delivery of a push message (see Ledger.Record).
func (f *Feedback) Locate(ctx context.Context, messageID string) (ledger.Key, error) {
	out, err := f.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &f.Table, Key: pushMessageKey(messageID)})
	if err != nil {
		return ledger.Key{}, fmt.Errorf("locate push message %s: %w", messageID, err)
	}
	if len(out.Item) == 0 {
		return ledger.Key{}, fmt.Errorf("push message %s: %w", messageID, feedback.ErrUnknown)
	}
	var k ledger.Key
	if err := unmarshal(out.Item, &k); err != nil {
		return ledger.Key{}, fmt.Errorf("decode push message %s: %w", messageID, err)
	}
	return k, nil
}
