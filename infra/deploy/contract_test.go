// Package deploy checks the deploy contract: what template.yaml becomes once
// SAM has transformed it, which is what CloudFormation creates. The local
// stack cannot show these properties (alarms, KMS, bus policies, IAM,
// deletion policies), so they are asserted on the generated resources.
package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// root is the repository, two levels above this file.
var root = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}()

// Template is the generated CloudFormation template, values left generic.
type Template struct {
	Parameters map[string]map[string]any
	Resources  map[string]Resource
}

// Resource is one generated resource.
type Resource struct {
	Type                string
	DeletionPolicy      string
	UpdateReplacePolicy string
	Properties          map[string]any
}

var generated = sync.OnceValues(func() (*Template, error) { return translate(filepath.Join(root, "template.yaml")) })

// translate runs the SAM translator (the library `sam deploy` and cfn-lint
// use) over a template.
func translate(path string) (*Template, error) {
	cmd := exec.Command("python3", filepath.Join(root, "infra/deploy/translate.py"), path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("translate %s: %w\n%s", path, err, stderr.String())
	}
	var t Template
	if err := json.Unmarshal(out, &t); err != nil {
		return nil, fmt.Errorf("decode translated template: %w", err)
	}
	return &t, nil
}

func template(t *testing.T) *Template {
	t.Helper()
	tpl, err := generated()
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// ofType lists the logical ids of the resources of one type, sorted.
func (tpl *Template) ofType(typ string) []string {
	var ids []string
	for id, r := range tpl.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Statement is one IAM policy statement, with Action and Resource as lists.
type Statement struct {
	Sid       string
	Effect    string
	Principal any
	Action    []string
	Resource  []any
	Condition map[string]map[string]any
}

func statements(doc any) []Statement {
	var out []Statement
	for _, s := range list(get(doc, "Statement")) {
		st := Statement{Effect: str(get(s, "Effect")), Principal: get(s, "Principal"), Resource: list(get(s, "Resource")), Sid: str(get(s, "Sid"))}
		for _, a := range list(get(s, "Action")) {
			st.Action = append(st.Action, str(a))
		}
		if c, ok := get(s, "Condition").(map[string]any); ok {
			st.Condition = map[string]map[string]any{}
			for op, kv := range c {
				st.Condition[op], _ = kv.(map[string]any)
			}
		}
		out = append(out, st)
	}
	return out
}

// roleOf is the logical id of a function's execution role.
func (tpl *Template) roleOf(fn string) string {
	return refTarget(tpl.Resources[fn].Properties["Role"])
}

// grants lists the Allow statements of a role's inline policies.
func (tpl *Template) grants(role string) []Statement {
	var out []Statement
	for _, p := range list(tpl.Resources[role].Properties["Policies"]) {
		for _, s := range statements(get(p, "PolicyDocument")) {
			if s.Effect == "Allow" {
				out = append(out, s)
			}
		}
	}
	return out
}

// allows reports whether a function's role grants action on a resource
// named by its logical id (Ref, GetAtt or inside a Sub).
func (tpl *Template) allows(fn, action, resource string) bool {
	for _, s := range tpl.grants(tpl.roleOf(fn)) {
		if slices.Contains(s.Action, action) && slices.ContainsFunc(s.Resource, func(r any) bool { return refers(r, resource) }) {
			return true
		}
	}
	return false
}

// refTarget is the logical id a Ref or GetAtt names, or "".
func refTarget(v any) string {
	if r, ok := get(v, "Ref").(string); ok {
		return r
	}
	if g := list(get(v, "Fn::GetAtt")); len(g) == 2 {
		return str(g[0])
	}
	return ""
}

// refers reports whether a value names a logical id anywhere in it: Ref,
// GetAtt, or ${Id} / ${Id.Attr} in a Sub.
func refers(v any, id string) bool {
	switch t := v.(type) {
	case string:
		return false
	case []any:
		return slices.ContainsFunc(t, func(e any) bool { return refers(e, id) })
	case map[string]any:
		if refTarget(t) == id {
			return true
		}
		if sub, ok := t["Fn::Sub"]; ok {
			s := str(sub)
			if l := list(sub); len(l) == 2 {
				s = str(l[0])
				if refers(l[1], id) {
					return true
				}
			}
			return regexp.MustCompile(`\$\{` + regexp.QuoteMeta(id) + `[.}]`).MatchString(s)
		}
		for _, e := range t {
			if refers(e, id) {
				return true
			}
		}
	}
	return false
}

func get(v any, key string) any {
	m, _ := v.(map[string]any)
	return m[key]
}

func list(v any) []any {
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		return t
	}
	return []any{v}
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if v == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// alarmsOn lists the alarms whose metric has the dimension value v.
func (tpl *Template) alarmsOn(metric, dimension, id string) []string {
	var out []string
	for _, a := range tpl.ofType("AWS::CloudWatch::Alarm") {
		p := tpl.Resources[a].Properties
		if p["MetricName"] != metric {
			continue
		}
		for _, d := range list(p["Dimensions"]) {
			if get(d, "Name") == dimension && refTarget(get(d, "Value")) == id {
				out = append(out, a)
			}
		}
	}
	return out
}

// Point 1: an event the intake function fails on is kept, alarmed, and can
// be replayed by the admin function.
func TestIntakeFailuresAreKept(t *testing.T) {
	tpl := template(t)
	q, ok := tpl.Resources["IntakeFailureQueue"]
	if !ok || q.Type != "AWS::SQS::Queue" {
		t.Fatalf("no AWS::SQS::Queue IntakeFailureQueue")
	}
	if q.Properties["SqsManagedSseEnabled"] != true && q.Properties["KmsMasterKeyId"] == nil {
		t.Errorf("IntakeFailureQueue is not encrypted")
	}
	if q.Properties["MessageRetentionPeriod"] != float64(14*24*3600) {
		t.Errorf("IntakeFailureQueue keeps messages %v s, want 14 days", q.Properties["MessageRetentionPeriod"])
	}
	var configs []string
	for _, id := range tpl.ofType("AWS::Lambda::EventInvokeConfig") {
		if refTarget(tpl.Resources[id].Properties["FunctionName"]) == "IntakeFunction" {
			configs = append(configs, id)
		}
	}
	if len(configs) != 1 {
		t.Fatalf("IntakeFunction has %d EventInvokeConfigs, want 1", len(configs))
	}
	c := tpl.Resources[configs[0]].Properties
	if c["MaximumRetryAttempts"] != float64(2) {
		t.Errorf("intake async retries %v, want 2", c["MaximumRetryAttempts"])
	}
	if dest := get(get(c["DestinationConfig"], "OnFailure"), "Destination"); refTarget(dest) != "IntakeFailureQueue" {
		t.Errorf("intake OnFailure destination %v, want IntakeFailureQueue", dest)
	}
	if !tpl.allows("IntakeFunction", "sqs:SendMessage", "IntakeFailureQueue") {
		t.Errorf("IntakeFunction's role may not send to its OnFailure destination IntakeFailureQueue")
	}
	if len(tpl.alarmsOn("ApproximateNumberOfMessagesVisible", "QueueName", "IntakeFailureQueue")) == 0 {
		t.Errorf("no alarm on IntakeFailureQueue")
	}
	env := get(tpl.Resources["AdminFunction"].Properties["Environment"], "Variables")
	if refTarget(get(env, "INTAKE_FAILURE_QUEUE_URL")) != "IntakeFailureQueue" {
		t.Errorf("AdminFunction INTAKE_FAILURE_QUEUE_URL = %v, want Ref IntakeFailureQueue", get(env, "INTAKE_FAILURE_QUEUE_URL"))
	}
	// replay-intake drains the queue and then does what intake does.
	for _, g := range []struct{ action, resource string }{
		{"sqs:ReceiveMessage", "IntakeFailureQueue"}, {"sqs:DeleteMessage", "IntakeFailureQueue"},
		{"dynamodb:GetItem", "IncidentsTable"}, {"dynamodb:PutItem", "IncidentsTable"}, {"dynamodb:UpdateItem", "IncidentsTable"},
		{"sqs:SendMessage", "PlanQueue"},
	} {
		if !tpl.allows("AdminFunction", g.action, g.resource) {
			t.Errorf("AdminFunction may not %s on %s (replay-intake)", g.action, g.resource)
		}
		if strings.HasPrefix(g.resource, "Incidents") || g.resource == "PlanQueue" {
			if !tpl.allows("IntakeFunction", g.action, g.resource) {
				t.Errorf("IntakeFunction may not %s on %s, so replay-intake grants more than intake", g.action, g.resource)
			}
		}
	}
}

// Point 2: every alarm reaches the ops topic, whose key lets CloudWatch
// publish; dead letters, intake failures, function errors and a silent
// deadline watch ring; the dashboard shows the worker's metrics.
func TestAlarmsRing(t *testing.T) {
	tpl := template(t)
	topic := tpl.Resources["OpsTopic"].Properties
	key := refTarget(topic["KmsMasterKeyId"])
	if tpl.Resources[key].Type != "AWS::KMS::Key" {
		t.Fatalf("OpsTopic KmsMasterKeyId %v is not a customer-managed key of this stack (CloudWatch cannot use alias/aws/sns)", topic["KmsMasterKeyId"])
	}
	kp := tpl.Resources[key].Properties
	if kp["EnableKeyRotation"] != true {
		t.Errorf("%s: rotation off", key)
	}
	services := map[string][]string{} // service principal -> condition keys
	var rootAdmin bool
	for _, s := range statements(kp["KeyPolicy"]) {
		if s.Effect != "Allow" {
			continue
		}
		if svc := str(get(s.Principal, "Service")); svc != "" {
			if slices.Contains(s.Action, "kms:Decrypt") && slices.Contains(s.Action, "kms:GenerateDataKey*") {
				services[svc] = []string{}
				for _, kv := range s.Condition {
					for k := range kv {
						services[svc] = append(services[svc], k)
					}
				}
			}
		}
		if strings.Contains(str(get(s.Principal, "AWS")), ":root") && slices.Contains(s.Action, "kms:*") {
			rootAdmin = true
		}
	}
	if !rootAdmin {
		t.Errorf("%s: the account root does not administer the key", key)
	}
	// AWS documents aws:SourceAccount/SourceArn for CloudWatch's use of the
	// key; EventBridge does not send them, so none are required there.
	if c, ok := services["cloudwatch.amazonaws.com"]; !ok || !slices.Contains(c, "aws:SourceAccount") || !slices.Contains(c, "aws:SourceArn") {
		t.Errorf("%s: cloudwatch.amazonaws.com may not Decrypt/GenerateDataKey* scoped by aws:SourceAccount and aws:SourceArn (got %v)", key, c)
	}
	if _, ok := services["events.amazonaws.com"]; !ok {
		t.Errorf("%s: events.amazonaws.com may not Decrypt/GenerateDataKey*", key)
	}
	for _, fn := range tpl.ofType("AWS::Lambda::Function") {
		if tpl.allows(fn, "sns:Publish", "OpsTopic") && (!tpl.allows(fn, "kms:Decrypt", key) || !tpl.allows(fn, "kms:GenerateDataKey", key)) {
			t.Errorf("%s publishes to OpsTopic without kms:Decrypt and kms:GenerateDataKey on %s", fn, key)
		}
	}
	alarms := tpl.ofType("AWS::CloudWatch::Alarm")
	for _, a := range alarms {
		if !slices.ContainsFunc(list(tpl.Resources[a].Properties["AlarmActions"]), func(v any) bool { return refTarget(v) == "OpsTopic" }) {
			t.Errorf("alarm %s does not notify OpsTopic", a)
		}
	}
	for _, q := range append(tpl.deadLetterQueues(), "IntakeFailureQueue") {
		found := false
		for _, a := range tpl.alarmsOn("ApproximateNumberOfMessagesVisible", "QueueName", q) {
			p := tpl.Resources[a].Properties
			found = found || p["ComparisonOperator"] == "GreaterThanThreshold" && p["Threshold"] == float64(0)
		}
		if !found {
			t.Errorf("no alarm on a message waiting in %s", q)
		}
	}
	for _, fn := range tpl.ofType("AWS::Lambda::Function") {
		if len(tpl.alarmsOn("Errors", "FunctionName", fn)) == 0 {
			t.Errorf("no alarm on %s's errors", fn)
		}
	}
	heartbeat := false
	for _, a := range alarms {
		p := tpl.Resources[a].Properties
		heartbeat = heartbeat || p["Namespace"] == "BreachNotify" && p["MetricName"] == "WatchHeartbeat" && p["TreatMissingData"] == "breaching"
	}
	if !heartbeat {
		t.Errorf("no alarm on the deadline watch not running (BreachNotify/WatchHeartbeat, missing data breaching)")
	}

	dashboards := tpl.ofType("AWS::CloudWatch::Dashboard")
	if len(dashboards) != 1 {
		t.Fatalf("%d dashboards, want 1", len(dashboards))
	}
	shown := tpl.dashboardMetrics(t, dashboards[0])
	var want []string
	for _, ch := range []string{"email", "push"} {
		for _, m := range []string{"Sent", "Failed", "Pending", "Throttled", "SendRate", "QuotaRate"} {
			want = append(want, "BreachNotify/"+m+"/Channel="+ch)
		}
	}
	want = append(want, "BreachNotify/DeadlineAlarms")
	for _, q := range tpl.ofType("AWS::SQS::Queue") {
		want = append(want, "AWS/SQS/ApproximateNumberOfMessagesVisible/QueueName=${"+q+".QueueName}")
	}
	for _, fn := range tpl.ofType("AWS::Lambda::Function") {
		want = append(want, "AWS/Lambda/Errors/FunctionName=${"+fn+"}")
	}
	for _, m := range want {
		if !slices.Contains(shown, m) {
			t.Errorf("dashboard does not show %s", m)
		}
	}
}

// deadLetterQueues are the queues a redrive policy or a rule's
// DeadLetterConfig sends to.
func (tpl *Template) deadLetterQueues() []string {
	var out []string
	add := func(v any) {
		if id := refTarget(v); id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	for _, q := range tpl.ofType("AWS::SQS::Queue") {
		add(get(tpl.Resources[q].Properties["RedrivePolicy"], "deadLetterTargetArn"))
	}
	for _, r := range tpl.ofType("AWS::Events::Rule") {
		for _, target := range list(tpl.Resources[r].Properties["Targets"]) {
			add(get(get(target, "DeadLetterConfig"), "Arn"))
		}
	}
	slices.Sort(out)
	return out
}

// dashboardMetrics reads a dashboard's widgets as namespace/name/dim=value
// strings; the body is a Sub whose ${...} stay as written.
func (tpl *Template) dashboardMetrics(t *testing.T, id string) []string {
	body := tpl.Resources[id].Properties["DashboardBody"]
	s, ok := get(body, "Fn::Sub").(string)
	if !ok {
		t.Fatalf("%s DashboardBody is not a Fn::Sub string: %v", id, body)
	}
	var dash struct {
		Widgets []struct {
			Properties struct{ Metrics [][]any }
		}
	}
	if err := json.Unmarshal([]byte(s), &dash); err != nil {
		t.Fatalf("%s DashboardBody: %v", id, err)
	}
	var out []string
	for _, w := range dash.Widgets {
		for _, m := range w.Properties.Metrics {
			parts := []string{}
			for i, e := range m {
				if _, opts := e.(map[string]any); opts {
					continue
				}
				if i >= 2 && i%2 == 0 && i+1 < len(m) {
					parts = append(parts, fmt.Sprintf("%v=%v", e, m[i+1]))
				} else if i < 2 {
					parts = append(parts, fmt.Sprint(e))
				}
			}
			out = append(out, strings.Join(parts, "/"))
		}
	}
	return out
}

// Point 3: incident events come from a bus of the stack's own that only
// the detectors may write to.
func TestOnlyDetectorsWriteToTheBus(t *testing.T) {
	tpl := template(t)
	if _, ok := tpl.Parameters["EventBusName"]; ok {
		t.Errorf("parameter EventBusName still exists; the stack owns its bus")
	}
	if tpl.Parameters["DetectorPrincipals"]["Type"] != "CommaDelimitedList" {
		t.Errorf("parameter DetectorPrincipals: %v, want a CommaDelimitedList", tpl.Parameters["DetectorPrincipals"])
	}
	buses := tpl.ofType("AWS::Events::EventBus")
	if len(buses) != 1 {
		t.Fatalf("%d event buses, want 1", len(buses))
	}
	bus := tpl.Resources[buses[0]].Properties
	if !strings.Contains(str(get(bus["Name"], "Fn::Sub")), "${AWS::StackName}") {
		t.Errorf("bus name %v is not derived from the stack name", bus["Name"])
	}
	var allow, deny bool
	for _, s := range statements(bus["Policy"]) {
		if !slices.Equal(s.Action, []string{"events:PutEvents"}) {
			t.Errorf("bus policy statement %s: actions %v, want events:PutEvents", s.Sid, s.Action)
		}
		switch s.Effect {
		case "Allow":
			allow = refTarget(get(s.Principal, "AWS")) == "DetectorPrincipals"
		case "Deny":
			deny = s.Principal == "*" && refTarget(s.Condition["ArnNotLike"]["aws:PrincipalArn"]) == "DetectorPrincipals"
		}
	}
	if !allow || !deny {
		t.Errorf("bus policy %v: want PutEvents allowed to DetectorPrincipals and denied to every other principal", bus["Policy"])
	}
	patterned := 0
	for _, r := range tpl.ofType("AWS::Events::Rule") {
		p := tpl.Resources[r].Properties
		if p["EventPattern"] == nil {
			continue // a schedule
		}
		patterned++
		if p["EventBusName"] == "default" && slices.Equal(asStrings(get(p["EventPattern"], "source")), []string{"aws.ses"}) {
			// SES publishes its delivery events to the default bus only;
			// the rule takes source aws.ses and nothing a detector sends.
			continue
		}
		if refTarget(p["EventBusName"]) != buses[0] {
			t.Errorf("rule %s is on bus %v, want %s", r, p["EventBusName"], buses[0])
		}
	}
	if patterned == 0 {
		t.Errorf("no rule listens on the incident bus")
	}
	env := get(tpl.Resources["AdminFunction"].Properties["Environment"], "Variables")
	if refTarget(get(env, "EVENT_BUS_NAME")) != buses[0] {
		t.Errorf("AdminFunction EVENT_BUS_NAME = %v, want Ref %s", get(env, "EVENT_BUS_NAME"), buses[0])
	}
}

// logRetentionDays are the values CloudWatch Logs accepts for RetentionInDays.
var logRetentionDays = []any{1.0, 3.0, 5.0, 7.0, 14.0, 30.0, 60.0, 90.0, 120.0, 150.0, 180.0, 365.0, 400.0, 545.0, 731.0, 1096.0, 1827.0, 2192.0, 2557.0, 2922.0, 3288.0, 3653.0}

// Point 4: deleting or replacing the stack keeps the evidence; exports go
// over TLS only; logs expire; two stacks can share an account.
func TestEvidenceIsKept(t *testing.T) {
	tpl := template(t)
	for _, id := range append(tpl.ofType("AWS::DynamoDB::Table"), tpl.ofType("AWS::S3::Bucket")...) {
		r := tpl.Resources[id]
		if r.DeletionPolicy != "Retain" || r.UpdateReplacePolicy != "Retain" {
			t.Errorf("%s: DeletionPolicy %q, UpdateReplacePolicy %q; want Retain", id, r.DeletionPolicy, r.UpdateReplacePolicy)
		}
		if r.Type == "AWS::DynamoDB::Table" && r.Properties["DeletionProtectionEnabled"] != true {
			t.Errorf("%s: deletion protection off", id)
		}
	}
	for _, b := range tpl.ofType("AWS::S3::Bucket") {
		var noncurrent, markers bool
		for _, rule := range list(get(tpl.Resources[b].Properties["LifecycleConfiguration"], "Rules")) {
			if get(rule, "Status") != "Enabled" {
				continue
			}
			noncurrent = noncurrent || get(get(rule, "NoncurrentVersionExpiration"), "NoncurrentDays") != nil
			markers = markers || get(rule, "ExpiredObjectDeleteMarker") == true
		}
		if !noncurrent || !markers {
			t.Errorf("%s: lifecycle lacks NoncurrentVersionExpiration (%v) or ExpiredObjectDeleteMarker (%v)", b, noncurrent, markers)
		}
		tls := false
		for _, p := range tpl.ofType("AWS::S3::BucketPolicy") {
			if refTarget(tpl.Resources[p].Properties["Bucket"]) != b {
				continue
			}
			for _, s := range statements(tpl.Resources[p].Properties["PolicyDocument"]) {
				tls = tls || s.Effect == "Deny" && s.Principal == "*" && slices.Contains(s.Action, "s3:*") &&
					s.Condition["Bool"]["aws:SecureTransport"] == "false" && len(s.Resource) == 2
			}
		}
		if !tls {
			t.Errorf("%s: no policy denying requests without TLS (aws:SecureTransport false) on the bucket and its objects", b)
		}
	}
	if p := tpl.Parameters["LogRetentionDays"]; !slices.Equal(list(p["AllowedValues"]), logRetentionDays) {
		t.Errorf("LogRetentionDays AllowedValues %v, want CloudWatch Logs' %v", p["AllowedValues"], logRetentionDays)
	}
	for _, fn := range tpl.ofType("AWS::Lambda::Function") {
		lg := refTarget(get(tpl.Resources[fn].Properties["LoggingConfig"], "LogGroup"))
		r, ok := tpl.Resources[lg]
		if !ok || r.Type != "AWS::Logs::LogGroup" {
			t.Errorf("%s logs to %q, not to a log group of the stack", fn, lg)
			continue
		}
		if refTarget(r.Properties["RetentionInDays"]) != "LogRetentionDays" {
			t.Errorf("%s: RetentionInDays %v, want Ref LogRetentionDays", lg, r.Properties["RetentionInDays"])
		}
	}
	for _, id := range tpl.ofType("AWS::SES::ConfigurationSet") {
		if name := tpl.Resources[id].Properties["Name"]; !strings.Contains(str(get(name, "Fn::Sub")), "${AWS::StackName}") {
			t.Errorf("%s: name %v is not derived from the stack name", id, name)
		}
	}
}

// Point 5: the generated roles reach only this stack's resources.
func TestLeastPrivilegeAsGenerated(t *testing.T) {
	tpl := template(t)
	for _, role := range tpl.ofType("AWS::IAM::Role") {
		for _, arn := range list(tpl.Resources[role].Properties["ManagedPolicyArns"]) {
			// Basic execution writes logs (CloudWatch Logs, any group); every
			// other managed policy reaches beyond this stack.
			if !strings.HasSuffix(str(arn), "service-role/AWSLambdaBasicExecutionRole") {
				t.Errorf("%s has the managed policy %v", role, arn)
			}
		}
		for _, s := range tpl.grants(role) {
			for _, a := range s.Action {
				if strings.Contains(a, "*") {
					t.Errorf("%s grants the wildcard action %s", role, a)
				}
			}
		}
	}
	for _, id := range tpl.ofType("AWS::SQS::QueuePolicy") {
		for _, s := range statements(tpl.Resources[id].Properties["PolicyDocument"]) {
			if s.Effect == "Allow" && get(s.Principal, "Service") != nil && s.Condition["ArnEquals"]["aws:SourceArn"] == nil && s.Condition["ArnLike"]["aws:SourceArn"] == nil {
				t.Errorf("%s: %v may send without an aws:SourceArn condition", id, get(s.Principal, "Service"))
			}
		}
	}
	// Endpoint ARNs come from each platform application's own ARN: the
	// region and account are the application's, not the stack's.
	endpoints := 0
	for _, fn := range tpl.ofType("AWS::Lambda::Function") {
		for _, s := range tpl.grants(tpl.roleOf(fn)) {
			if !slices.Contains(s.Action, "sns:Publish") {
				continue
			}
			for _, r := range s.Resource {
				sub := list(get(r, "Fn::Sub"))
				if len(sub) == 0 || !strings.Contains(str(sub[0]), ":endpoint/") {
					continue
				}
				endpoints++
				if strings.Contains(str(sub[0]), "${AWS::Region}") || strings.Contains(str(sub[0]), "${AWS::AccountId}") {
					t.Errorf("%s: endpoint ARN %v uses the stack's region or account", fn, sub[0])
				}
				vars, _ := sub[len(sub)-1].(map[string]any)
				for _, v := range vars {
					if !refers(v, "AndroidPlatformApplicationArn") && !refers(v, "IosPlatformApplicationArn") {
						t.Errorf("%s: endpoint ARN part %v is not taken from a platform application ARN", fn, v)
					}
				}
			}
		}
	}
	if endpoints != 2 {
		t.Errorf("%d push endpoint resources, want 2 (android, ios)", endpoints)
	}
}

// asStrings is a template list of strings.
func asStrings(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}
