package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"breachnotify/shared/dispatch"
	"breachnotify/shared/incident"
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
	// ActivePK is the key of the sparse index "active": set to activeKey
	// while the incident is on its way (incident.State.Active), absent
	// otherwise, so the index holds the active incidents alone and the
	// deadline watch reads them without scanning the audit trails, events
	// and work items that share the table.
	ActivePK string `json:"activePk,omitempty"`
	incident.Record
}

// The active index: one partition key value for all active incidents.
// One partition serves 3,000 reads and 1,000 writes a second; the index
// holds keys only (a few dozen bytes per incident) of the few incidents
// on their way at once, is written only when an incident item is written
// whole or changes state, and is read once per watch run, so a hot
// partition is out of reach and sharding would only multiply the queries.
const (
	activeIndex = "active"
	activeAttr  = "activePk"
	activeKey   = "active"
)

// newIncidentItem is an incident as stored, its active index key set
// from its state.
func newIncidentItem(r incident.Record) incidentItem {
	it := incidentItem{PK: r.ID, SK: incidentSK, Record: r}
	if r.State.Active() {
		it.ActivePK = activeKey
	}
	return it
}

type receiptItem struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
	intake.Receipt
}

// Get reads an incident with a strongly consistent read, since intake
// decides from it whether to plan.
func (s *Incidents) Get(ctx context.Context, id string) (incident.Record, bool, error) {
	out, err := s.Client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.Table,
		Key:            map[string]types.AttributeValue{"pk": str(id), "sk": str(incidentSK)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return incident.Record{}, false, fmt.Errorf("get incident %s: %w", id, err)
	}
	if out.Item == nil {
		return incident.Record{}, false, nil
	}
	var it incidentItem
	if err := unmarshal(out.Item, &it); err != nil {
		return incident.Record{}, false, fmt.Errorf("decode incident %s: %w", id, err)
	}
	return it.Record, true, nil
}

// Put writes an incident.
func (s *Incidents) Put(ctx context.Context, r incident.Record) error {
	item, err := marshal(newIncidentItem(r))
	if err != nil {
		return fmt.Errorf("encode incident %s: %w", r.ID, err)
	}
	if _, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.Table, Item: item}); err != nil {
		return fmt.Errorf("put incident %s: %w", r.ID, err)
	}
	return nil
}

// MarkQueued sets planQueuedAt alone: the planner may already be adding
// to tasksDone, which a whole-item write would reset.
func (s *Incidents) MarkQueued(ctx context.Context, id string, at time.Time) error {
	return s.setTime(ctx, id, "planQueuedAt", at)
}

// setTime sets one time attribute of an existing incident record.
func (s *Incidents) setTime(ctx context.Context, id, attr string, at time.Time) error {
	_, err := s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.Table,
		Key:                       map[string]types.AttributeValue{"pk": str(id), "sk": str(incidentSK)},
		UpdateExpression:          aws.String("SET #t = :at"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeNames:  map[string]string{"#t": attr},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": str(at.UTC().Format(time.RFC3339Nano))},
	})
	if err != nil {
		return fmt.Errorf("set %s of %s: %w", attr, id, err)
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
	err := s.query(ctx, pk, eventPrefix, func(item map[string]types.AttributeValue) error {
		var it receiptItem
		if err := unmarshal(item, &it); err != nil {
			return err
		}
		out = append(out, it.Receipt)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list receipts of %q: %w", incidentID, err)
	}
	return out, nil
}

// Pauses and parked batches live beside the incident: sk "pause#<channel>"
// while a channel is paused, sk "parked#<channel>#<hash>" for each batch
// kept until it resumes (the hash of the batch makes parking idempotent).
const (
	pausePrefix  = "pause#"
	parkedPrefix = "parked#"
)

type pauseItem struct {
	PK       string           `json:"pk"`
	SK       string           `json:"sk"`
	Channel  incident.Channel `json:"channel"`
	Reason   string           `json:"reason"`
	PausedAt time.Time        `json:"pausedAt"`
}

type parkedItem struct {
	PK    string         `json:"pk"`
	SK    string         `json:"sk"`
	Batch dispatch.Batch `json:"batch"`
}

// Paused returns the incident's paused channels and why.
func (s *Incidents) Paused(ctx context.Context, id string) (map[incident.Channel]string, error) {
	out := map[incident.Channel]string{}
	err := s.query(ctx, id, pausePrefix, func(item map[string]types.AttributeValue) error {
		var p pauseItem
		if err := unmarshal(item, &p); err != nil {
			return err
		}
		out[p.Channel] = p.Reason
		return nil
	})
	return out, err
}

// Pause marks a channel of an incident paused.
func (s *Incidents) Pause(ctx context.Context, id string, ch incident.Channel, reason string) error {
	item, err := marshal(pauseItem{PK: id, SK: pausePrefix + string(ch), Channel: ch, Reason: reason, PausedAt: time.Now().UTC()})
	if err != nil {
		return err
	}
	if _, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.Table, Item: item}); err != nil {
		return fmt.Errorf("pause %s %s: %w", id, ch, err)
	}
	return nil
}

// Unpause lifts a channel's pause.
func (s *Incidents) Unpause(ctx context.Context, id string, ch incident.Channel) error {
	_, err := s.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.Table,
		Key: map[string]types.AttributeValue{"pk": str(id), "sk": str(pausePrefix + string(ch))}})
	if err != nil {
		return fmt.Errorf("unpause %s %s: %w", id, ch, err)
	}
	return nil
}

