package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"breachnotify/shared/audience"
	"breachnotify/shared/incident"
	"breachnotify/shared/version"
)

// Users is the users table: a profile item per user (sk "profile") holding
// the whole record, and one small item per device (sk "device#<id>") that
// exists only to be found by the cohort index.
type Users struct {
	Client Client
	Table  string
}

const (
	profileSK    = "profile"
	devicePrefix = "device#"
	cohortIndex  = "cohort"
)

type profileItem struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
	audience.User
}

type deviceItem struct {
	PK         string `json:"pk"`
	SK         string `json:"sk"`
	CohortPK   string `json:"cohortPk"`
	CohortSK   string `json:"cohortSk"`
	Platform   string `json:"platform"`
	AppVersion string `json:"appVersion"`
}

// maxDevices keeps one user's replacement inside one transaction (100
// items: the profile, the new devices and the removed ones); the importer
// refuses a user with more before it gets here.
const maxDevices = incident.MaxDevices

func profileKeys(ids []string) []map[string]types.AttributeValue {
	keys := make([]map[string]types.AttributeValue, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			keys = append(keys, map[string]types.AttributeValue{"pk": str(id), "sk": str(profileSK)})
		}
	}
	return keys
}

// Get returns the users found among ids.
func (u *Users) Get(ctx context.Context, ids []string) (map[string]audience.User, error) {
	users := make(map[string]audience.User, len(ids))
	err := batchGet(ctx, u.Client, u.Table, profileKeys(ids), "", func(item map[string]types.AttributeValue) error {
		var p profileItem
		if err := unmarshal(item, &p); err != nil {
			return fmt.Errorf("decode user: %w", err)
		}
		users[p.ID] = p.User
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read users: %w", err)
	}
	return users, nil
}

// Existing returns those of ids that belong to a user.
func (u *Users) Existing(ctx context.Context, ids []string) ([]string, error) {
	var found []string
	err := batchGet(ctx, u.Client, u.Table, profileKeys(ids), "pk", func(item map[string]types.AttributeValue) error {
		if s, ok := item["pk"].(*types.AttributeValueMemberS); ok {
			found = append(found, s.Value)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("look up users: %w", err)
	}
	return found, nil
}

// Cohort queries one shard of the platform's cohort index for device
// versions below below. The index is sparse and keys-only, so a page holds
// thousands of devices.
func (u *Users) Cohort(ctx context.Context, platform string, shard int, below version.Version, yield func(audience.Match) error) error {
	p := dynamodb.NewQueryPaginator(u.Client, &dynamodb.QueryInput{
		TableName:              &u.Table,
		IndexName:              aws.String(cohortIndex),
		KeyConditionExpression: aws.String("cohortPk = :p AND cohortSk < :below"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p": str(audience.ShardPartition(platform, shard)), ":below": str(below.Key()),
		},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("query cohort %s shard %d: %w", platform, shard, err)
		}
		for _, item := range page.Items {
			var d deviceItem
			if err := unmarshal(item, &d); err != nil {
				return fmt.Errorf("decode cohort item: %w", err)
			}
			if !strings.HasPrefix(d.SK, devicePrefix) {
				return errors.New("cohort index holds a non-device item " + d.PK + "/" + d.SK)
			}
			m := audience.Match{UserID: d.PK, DeviceID: strings.TrimPrefix(d.SK, devicePrefix), UnparsedVersion: version.IsUnparsedKey(d.CohortSK)}
			if err := yield(m); err != nil {
				return err
			}
		}
	}
	return nil
}
