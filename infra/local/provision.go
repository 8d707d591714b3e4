package local

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"breachnotify/shared/publicpage"
)

// Config is an SDK configuration aimed at the local servers, the same way
// the functions are: through endpoint settings only.
func (s *State) Config() aws.Config {
	return aws.Config{
		Region:       s.Region,
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(s.MotoURL),
	}
}

// Env is the environment that points the AWS SDK (and the AWS CLI) at this
// stack's servers.
func (s *State) Env() map[string]string {
	env := map[string]string{
		"AWS_REGION":             s.Region,
		"AWS_DEFAULT_REGION":     s.Region,
		"AWS_ACCESS_KEY_ID":      "local",
		"AWS_SECRET_ACCESS_KEY":  "local",
		"AWS_ENDPOINT_URL":       s.MotoURL,
		"AWS_ENDPOINT_URL_SESV2": s.SESEndpoint,
	}
	if s.SNSEndpoint != "" {
		env["AWS_ENDPOINT_URL_SNS"] = s.SNSEndpoint
	}
	for svc, url := range s.Endpoints {
		env["AWS_ENDPOINT_URL_"+svc] = url
	}
	return env
}

func physical(logicalID string) string { return StackName + "-" + logicalID }

// The public notice bucket and the parameter that says where its
// incidents/ folder is served.
const (
	publicNoticeBucket   = "PublicNoticeBucket"
	publicNoticeURLParam = "PublicNoticeUrl"
)

// PublicPage is the local address of an incident's public notice page in
// locale: the PublicNoticeUrl the functions were given.
func (s *State) PublicPage(incidentID, locale string) string {
	return publicpage.Address(fmt.Sprint(s.Params[publicNoticeURLParam]), incidentID, locale)
}

// PublicPageLink is a link that reads an incident's public notice page in
// locale from the local bucket for the next hours. The bucket is private,
// as on AWS, where CloudFront's origin access control signs each read;
// locally the link is signed instead.
func (s *State) PublicPageLink(ctx context.Context, incidentID, locale string) (string, error) {
	c := s3.NewPresignClient(s3.NewFromConfig(s.Config(), func(o *s3.Options) { o.UsePathStyle = true }))
	req, err := c.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Names[publicNoticeBucket]),
		Key: aws.String(publicpage.Key(incidentID, locale))}, s3.WithPresignExpires(12*time.Hour))
	if err != nil {
		return "", fmt.Errorf("sign a link to the %s page of %s: %w", locale, incidentID, err)
	}
	return req.URL, nil
}