// Park keeps a one-channel batch until its channel resumes.
func (s *Incidents) Park(ctx context.Context, b dispatch.Batch) error {
	if len(b.Channels) != 1 {
		return fmt.Errorf("park %s/%s: a parked batch has one channel, not %d", b.IncidentID, b.NoticeID, len(b.Channels))
	}
	item, err := keptItem(parkedPrefix+string(b.Channels[0])+"#", b)
	if err != nil {
		return err
	}
	if _, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.Table, Item: item}); err != nil {
		return fmt.Errorf("park %s/%s: %w", b.IncidentID, b.NoticeID, err)
	}
	return nil
}

// keptItem is a batch kept beside its incident under a key prefix; the
// batch's hash ends the key, so keeping the same batch twice is one item.
func keptItem(prefix string, b dispatch.Batch) (map[string]types.AttributeValue, error) {
	body, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode batch %s/%s: %w", b.IncidentID, b.NoticeID, err)
	}
	sum := sha256.Sum256(body)
	return marshal(parkedItem{PK: b.IncidentID, SK: prefix + hex.EncodeToString(sum[:12]), Batch: b})
}

// Parked lists the batches parked for a channel.
func (s *Incidents) Parked(ctx context.Context, id string, ch incident.Channel) ([]dispatch.Parked, error) {
	return s.batches(ctx, id, parkedPrefix+string(ch)+"#")
}

// batches lists the batches kept beside an incident under a key prefix.
func (s *Incidents) batches(ctx context.Context, id, prefix string) ([]dispatch.Parked, error) {
	var out []dispatch.Parked
	err := s.query(ctx, id, prefix, func(item map[string]types.AttributeValue) error {
		var p parkedItem
		if err := unmarshal(item, &p); err != nil {
			return err
		}
		out = append(out, dispatch.Parked{ID: p.SK, Batch: p.Batch})
		return nil
	})
	return out, err
}

// Unpark removes a parked batch once it is queued again.
func (s *Incidents) Unpark(ctx context.Context, id, parkedID string) error {
	_, err := s.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.Table,
		Key: map[string]types.AttributeValue{"pk": str(id), "sk": str(parkedID)}})
	if err != nil {
		return fmt.Errorf("unpark %s %s: %w", id, parkedID, err)
	}
	return nil
}

func (s *Incidents) query(ctx context.Context, pk, skPrefix string, each func(map[string]types.AttributeValue) error) error {
	p := dynamodb.NewQueryPaginator(s.Client, &dynamodb.QueryInput{
		TableName:              &s.Table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(pk), ":p": str(skPrefix),
		},
		ConsistentRead: aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("query %s %s*: %w", pk, skPrefix, err)
		}
		for _, item := range page.Items {
			if err := each(item); err != nil {
				return fmt.Errorf("decode %s %s*: %w", pk, skPrefix, err)
			}
		}
	}
	return nil
}

// Create writes a new incident; it fails if the id is taken.
func (s *Incidents) Create(ctx context.Context, r incident.Record) error {
	item, err := marshal(newIncidentItem(r))
	if err != nil {
		return fmt.Errorf("encode incident %s: %w", r.ID, err)
	}
	if _, err := s.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.Table, Item: item,
		ConditionExpression: aws.String("attribute_not_exists(pk)")}); err != nil {
		return fmt.Errorf("create incident %s: %w", r.ID, err)
	}
	return nil
}

// AddNotice appends a notice to an incident.
func (s *Incidents) AddNotice(ctx context.Context, id string, n incident.Notice) error {
	av, err := marshal(map[string]any{":n": []incident.Notice{n}})
	if err != nil {
		return fmt.Errorf("encode notice for %s: %w", id, err)
	}
	_, err = s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.Table,
		Key:                       map[string]types.AttributeValue{"pk": str(id), "sk": str(incidentSK)},
		UpdateExpression:          aws.String("SET notices = list_append(if_not_exists(notices, :empty), :n)"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": av[":n"], ":empty": &types.AttributeValueMemberL{}},
	})
	if err != nil {
		return fmt.Errorf("add notice to %s: %w", id, err)
	}
	return nil
}

// SetAuthorityNotified records when the supervisory authority was told.
func (s *Incidents) SetAuthorityNotified(ctx context.Context, id string, at time.Time) error {
	return s.setTime(ctx, id, "authorityNotifiedAt", at)
}

// AddUpdate appends u to the incident's public timeline, provided it still
// holds the had updates its publisher read; otherwise it fails with
// incident.ErrUpdatesChanged, so two publications at once cannot each
// publish a page without the other's entry.
func (s *Incidents) AddUpdate(ctx context.Context, id string, had int, u incident.Update) error {
	av, err := marshal(map[string]any{":u": []incident.Update{u}})
	if err != nil {
		return fmt.Errorf("encode update for %s: %w", id, err)
	}
	cond := "attribute_exists(pk) AND attribute_not_exists(updates)"
	values := map[string]types.AttributeValue{":u": av[":u"], ":empty": &types.AttributeValueMemberL{}}
	if had > 0 {
		cond = "attribute_exists(pk) AND size(updates) = :had"
		values[":had"] = &types.AttributeValueMemberN{Value: strconv.Itoa(had)}
	}
	_, err = s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.Table,
		Key:                       map[string]types.AttributeValue{"pk": str(id), "sk": str(incidentSK)},
		UpdateExpression:          aws.String("SET updates = list_append(if_not_exists(updates, :empty), :u)"),
		ConditionExpression:       &cond,
		ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("add update to %s: %w", id, incident.ErrUpdatesChanged)
	}
	if err != nil {
		return fmt.Errorf("add update to %s: %w", id, err)
	}
	return nil
}
