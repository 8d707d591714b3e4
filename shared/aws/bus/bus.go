// Package bus reads the Amazon EventBridge bus that detectors publish
// incident events to, for preflight.
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"breachnotify/shared/preflight"
)

// Client is the part of the EventBridge API this package calls.
type Client interface {
	DescribeEventBus(ctx context.Context, in *eventbridge.DescribeEventBusInput, opts ...func(*eventbridge.Options)) (*eventbridge.DescribeEventBusOutput, error)
}

// Readiness checks that only detectors may put events on the bus. Within
// an account, a principal's own IAM permission to events:PutEvents is
// enough to write to any bus, whatever the bus policy allows; only an
// explicit Deny in the bus's resource policy takes that away. A bus
// without one lets anyone in the account forge an incident event.
type Readiness struct {
	Client Client
	Bus    string
}

// Probe runs the one bus check, "eventbridge-bus".
func (r *Readiness) Probe(ctx context.Context) []preflight.Check {
	c := preflight.Check{Name: "eventbridge-bus"}
	out, err := r.Client.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String(r.Bus)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		c.Status, c.Reason = preflight.Fail, fmt.Sprintf("the event bus %s does not exist: detectors cannot publish incidents", r.Bus)
	case err != nil:
		c.Status, c.Reason = preflight.Fail, fmt.Sprintf("cannot read the event bus %s (DescribeEventBus): %s", r.Bus, errorCode(err))
	case aws.ToString(out.Policy) == "":
		c.Status, c.Reason = preflight.Warn, fmt.Sprintf("%s has no resource policy: any principal of the account allowed events:PutEvents can put incident events on it", r.Bus)
	case !deniesPutEvents(aws.ToString(out.Policy)):
		c.Status, c.Reason = preflight.Warn, fmt.Sprintf("the policy of %s denies no one events:PutEvents: in the account, IAM permissions alone still let any principal put incident events", r.Bus)
	default:
		c.Status, c.Reason = preflight.OK, fmt.Sprintf("the policy of %s denies events:PutEvents to all but whom it excepts", r.Bus)
	}
	return []preflight.Check{c}
}

// deniesPutEvents reports whether a resource policy has a Deny statement
// covering events:PutEvents.
func deniesPutEvents(policy string) bool {
	var doc struct {
		Statement statements `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		return false
	}
	for _, s := range doc.Statement {
		if s.Effect != "Deny" {
			continue
		}
		for _, a := range s.Action {
			if a = strings.ToLower(a); a == "events:putevents" || a == "events:*" || a == "*" {
				return true
			}
		}
	}
	return false
}

// statement is the part of an IAM policy statement the check reads.
type statement struct {
	Effect string      `json:"Effect"`
	Action stringOrSet `json:"Action"`
}

// statements decodes a policy's Statement, which IAM allows to be a single
// statement or a list of them.
type statements []statement

func (s *statements) UnmarshalJSON(b []byte) error {
	var one statement
	if err := json.Unmarshal(b, &one); err == nil {
		*s = statements{one}
		return nil
	}
	return json.Unmarshal(b, (*[]statement)(s))
}

// stringOrSet decodes an Action, which is a string or a list of strings.
type stringOrSet []string

func (a *stringOrSet) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = stringOrSet{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return err.Error()
}
