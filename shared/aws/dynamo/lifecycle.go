package dynamo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"breachnotify/shared/dispatch"
	"breachnotify/shared/incident"
	"breachnotify/shared/lifecycle"
)

// Held batches wait beside their incident under sk "held#<hash>" until the
// incident may send (or is cancelled); the hash makes holding idempotent.
const heldPrefix = "held#"

// Transition sets an incident's state on condition that it is still from.
func (s *Incidents) Transition(ctx context.Context, id string, from, to incident.State, c lifecycle.Change) error {
	set := map[string]any{"state": to}
	maps.Copy(set, c.Attributes(from, to))
	values := map[string]any{":from": from}
	names := map[string]string{}
	var parts []string
	for i, k := range slices.Sorted(maps.Keys(set)) {
		n, v := fmt.Sprintf("#a%d", i), fmt.Sprintf(":v%d", i)
		names[n], values[v] = k, set[k]
		parts = append(parts, n+" = "+v)
	}
	av, err := marshal(values)
	if err != nil {
		return fmt.Errorf("encode transition of %s: %w", id, err)
	}
	names["#s"] = "state"
	// The active index follows the state, in the same write.
	names["#active"] = activeAttr
	update := "SET " + strings.Join(parts, ", ")
	if to.Active() {
		update += ", #active = :active"
		av[":active"] = str(activeKey)
	} else {
		update += " REMOVE #active"
	}
	_, err = s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.Table,
		Key:                       map[string]types.AttributeValue{"pk": str(id), "sk": str(incidentSK)},
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("#s = :from"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: av,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("%s → %s: %w", from, to, lifecycle.ErrStateChanged)
	}
	if err != nil {
		return fmt.Errorf("set state of %s to %s: %w", id, to, err)
	}
	return nil
}

// Gate reads what a worker needs to decide on a batch: the incident's
// state and its paused channels, and the title its notices quote.
func (s *Incidents) Gate(ctx context.Context, id string) (dispatch.Gate, error) {
	out, err := s.Client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                &s.Table,
		Key:                      map[string]types.AttributeValue{"pk": str(id), "sk": str(incidentSK)},
		ProjectionExpression:     aws.String("#s, #t"),
		ExpressionAttributeNames: map[string]string{"#s": "state", "#t": "title"},
		ConsistentRead:           aws.Bool(true),
	})
	if err != nil {
		return dispatch.Gate{}, fmt.Errorf("read state of %s: %w", id, err)
	}
	var st struct {
		State incident.State `json:"state"`
		Title string         `json:"title"`
	}
	if err := unmarshal(out.Item, &st); err != nil {
		return dispatch.Gate{}, fmt.Errorf("decode state of %s: %w", id, err)
	}
	paused, err := s.Paused(ctx, id)
	if err != nil {
		return dispatch.Gate{}, err
	}
	return dispatch.Gate{State: st.State, Paused: paused, Title: st.Title}, nil
}

// holdable are the states in which a batch waits instead of sending.
var holdable = []incident.State{incident.StateSuspected, incident.StateConfirmed, incident.StateAwaitingApproval}

// Hold keeps a batch beside its incident, in one transaction with a check
// that the incident still may not send: a batch is never held after the
// release that would have queued it.
func (s *Incidents) Hold(ctx context.Context, b dispatch.Batch) error {
	item, err := keptItem(heldPrefix, b)
	if err != nil {
		return err
	}
	values := map[string]types.AttributeValue{}
	var in []string
	for i, st := range holdable {
		k := fmt.Sprintf(":h%d", i)
		values[k] = str(string(st))
		in = append(in, k)
	}
	_, err = s.Client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{ConditionCheck: &types.ConditionCheck{TableName: &s.Table,
			Key:                       map[string]types.AttributeValue{"pk": str(b.IncidentID), "sk": str(incidentSK)},
			ConditionExpression:       aws.String("#s IN (" + strings.Join(in, ", ") + ")"),
			ExpressionAttributeNames:  map[string]string{"#s": "state"},
			ExpressionAttributeValues: values,
		}},
		{Put: &types.Put{TableName: &s.Table, Item: item}},
	}})
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &cancelled) && len(cancelled.CancellationReasons) > 0 && aws.ToString(cancelled.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
		return fmt.Errorf("hold %s/%s: %w", b.IncidentID, b.NoticeID, dispatch.ErrNotHeld)
	}
	if err != nil {
		return fmt.Errorf("hold %s/%s: %w", b.IncidentID, b.NoticeID, err)
	}
	return nil
}

// Held lists an incident's held batches.
func (s *Incidents) Held(ctx context.Context, id string) ([]dispatch.Parked, error) {
	return s.batches(ctx, id, heldPrefix)
}

// Unhold removes a held batch once it is queued.
func (s *Incidents) Unhold(ctx context.Context, id, heldID string) error {
	return s.Unpark(ctx, id, heldID)
}

// Active lists the incidents on their way, from the sparse index that
// holds them alone (see incidentItem.ActivePK). The index is eventually
// consistent: a caller reads each record before acting on it.
func (s *Incidents) Active(ctx context.Context) ([]string, error) {
	p := dynamodb.NewQueryPaginator(s.Client, &dynamodb.QueryInput{
		TableName:                 &s.Table,
		IndexName:                 aws.String(activeIndex),
		KeyConditionExpression:    aws.String("#a = :a"),
		ExpressionAttributeNames:  map[string]string{"#a": activeAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":a": str(activeKey)},
	})
	var ids []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list active incidents: %w", err)
		}
		for _, item := range page.Items {
			if v, ok := item["pk"].(*types.AttributeValueMemberS); ok {
				ids = append(ids, v.Value)
			}
		}
	}
	return ids, nil
}

// First records an alarm (sk "alarm#<rule>#<state>") and reports whether
// it is new.
func (s *Incidents) First(ctx context.Context, id, rule, state string) (bool, error) {
	_, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           &s.Table,
		Item:                map[string]types.AttributeValue{"pk": str(id), "sk": str("alarm#" + rule + "#" + state)},
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mark alarm %s %s of %s: %w", rule, state, id, err)
	}
	return true, nil
}

// Forget removes an alarm's mark.
func (s *Incidents) Forget(ctx context.Context, id, rule, state string) error {
	_, err := s.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.Table,
		Key: map[string]types.AttributeValue{"pk": str(id), "sk": str("alarm#" + rule + "#" + state)}})
	if err != nil {
		return fmt.Errorf("forget alarm %s %s of %s: %w", rule, state, id, err)
	}
	return nil
}
