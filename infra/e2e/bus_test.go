package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"breachnotify/infra/local"
)

// The incident bus admits only the detectors. moto keeps a bus's resource
// policy but does not evaluate it on PutEvents, so what can be checked here
// is that the stack builds the bus and policy the template declares and
// that intake listens on that bus alone; that AWS denies a non-detector's
// PutEvents is a property of the policy (see docs/local-stack.md).
func TestIncidentBusAdmitsOnlyDetectors(t *testing.T) {
	s := needStack(t)
	ctx := context.Background()
	eb := eventbridge.NewFromConfig(s.Config())
	if want := local.StackName + "-incidents"; s.EventBus != want {
		t.Fatalf("events go to bus %q, want the stack's own %q", s.EventBus, want)
	}
	bus, err := eb.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: &s.EventBus})
	if err != nil {
		t.Fatal(err)
	}
	var policy struct {
		Statement []struct {
			Effect    string
			Principal any
			Action    string
			Condition map[string]map[string]any
		}
	}
	if bus.Policy == nil {
		t.Fatalf("bus %s has no resource policy", s.EventBus)
	}
	if err := json.Unmarshal([]byte(aws.ToString(bus.Policy)), &policy); err != nil {
		t.Fatalf("bus policy %q: %v", aws.ToString(bus.Policy), err)
	}
	detectors := []any{local.LocalParams["DetectorPrincipals"]}
	var allowed, denied bool
	for _, st := range policy.Statement {
		if st.Action != "events:PutEvents" {
			t.Errorf("statement %+v: action is not events:PutEvents", st)
		}
		switch st.Effect {
		case "Allow":
			p, _ := st.Principal.(map[string]any)
			allowed = slices.Equal(asList(p["AWS"]), detectors)
		case "Deny":
			denied = st.Principal == "*" && slices.Equal(asList(st.Condition["ArnNotLike"]["aws:PrincipalArn"]), detectors)
		}
	}
	if !allowed || !denied {
		t.Errorf("bus policy %s: want detectors %v allowed and every other principal denied", aws.ToString(bus.Policy), detectors)
	}
	// Intake listens on the incident bus only. The default bus carries one
	// rule, FeedbackFunction's, for SES's own events: SES publishes to no
	// other bus, and nobody else's events may reach a function from there.
	for _, name := range []string{s.EventBus, "default"} {
		rules, err := eb.ListRules(ctx, &eventbridge.ListRulesInput{EventBusName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if len(rules.Rules) == 0 {
			t.Errorf("bus %s has no rules", name)
		}
		for _, r := range rules.Rules {
			var pattern struct {
				Source []string `json:"source"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(r.EventPattern)), &pattern); err != nil {
				t.Fatalf("rule %s pattern %q: %v", aws.ToString(r.Name), aws.ToString(r.EventPattern), err)
			}
			if ses := slices.Equal(pattern.Source, []string{"aws.ses"}); ses != (name == "default") {
				t.Errorf("bus %s has rule %s for sources %v", name, aws.ToString(r.Name), pattern.Source)
			}
		}
	}
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}
