package faultserver

import (
	"cmp"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// SNS (sns v1.48.0) is awsQuery: the SDK POSTs a form
// (application/x-www-form-urlencoded, Action=Publish&Version=2010-03-31&...)
// to "/" and reads XML. A success is read from the <PublishResult> element;
// an error from <ErrorResponse><Error><Code>, whose code is matched against
// the model's @awsQueryError codes ("Throttled", "EndpointDisabled", ...,
// not the Go type names) to build *types.ThrottledException and friends.
// Message is matched case-insensitively, so AWS's <Message> is read.
var snsErrors = map[string]apiError{
	"Throttled":                   {http.StatusTooManyRequests, "Rate exceeded"},
	"EndpointDisabled":            {http.StatusBadRequest, "Endpoint is disabled"},
	"InvalidParameter":            {http.StatusBadRequest, "Invalid parameter"},
	"ParameterValueInvalid":       {http.StatusBadRequest, "Invalid parameter value"},
	"NotFound":                    {http.StatusNotFound, "Endpoint does not exist"},
	"PlatformApplicationDisabled": {http.StatusBadRequest, "Platform application is disabled"},
	"AuthorizationError":          {http.StatusForbidden, "User is not authorized to perform: SNS:Publish"},
	"KMSThrottling":               {http.StatusBadRequest, "KMS throttled the request"},
	"InternalError":               {http.StatusInternalServerError, "Internal Error"},
	"ServiceUnavailable":          {http.StatusServiceUnavailable, "Service Unavailable"},
}

// SNSErrorCodes lists the wire codes FailEndpoints accepts (the SDK's type
// names, "EndpointDisabledException", are accepted too).
func SNSErrorCodes() []string {
	return slices.Sorted(maps.Keys(snsErrors))
}

// snsCode maps the SDK's Go type name to the wire code, because the brief
// for a test naturally names the type it will errors.As against.
func snsCode(code string) string {
	if code == "InvalidParameterValueException" {
		return "ParameterValueInvalid"
	}
	if c, ok := strings.CutSuffix(code, "Exception"); ok {
		if _, known := snsErrors[c]; known {
			return c
		}
	}
	return code
}

const (
	snsThrottle    = "Throttled"
	snsServerError = "InternalError"
	snsXMLNS       = "http://sns.amazonaws.com/doc/2010-03-31/"
	// snsMaxMessage is SNS's 256 KiB message limit.
	snsMaxMessage = 256 << 10
)

type publishRequest struct {
	TargetArn, TopicArn, PhoneNumber, Message, MessageStructure, Subject string
}

// validate refuses, with SNS's own messages, what SNS refuses and the
// project could get wrong: no target, a target that is not an ARN, an empty
// or oversized message, and a MessageStructure=json message without the
// "default" string every platform falls back to.
func (in *publishRequest) validate() string {
	switch {
	case in.TargetArn == "" && in.TopicArn == "" && in.PhoneNumber == "":
		return "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter"
	case in.TargetArn != "" && !strings.HasPrefix(in.TargetArn, "arn:"):
		return "Invalid parameter: TargetArn Reason: An ARN must have at least 6 elements, not 1"
	case in.Message == "":
		return "Invalid parameter: Empty message"
	case len(in.Message) > snsMaxMessage:
		return "Invalid parameter: Message too long"
	case in.MessageStructure != "" && in.MessageStructure != "json":
		return "Invalid parameter: MessageStructure"
	case in.MessageStructure == "json":
		var doc map[string]json.RawMessage
		if err := json.Unmarshal([]byte(in.Message), &doc); err != nil {
			return "Invalid parameter: Message Structure - JSON message body failed to parse"
		}
		var def string
		if raw, ok := doc["default"]; !ok || json.Unmarshal(raw, &def) != nil {
			return "Invalid parameter: Message Structure - No default entry in JSON message body"
		}
	}
	return ""
}

func (s *Server) sns(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 2<<20)
	perr := r.ParseForm()
	action := r.PostForm.Get("Action")
	if perr != nil || action != "Publish" {
		s.mu.Lock()
		reqID, latency := s.nextRequestID(), s.cfg.Latency
		s.mu.Unlock()
		sleep(r.Context(), latency)
		msg := fmt.Sprintf("faultserver implements Publish only, not %q", action)
		if perr != nil {
			msg = "Could not parse the request: " + perr.Error()
		}
		writeSNSError(w, reqID, "InvalidAction", http.StatusBadRequest, msg)
		return
	}
	f := r.PostForm
	in := publishRequest{
		TargetArn: f.Get("TargetArn"), TopicArn: f.Get("TopicArn"), PhoneNumber: f.Get("PhoneNumber"),
		Message: f.Get("Message"), MessageStructure: f.Get("MessageStructure"), Subject: f.Get("Subject"),
	}
	verr := in.validate()
	now := time.Now()

	var code, msg string
	var seq uint64
	s.mu.Lock()
	reqID := s.nextRequestID()
	cfg, st := &s.cfg, &s.stats.Publish
	st.Requests++
	switch {
	case verr != "":
		code, msg = "InvalidParameter", verr
		bump(&st.Invalid, code)
	case !s.buckets[push].take(now):
		code = snsThrottle
		st.Throttled++
	default:
		u := s.draw(push)
		switch {
		case u < cfg.PushThrottlePercent:
			code = snsThrottle
		case u < cfg.PushThrottlePercent+cfg.PushServerErrorPercent:
			code = snsServerError
		default:
			if c, ok := s.failEP[in.TargetArn]; ok && in.TargetArn != "" {
				code, msg = c, fmt.Sprintf("%s (faultserver: FailEndpoints has %s)", snsMessage(c), in.TargetArn)
			}
		}
		if code != "" {
			bump(&st.Injected, code)
			break
		}
		st.Accepted++
		s.seq++
		seq = s.seq
		s.store.add(record{at: now.UnixNano(), seq: seq, ch: push, to: cmp.Or(in.TargetArn, in.TopicArn, in.PhoneNumber), subject: s.store.interned(in.Subject)})
	}
	latency := cfg.Latency
	s.mu.Unlock()

	sleep(r.Context(), latency)
	if code != "" {
		status := http.StatusBadRequest
		if e, ok := snsErrors[code]; ok {
			status = e.status
		}
		if msg == "" {
			msg = snsMessage(code)
		}
		writeSNSError(w, reqID, code, status, msg)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-RequestId", reqID)
	fmt.Fprintf(w, `<PublishResponse xmlns="%s"><PublishResult><MessageId>%s</MessageId></PublishResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></PublishResponse>`,
		snsXMLNS, s.messageID(push, seq), reqID)
}

func snsMessage(code string) string {
	if e, ok := snsErrors[code]; ok {
		return e.message
	}
	return code
}

func writeSNSError(w http.ResponseWriter, reqID, code string, status int, msg string) {
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	esc := func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-RequestId", reqID)
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		snsXMLNS, typ, esc(code), esc(msg), reqID)
}
