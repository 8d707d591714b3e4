package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"breachnotify/shared/intake"
)

// Incidents is the incidents table: sk "incident" holds the incident as
// recorded, sk "event#<time>#<id>" each event received for it. Rejected
// events that name no valid incident are kept under pk "#rejected", which no
// incident id can collide with.
type Incidents struct {
	Client Client
	Table  string
}

const (
	incidentSK  = "incident"
	rejectedPK  = "#rejected"
	eventPrefix = "event#"
)

type incidentItem struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
	intake.Record
}

type receiptItem struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
	intake.Receipt
}

// Get reads an incident with a strongly consistent read, since intake
// decides from it whether to plan.
func (s *Incidents) Get(ctx context.Context, id string) (intake.Record, bool, error) {
	out, err := s.Client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.Table,
		Key:            map[string]types.AttributeValue{"pk": str(id), "sk": str(incidentSK)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return intake.Record{}, false, fmt.Errorf("get incident %s: %w", id, err)
	}
	if out.Item == nil {
		return intake.Record{}, false, nil
	}
	var it incidentItem
	if err := unmarshal(out.Item, &it); err != nil {
		return intake.Record{}, false, fmt.Errorf("decode incident %s: %w", id, err)
	}
	return it.Record, true, nil
}

// Put writes an incident.
func (s *Incidents) Put(ctx context.Context, r intake.Record) error {
	item, err := marshal(incidentItem{PK: r.ID, SK: incidentSK, Record: r})
	if err != nil {
		return fmt.Errorf("encode incident %s: %w", r.ID, err)
	}
	if _, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.Table, Item: item}); err != nil {
		return fmt.Errorf("put incident %s: %w", r.ID, err)
	}
	return nil
}

// AddReceipt records an event received.
func (s *Incidents) AddReceipt(ctx context.Context, r intake.Receipt) error {
	pk := r.IncidentID
	if pk == "" {
		pk = rejectedPK
	}
	sk := eventPrefix + r.ReceivedAt.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + r.EventID
	item, err := marshal(receiptItem{PK: pk, SK: sk, Receipt: r})
	if err != nil {
		return fmt.Errorf("encode receipt of event %s: %w", r.EventID, err)
	}
	if _, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.Table, Item: item}); err != nil {
		return fmt.Errorf("put receipt of event %s: %w", r.EventID, err)
	}
	return nil
}

// Receipts lists the events received for an incident ("" for rejected
// events that named none), oldest first.
func (s *Incidents) Receipts(ctx context.Context, incidentID string) ([]intake.Receipt, error) {
	pk := incidentID
	if pk == "" {
		pk = rejectedPK
	}
	var out []intake.Receipt
	p := dynamodb.NewQueryPaginator(s.Client, &dynamodb.QueryInput{
		TableName:              &s.Table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :e)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(pk), ":e": str(eventPrefix),
		},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list receipts of %q: %w", incidentID, err)
		}
		for _, item := range page.Items {
			var it receiptItem
			if err := unmarshal(item, &it); err != nil {
				return nil, fmt.Errorf("decode receipt: %w", err)
			}
			out = append(out, it.Receipt)
		}
	}
	return out, nil
}
