package dynamo

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"breachnotify/shared/plan"
)

// Expand records an audience file's split (the split task's checkpoint,
// with the file's ETag and its number of ranges) and adds the ranges to
// the incident's tasks in one transaction, so that the audience freezes
// only once they have finished too. A split recorded before is left as it
// is: a redelivered split counts its ranges once.
func (s *Plans) Expand(ctx context.Context, t plan.Task, p plan.Progress) error {
	item, err := s.item(t, p)
	if err != nil {
		return err
	}
	_, err = s.Client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.Table, Item: item,
			ConditionExpression: aws.String("attribute_not_exists(etag)"),
		}},
		{Update: &types.Update{TableName: &s.Table,
			Key:                       map[string]types.AttributeValue{"pk": str(t.IncidentID), "sk": str(incidentSK)},
			UpdateExpression:          aws.String("ADD tasks :n"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(p.Parts)},
		}},
	}})
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &cancelled) && len(cancelled.CancellationReasons) > 0 && aws.ToString(cancelled.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
		return nil // split before: its ranges are counted
	}
	if err != nil {
		return fmt.Errorf("count the ranges of %s: %w", t.ID(), err)
	}
	return nil
}
