package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"breachnotify/shared/incident"
	"breachnotify/shared/plan"
)

// Plans keeps planning checkpoints beside the incident (sk "plan#<task>")
// and freezes the audience into the incident when the last task finishes.
type Plans struct {
	Client Client
	Table  string
}

const planPrefix = "plan#"

type planItem struct {
	PK       string `json:"pk"`
	SK       string `json:"sk"`
	Template string `json:"template"`
	NoticeID string `json:"noticeId"`
	plan.Progress
}

func planKey(t plan.Task) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str(t.IncidentID), "sk": str(planPrefix + t.ID())}
}

// Progress reads a task's checkpoint (zero if it has none).
func (s *Plans) Progress(ctx context.Context, t plan.Task) (plan.Progress, error) {
	out, err := s.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.Table, Key: planKey(t), ConsistentRead: aws.Bool(true)})
	if err != nil || out.Item == nil {
		return plan.Progress{}, err
	}
	var it planItem
	if err := unmarshal(out.Item, &it); err != nil {
		return plan.Progress{}, fmt.Errorf("decode checkpoint of %s: %w", t.ID(), err)
	}
	return it.Progress, nil
}

func (s *Plans) item(t plan.Task, p plan.Progress) (map[string]types.AttributeValue, error) {
	item, err := marshal(planItem{Template: t.Notice.Template, NoticeID: t.NoticeID, Progress: p})
	if err != nil {
		return nil, fmt.Errorf("encode checkpoint of %s: %w", t.ID(), err)
	}
	for k, v := range planKey(t) {
		item[k] = v
	}
	return item, nil
}

// Save writes a checkpoint of an unfinished task.
func (s *Plans) Save(ctx context.Context, t plan.Task, p plan.Progress) error {
	item, err := s.item(t, p)
	if err != nil {
		return err
	}
	if _, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.Table, Item: item}); err != nil {
		return fmt.Errorf("checkpoint %s: %w", t.ID(), err)
	}
	return nil
}

// Finish marks the task done and counts it on the incident in one
// transaction, so a task is counted once however often it is redelivered.
func (s *Plans) Finish(ctx context.Context, t plan.Task, p plan.Progress) error {
	item, err := s.item(t, p)
	if err != nil {
		return err
	}
	_, err = s.Client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.Table, Item: item,
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR done = :false"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":false": &types.AttributeValueMemberBOOL{Value: false}},
		}},
		{Update: &types.Update{TableName: &s.Table,
			Key:                       map[string]types.AttributeValue{"pk": str(t.IncidentID), "sk": str(incidentSK)},
			UpdateExpression:          aws.String("ADD tasksDone :one"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
		}},
	}})
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &cancelled) && len(cancelled.CancellationReasons) > 0 && aws.ToString(cancelled.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
		return nil // finished before: counted then
	}
	if err != nil {
		return fmt.Errorf("finish %s: %w", t.ID(), err)
	}
	return nil
}

// ReadyToFreeze reports whether every task of the incident has finished
// and the audience is not frozen yet.
func (s *Plans) ReadyToFreeze(ctx context.Context, incidentID string) (bool, error) {
	out, err := s.Client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.Table, ConsistentRead: aws.Bool(true),
		Key:                  map[string]types.AttributeValue{"pk": str(incidentID), "sk": str(incidentSK)},
		ProjectionExpression: aws.String("tasks, tasksDone, audience"),
	})
	if err != nil {
		return false, fmt.Errorf("read progress of %s: %w", incidentID, err)
	}
	var counts struct {
		Tasks     int `json:"tasks"`
		TasksDone int `json:"tasksDone"`
	}
	if err := unmarshal(out.Item, &counts); err != nil {
		return false, err
	}
	// The audience attribute, not plannedAt: a whole-record write stores a
	// zero plannedAt as a string, but leaves out a nil audience.
	_, frozen := out.Item["audience"].(*types.AttributeValueMemberM)
	return counts.Tasks > 0 && counts.TasksDone >= counts.Tasks && !frozen, nil
}

// Freeze totals the incident's tasks and stores the frozen audience, once.
// An incident counted before it was sent (plan.Task.Count) is totalled
// from its counting tasks alone.
func (s *Plans) Freeze(ctx context.Context, incidentID string) error {
	tasks, err := s.checkpoints(ctx, incidentID, planPrefix+"count#")
	if err == nil && len(tasks) == 0 {
		tasks, err = s.checkpoints(ctx, incidentID, planPrefix)
	}
	if err != nil {
		return err
	}
	a, err := plan.Total(tasks)
	if err != nil {
		return err
	}
	av, err := marshal(struct {
		A incident.FrozenAudience `json:"a"`
	}{a})
	if err != nil {
		return err
	}
	_, err = s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.Table,
		Key:                 map[string]types.AttributeValue{"pk": str(incidentID), "sk": str(incidentSK)},
		UpdateExpression:    aws.String("SET audience = :a, plannedAt = :at"),
		ConditionExpression: aws.String("attribute_not_exists(audience)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":a": av["a"], ":at": str(time.Now().UTC().Format(time.RFC3339Nano)),
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil // frozen already by a redelivery of the last task
	}
	if err != nil {
		return fmt.Errorf("freeze audience of %s: %w", incidentID, err)
	}
	return nil
}

func (s *Plans) checkpoints(ctx context.Context, incidentID, prefix string) ([]plan.TaskProgress, error) {
	var tasks []plan.TaskProgress
	inc := &Incidents{Client: s.Client, Table: s.Table}
	err := inc.query(ctx, incidentID, prefix, func(item map[string]types.AttributeValue) error {
		var it planItem
		if err := unmarshal(item, &it); err != nil {
			return err
		}
		tasks = append(tasks, plan.TaskProgress{NoticeID: it.NoticeID, Template: it.Template, Progress: it.Progress})
		return nil
	})
	return tasks, err
}

// Samples returns the member ids the planning tasks kept, per notice.
func (s *Plans) Samples(ctx context.Context, incidentID string) (map[string][]string, error) {
	tasks, err := s.checkpoints(ctx, incidentID, planPrefix)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, t := range tasks {
		for _, id := range t.Sample {
			if !slices.Contains(out[t.NoticeID], id) {
				out[t.NoticeID] = append(out[t.NoticeID], id)
			}
		}
	}
	return out, nil
}