// provision creates what template.yaml declares, in the order its
// references need: queues, tables, then functions with their event sources.
func (s *State) provision(ctx context.Context, t *Template, overrides map[string]string, timeouts map[string]int) error {
	cfg := s.Config()
	db, q, sn, eb := dynamodb.NewFromConfig(cfg), sqs.NewFromConfig(cfg), sns.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg)
	r := &resolver{params: map[string]any{}, refs: map[string]string{}, arns: map[string]string{}, region: s.Region}
	for name, p := range t.Parameters {
		v, ok := overrides[name]
		switch {
		case !ok && p.Default == nil:
			return fmt.Errorf("parameter %s has no default: pass a value", name)
		case !ok:
			v = scalar(p.Default)
		}
		if p.AllowedPattern != "" {
			// CloudFormation matches the whole value.
			re, err := regexp.Compile("^(?:" + p.AllowedPattern + ")$")
			if err != nil {
				return fmt.Errorf("parameter %s: AllowedPattern: %w", name, err)
			}
			if !re.MatchString(v) {
				return fmt.Errorf("parameter %s: %q does not match its AllowedPattern %s", name, v, p.AllowedPattern)
			}
		}
		r.params[name] = v
		if p.Type == "CommaDelimitedList" {
			var list []any
			for _, e := range strings.Split(v, ",") {
				list = append(list, strings.TrimSpace(e))
			}
			r.params[name] = list
		}
	}
	for name := range overrides {
		if _, ok := t.Parameters[name]; !ok {
			return fmt.Errorf("parameter override %s: the template has no such parameter", name)
		}
	}
	// The push platform applications are the deployment's (parameters);
	// locally they are created in moto and passed in as those parameters.
	s.Platforms = map[string]string{}
	for platform, spec := range map[string]struct{ param, kind string }{
		"android": {"AndroidPlatformApplicationArn", "GCM"},
		"ios":     {"IosPlatformApplicationArn", "APNS"},
	} {
		out, err := sn.CreatePlatformApplication(ctx, &sns.CreatePlatformApplicationInput{
			Name: aws.String(StackName + "-" + platform), Platform: aws.String(spec.kind),
			// Enabled is what SNS reports of a working application
			// (preflight reads it); moto reports the attributes it was given.
			Attributes: map[string]string{"PlatformCredential": "local", "PlatformPrincipal": "local", "Enabled": "true"},
		})
		if err != nil {
			return fmt.Errorf("create %s platform application: %w", platform, err)
		}
		s.Platforms[platform] = aws.ToString(out.PlatformApplicationArn)
		r.params[spec.param] = s.Platforms[platform]
	}
	ids := slices.Sorted(maps.Keys(t.Resources))
	// Queues first without redrive, since a redrive policy names another queue.
	s.QueueARNs = map[string]string{}
	for _, id := range ids {
		if t.Resources[id].Type != "AWS::SQS::Queue" {
			continue
		}
		name, attrs := physical(id), map[string]string(nil)
		if fifo, _ := t.Resources[id].Properties["FifoQueue"].(bool); fifo {
			name, attrs = name+".fifo", map[string]string{"FifoQueue": "true"}
		}
		url, arn, err := createQueue(ctx, q, name, attrs)
		if err != nil {
			return err
		}
		r.refs[id], r.arns[id], s.QueueARNs[id] = url, arn, arn
	}
	for _, id := range ids {
		res := t.Resources[id]
		switch res.Type {
		case "AWS::SQS::Queue":
			if err := s.queueAttributes(ctx, q, r, r.refs[id], res.Properties); err != nil {
				return fmt.Errorf("queue %s: %w", id, err)
			}
		case "AWS::DynamoDB::Table":
			if err := createTable(ctx, db, physical(id), res.Properties); err != nil {
				return fmt.Errorf("table %s: %w", id, err)
			}
			r.refs[id] = physical(id)
			r.arns[id] = fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", s.Region, accountID, physical(id))
		case "AWS::S3::Bucket":
			name := strings.ToLower(physical(id))
			s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
			if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
				return fmt.Errorf("bucket %s: %w", id, err)
			}
			// Versioning as the template asks: each object put again
			// gets a version id of its own, which the audit records.
			if asMap(res.Properties["VersioningConfiguration"])["Status"] == "Enabled" {
				if _, err := s3c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: &name,
					VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
					return fmt.Errorf("bucket %s: versioning: %w", id, err)
				}
			}
			r.refs[id], r.arns[id] = name, "arn:aws:s3:::"+name
			// The public notice pages are served, on AWS, by CloudFront at
			// PublicNoticeUrl; locally moto serves the bucket path-style,
			// so that is the address passed in, unless one is given.
			if id == publicNoticeBucket && overrides[publicNoticeURLParam] == "" {
				if _, ok := r.params[publicNoticeURLParam]; ok {
					r.params[publicNoticeURLParam] = s.MotoURL + "/" + name + "/incidents"
				}
			}
		case "AWS::SNS::Topic":
			out, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(physical(id))})
			if err != nil {
				return fmt.Errorf("topic %s: %w", id, err)
			}
			r.refs[id], r.arns[id] = aws.ToString(out.TopicArn), aws.ToString(out.TopicArn)
		case "AWS::Events::EventBus":
			arn, err := createBus(ctx, eb, r, res.Properties)
			if err != nil {
				return fmt.Errorf("event bus %s: %w", id, err)
			}
			r.refs[id], r.arns[id] = path.Base(arn), arn
			s.EventBus = r.refs[id]
		case "AWS::SES::ConfigurationSet":
			// aws-ses-v2-local accepts any configuration set name; the
			// SES front answers GetConfigurationSet for these.
			name, err := r.resolve(res.Properties["Name"])
			if err != nil {
				return err
			}
			r.refs[id] = fmt.Sprint(name)
			s.ConfigurationSets = append(s.ConfigurationSets, fmt.Sprint(name))
		}
	}
	// The operator points each platform application's delivery failure
	// and endpoint update events at the stack's topic (docs/deploy.md);
	// locally the stack does it.
	if topic, ok := r.arns["PushFeedbackTopic"]; ok {
		for _, app := range s.Platforms {
			if _, err := sn.SetPlatformApplicationAttributes(ctx, &sns.SetPlatformApplicationAttributesInput{PlatformApplicationArn: aws.String(app),
				Attributes: map[string]string{"EventDeliveryFailure": topic, "EventEndpointUpdated": topic}}); err != nil {
				return fmt.Errorf("platform application events: %w", err)
			}
		}
	}
	// The local account has verified the sender's address and domain, as
	// a deployment must before its first send (see ServeSES).
	sender := fmt.Sprint(r.params["SenderAddress"])
	s.SESIdentities = []string{sender, sender[strings.LastIndexByte(sender, '@')+1:]}
	s.Names = r.refs
	s.Params = r.params
	for _, id := range ids {
		if t.Resources[id].Type == "AWS::Serverless::Function" {
			if err := s.function(ctx, t, r, q, eb, sn, id, timeouts[id]); err != nil {
				return fmt.Errorf("function %s: %w", id, err)
			}
		}
	}
	return nil
}

