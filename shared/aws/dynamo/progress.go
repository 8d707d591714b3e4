package dynamo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
)

// Progress counts an incident's sending in one item beside it (sk
// "progress"), with atomic ADDs from every worker: status and the deadline
// watch read one item instead of the whole ledger. Attribute names are
// "p#<notice>" for the recipients planned and "c#<notice>#<channel>#<status>"
// for those decided.
type Progress struct {
	Client Client
	Table  string
}

const progressSK = "progress"

func (s *Progress) key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": str(id), "sk": str(progressSK)}
}

func num(n int) types.AttributeValue { return &types.AttributeValueMemberN{Value: strconv.Itoa(n)} }

// Plan sets the recipients planned per notice (add: adds to them, for a
// manual send).
func (s *Progress) Plan(ctx context.Context, id string, planned map[string]int, add bool) error {
	if len(planned) == 0 {
		return nil
	}
	names, values := map[string]string{}, map[string]types.AttributeValue{}
	var parts []string
	for i, n := range slices.Sorted(maps.Keys(planned)) {
		k, v := fmt.Sprintf("#p%d", i), fmt.Sprintf(":p%d", i)
		names[k], values[v] = "p#"+n, num(planned[n])
		if add {
			parts = append(parts, k+" "+v)
		} else {
			parts = append(parts, k+" = "+v)
		}
	}
	expr := "SET " + strings.Join(parts, ", ")
	if add {
		expr = "ADD " + strings.Join(parts, ", ")
	}
	if _, err := s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.Table, Key: s.key(id), UpdateExpression: &expr,
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	}); err != nil {
		return fmt.Errorf("plan progress of %s: %w", id, err)
	}
	return nil
}

// Count adds a batch's decided recipient channels and moves the notice
// clocks: firstNoticeAt is set once; lastNoticeAt is the latest batch's.
func (s *Progress) Count(ctx context.Context, id, noticeID string, done map[incident.Channel]map[ledger.Status]int, first, last time.Time) error {
	names, values := map[string]string{}, map[string]types.AttributeValue{}
	var adds []string
	i := 0
	for _, ch := range slices.Sorted(maps.Keys(done)) {
		for _, st := range slices.Sorted(maps.Keys(done[ch])) {
			k, v := fmt.Sprintf("#c%d", i), fmt.Sprintf(":c%d", i)
			names[k], values[v] = "c#"+noticeID+"#"+string(ch)+"#"+string(st), num(done[ch][st])
			adds = append(adds, k+" "+v)
			i++
		}
	}
	var expr []string
	if !first.IsZero() {
		values[":first"], values[":last"] = str(first.UTC().Format(time.RFC3339Nano)), str(last.UTC().Format(time.RFC3339Nano))
		expr = append(expr, "SET firstNoticeAt = if_not_exists(firstNoticeAt, :first), lastNoticeAt = :last")
	}
	if len(adds) > 0 {
		expr = append(expr, "ADD "+strings.Join(adds, ", "))
	}
	if len(expr) == 0 {
		return nil
	}
	in := &dynamodb.UpdateItemInput{TableName: &s.Table, Key: s.key(id), UpdateExpression: aws.String(strings.Join(expr, " ")),
		ExpressionAttributeValues: values}
	if len(names) > 0 {
		in.ExpressionAttributeNames = names
	}
	if _, err := s.Client.UpdateItem(ctx, in); err != nil {
		return fmt.Errorf("count progress of %s: %w", id, err)
	}
	return nil
}

// CountReach adds to a notice's reach counts ("r#<notice>#<reach>").
func (s *Progress) CountReach(ctx context.Context, id, noticeID string, delta map[ledger.Reach]int) error {
	names, values := map[string]string{}, map[string]types.AttributeValue{}
	var adds []string
	for i, r := range slices.Sorted(maps.Keys(delta)) {
		k, v := fmt.Sprintf("#r%d", i), fmt.Sprintf(":r%d", i)
		names[k], values[v] = "r#"+noticeID+"#"+string(r), num(delta[r])
		adds = append(adds, k+" "+v)
	}
	if len(adds) == 0 {
		return nil
	}
	if _, err := s.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &s.Table, Key: s.key(id),
		UpdateExpression: aws.String("ADD " + strings.Join(adds, ", ")), ExpressionAttributeNames: names, ExpressionAttributeValues: values}); err != nil {
		return fmt.Errorf("count reach of %s: %w", id, err)
	}
	return nil
}

// Read returns an incident's progress.
func (s *Progress) Read(ctx context.Context, id string) (ledger.Progress, error) {
	p := ledger.Progress{Planned: map[string]int{}, Done: map[string]map[incident.Channel]map[ledger.Status]int{}, Reach: map[string]map[ledger.Reach]int{}}
	out, err := s.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.Table, Key: s.key(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return p, fmt.Errorf("read progress of %s: %w", id, err)
	}
	for k, v := range out.Item {
		switch n, isNum := v.(*types.AttributeValueMemberN); {
		case isNum && strings.HasPrefix(k, "p#"):
			p.Planned[k[2:]], _ = strconv.Atoi(n.Value)
		case isNum && strings.HasPrefix(k, "c#"):
			parts := strings.Split(k, "#")
			if len(parts) != 4 {
				continue
			}
			notice, ch, st := parts[1], incident.Channel(parts[2]), ledger.Status(parts[3])
			if p.Done[notice] == nil {
				p.Done[notice] = map[incident.Channel]map[ledger.Status]int{}
			}
			if p.Done[notice][ch] == nil {
				p.Done[notice][ch] = map[ledger.Status]int{}
			}
			p.Done[notice][ch][st], _ = strconv.Atoi(n.Value)
		case isNum && strings.HasPrefix(k, "r#"):
			parts := strings.Split(k, "#")
			if len(parts) != 3 {
				continue
			}
			if p.Reach[parts[1]] == nil {
				p.Reach[parts[1]] = map[ledger.Reach]int{}
			}
			p.Reach[parts[1]][ledger.Reach(parts[2])], _ = strconv.Atoi(n.Value)
		case k == "firstNoticeAt" || k == "lastNoticeAt":
			s, _ := v.(*types.AttributeValueMemberS)
			if s == nil {
				continue
			}
			t, err := time.Parse(time.RFC3339Nano, s.Value)
			if err != nil {
				continue
			}
			if k == "firstNoticeAt" {
				p.FirstNoticeAt = t
			} else {
				p.LastNoticeAt = t
			}
		}
	}
	return p, nil
}
