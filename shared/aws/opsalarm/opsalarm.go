// Package opsalarm publishes deadline alarms to the operations SNS topic,
// once per incident, rule and state.
package opsalarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"breachnotify/shared/watch"
)

// Publisher is the part of the SNS API used.
type Publisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Marks remembers which alarms were raised: First reports whether this is
// the first time for the incident, rule and state; Forget undoes it.
type Marks interface {
	First(ctx context.Context, incidentID, rule, state string) (bool, error)
	Forget(ctx context.Context, incidentID, rule, state string) error
}

// Topic raises alarms on an SNS topic.
type Topic struct {
	Client   Publisher
	TopicARN string
	Marks    Marks
}

// Raise publishes a once. It marks the alarm first, so two runs at once
// do not both send it, and forgets the mark when the publish fails, so the
// next run sends it.
func (t *Topic) Raise(ctx context.Context, a watch.Alarm) (bool, error) {
	first, err := t.Marks.First(ctx, a.IncidentID, a.Rule, string(a.State))
	if err != nil || !first {
		return false, err
	}
	body, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	// The subject is a mail header for email subscribers: ids only, no CR/LF.
	subject := fmt.Sprintf("Breach notification deadline %s: %s %s", a.State, a.IncidentID, a.Rule)
	if _, err := t.Client.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(t.TopicARN), Subject: aws.String(subject), Message: aws.String(string(body)),
	}); err != nil {
		err = fmt.Errorf("publish alarm for %s %s: %w", a.IncidentID, a.Rule, err)
		return false, errors.Join(err, t.Marks.Forget(ctx, a.IncidentID, a.Rule, string(a.State)))
	}
	return true, nil
}