func createQueue(ctx context.Context, q *sqs.Client, name string, attrs map[string]string) (url, arn string, err error) {
	out, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name, Attributes: attrs})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: %w", name, err)
	}
	a, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", "", fmt.Errorf("read queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), a.Attributes["QueueArn"], nil
}

func (s *State) queueAttributes(ctx context.Context, q *sqs.Client, r *resolver, url string, props map[string]any) error {
	attrs := map[string]string{}
	for _, k := range []string{"VisibilityTimeout", "MessageRetentionPeriod"} {
		if v, ok := props[k]; ok {
			attrs[k] = scalar(v)
		}
	}
	if rp, ok := props["RedrivePolicy"]; ok {
		v, err := r.resolve(rp)
		if err != nil {
			return err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		attrs["RedrivePolicy"] = string(b)
	}
	if len(attrs) == 0 {
		return nil
	}
	_, err := q.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: attrs})
	return err
}

// createBus creates an event bus with the template's resource policy, set
// as PutPermission's Policy (moto's CreateEventBus takes no policy). moto
// keeps the policy but does not enforce it on PutEvents.
func createBus(ctx context.Context, eb *eventbridge.Client, r *resolver, props map[string]any) (arn string, err error) {
	name, err := r.resolve(props["Name"])
	if err != nil {
		return "", err
	}
	out, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(fmt.Sprint(name))})
	if err != nil {
		return "", fmt.Errorf("create: %w", err)
	}
	if p, ok := props["Policy"]; ok {
		policy, err := r.resolve(p)
		if err != nil {
			return "", err
		}
		doc, err := json.Marshal(policy)
		if err != nil {
			return "", err
		}
		if _, err := eb.PutPermission(ctx, &eventbridge.PutPermissionInput{EventBusName: aws.String(fmt.Sprint(name)), Policy: aws.String(string(doc))}); err != nil {
			return "", fmt.Errorf("put policy: %w", err)
		}
	}
	return aws.ToString(out.EventBusArn), nil
}

// CreateTable creates the table of logicalID empty, as template t declares
// it and under the name the stack gave it: how a test brings back a table
// it deleted, as a restore would.
func (s *State) CreateTable(ctx context.Context, t *Template, logicalID string) error {
	res, ok := t.Resources[logicalID]
	if !ok || res.Type != "AWS::DynamoDB::Table" {
		return fmt.Errorf("create table %s: not a table of the template", logicalID)
	}
	return createTable(ctx, dynamodb.NewFromConfig(s.Config()), physical(logicalID), res.Properties)
}

func createTable(ctx context.Context, db *dynamodb.Client, name string, props map[string]any) error {
	// The template's property names are the API's, so the properties decode
	// straight into the SDK input.
	spec := map[string]any{}
	for _, k := range []string{"AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"} {
		if v, ok := props[k]; ok {
			spec[k] = v
		}
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	var in dynamodb.CreateTableInput
	if err := json.Unmarshal(raw, &in); err != nil {
		return fmt.Errorf("decode table spec: %w", err)
	}
	in.TableName = &name
	if _, err := db.CreateTable(ctx, &in); err != nil {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	return nil
}

func (s *State) function(ctx context.Context, t *Template, r *resolver, q *sqs.Client, eb *eventbridge.Client, sn *sns.Client, id string, timeout int) error {
	props := t.Resources[id].Properties
	fn := Function{Env: s.Env(), Timeout: 3}
	delete(fn.Env, "AWS_DEFAULT_REGION")
	if v, ok := props["Timeout"]; ok {
		fmt.Sscan(scalar(v), &fn.Timeout)
	}
	if timeout > 0 {
		fn.Timeout = timeout
	}
	fn.Env["AWS_LAMBDA_FUNCTION_NAME"] = physical(id)
	fn.Env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = fmt.Sprint(fn.Timeout)
	// Globals set LoggingConfig LogFormat JSON; Lambda tells the runtime so
	// through this variable.
	fn.Env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
	envProps, _ := props["Environment"].(map[string]any)
	vars, err := r.resolve(envProps["Variables"])
	if err != nil {
		return err
	}
	for k, v := range asMap(vars) {
		fn.Env[k] = scalar(v)
	}
	if fn.Async, err = s.asyncConfig(r, props["EventInvokeConfig"]); err != nil {
		return err
	}
	s.Functions[id] = fn
	events := asMap(props["Events"])
	for _, name := range slices.Sorted(maps.Keys(events)) {
		ev := asMap(events[name])
		p, err := r.resolve(ev["Properties"])
		if err != nil {
			return err
		}
		ep := asMap(p)
		switch ev["Type"] {
		case "SQS":
			queueARN := fmt.Sprint(ep["Queue"])
			url := ""
			for qid, arn := range s.QueueARNs {
				if arn == queueARN {
					url = r.refs[qid]
				}
			}
			batch := 10
			if v, ok := ep["BatchSize"]; ok {
				fmt.Sscan(scalar(v), &batch)
			}
			s.Mappings = append(s.Mappings, Mapping{Function: id, QueueURL: url, BatchSize: batch})
		case "EventBridgeRule":
			if err := s.rule(ctx, q, eb, id, name, ep); err != nil {
				return err
			}
		case "SNS":
			if err := s.snsSubscription(ctx, q, sn, id, name, fmt.Sprint(ep["Topic"])); err != nil {
				return err
			}
		case "Schedule":
			s.Schedules[id] = fmt.Sprint(ep["Schedule"])
		default:
			return fmt.Errorf("event %s: type %v is not emulated", name, ev["Type"])
		}
	}
	return nil
}

// asyncConfig reads a function's EventInvokeConfig (SAM's property): how
// many times Lambda retries an asynchronous invocation that failed, and
// where the event goes after that.
func (s *State) asyncConfig(r *resolver, v any) (AsyncConfig, error) {
	c := AsyncConfig{MaximumRetryAttempts: 2}
	resolved, err := r.resolve(v)
	if err != nil {
		return c, err
	}
	conf := asMap(resolved)
	if n, ok := conf["MaximumRetryAttempts"]; ok {
		fmt.Sscan(scalar(n), &c.MaximumRetryAttempts)
	}
	onFailure := asMap(asMap(conf["DestinationConfig"])["OnFailure"])
	if onFailure == nil {
		return c, nil
	}
	if t := fmt.Sprint(onFailure["Type"]); t != "SQS" {
		return c, fmt.Errorf("EventInvokeConfig: an on-failure destination of type %s is not emulated (SQS is)", t)
	}
	arn := fmt.Sprint(onFailure["Destination"])
	for qid, a := range s.QueueARNs {
		if a == arn {
			c.OnFailureQueueURL = r.refs[qid]
		}
	}
	if c.OnFailureQueueURL == "" {
		return c, fmt.Errorf("EventInvokeConfig: on-failure destination %s is not a queue of the template", arn)
	}
	return c, nil
}

// rule creates the EventBridge rule in moto with a local inbox queue as its
// target, so pattern matching is EventBridge's (moto's), not ours. The inbox
// stands for Lambda's own queue of asynchronous invocations: EventBridge's
// hand-over to Lambda cannot fail locally, so the rule's RetryPolicy and
// dead-letter queue, which cover only that hand-over, are never used here.
// The mapper invokes the function with each event as Lambda would (see
// AsyncConfig).
func (s *State) rule(ctx context.Context, q *sqs.Client, eb *eventbridge.Client, fnID, name string, props map[string]any) error {
	pattern, err := json.Marshal(props["Pattern"])
	if err != nil {
		return err
	}
	inbox := physical(fnID + "-" + name)
	url, arn, err := createQueue(ctx, q, inbox, map[string]string{"VisibilityTimeout": "30"})
	if err != nil {
		return err
	}
	bus := s.EventBus
	if v, ok := props["EventBusName"]; ok {
		bus = fmt.Sprint(v)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: &inbox, EventBusName: &bus, EventPattern: aws.String(string(pattern))}); err != nil {
		return fmt.Errorf("put rule %s: %w", name, err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: &inbox, EventBusName: &bus,
		Targets: []ebtypes.Target{{Id: aws.String("inbox"), Arn: &arn}}}); err != nil {
		return fmt.Errorf("put target of rule %s: %w", name, err)
	}
	s.Mappings = append(s.Mappings, Mapping{Function: fnID, QueueURL: url, BatchSize: 1, Async: true})
	return nil
}

// snsSubscription subscribes a local inbox queue to the topic, standing
// for Lambda's own subscription: SNS invokes a function asynchronously, so
// the mapper invokes it once per notification as it does for a rule.
func (s *State) snsSubscription(ctx context.Context, q *sqs.Client, sn *sns.Client, fnID, name, topicARN string) error {
	inbox := physical(fnID + "-" + name)
	url, arn, err := createQueue(ctx, q, inbox, map[string]string{"VisibilityTimeout": "30"})
	if err != nil {
		return err
	}
	if _, err := sn.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &topicARN, Protocol: aws.String("sqs"), Endpoint: &arn}); err != nil {
		return fmt.Errorf("subscribe %s to %s: %w", name, topicARN, err)
	}
	s.Mappings = append(s.Mappings, Mapping{Function: fnID, QueueURL: url, BatchSize: 1, Async: true, SNS: true})
	return nil
}

// scalar prints a template value; YAML numbers decode as float64, which
// fmt would print as 1.2096e+06.
func scalar(v any) string {
	if f, ok := v.(float64); ok && f == float64(int64(f)) {
		return strconv.FormatInt(int64(f), 10)
	}
	return fmt.Sprint(v)
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
