package faultserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// SES v2 is restJson1. The SDK (sesv2 v1.79.9, smithy-go restjson1) takes
// the error code from the X-Amzn-ErrorType header, else the body's
// "__type", else its "code", strips anything after ':' and before '#', and
// looks the result up by shape name: "TooManyRequestsException" becomes
// *types.TooManyRequestsException. The status comes from the model's
// @httpError. Both the header and "__type" are sent, so any client finds it.
type apiError struct {
	status  int
	message string
}

// sesErrors are SendEmail's modeled errors plus the unmodeled 5xx that AWS
// fronts every service with. InternalFailure is not in the sesv2 model, so
// the SDK returns it as a *smithy.GenericAPIError inside a ResponseError
// with status 500 — which its standard retryer retries, by status.
var sesErrors = map[string]apiError{
	"TooManyRequestsException":           {http.StatusTooManyRequests, "Maximum sending rate exceeded."},
	"SendingPausedException":             {http.StatusBadRequest, "Sending is paused for this account."},
	"AccountSuspendedException":          {http.StatusBadRequest, "Your account has been suspended and can no longer send email."},
	"MessageRejected":                    {http.StatusBadRequest, "Message rejected."},
	"BadRequestException":                {http.StatusBadRequest, "Bad request."},
	"MailFromDomainNotVerifiedException": {http.StatusBadRequest, "MAIL FROM domain is not verified."},
	"LimitExceededException":             {http.StatusBadRequest, "Daily message quota exceeded."},
	"NotFoundException":                  {http.StatusNotFound, "Resource not found."},
	"InternalServiceErrorException":      {http.StatusInternalServerError, "Internal service error."},
	"InternalFailure":                    {http.StatusInternalServerError, "The request processing has failed because of an unknown error, exception or failure."},
	"ServiceUnavailable":                 {http.StatusServiceUnavailable, "Service is unavailable."},
}

// SESErrorCodes lists the codes FailRecipients accepts.
func SESErrorCodes() []string {
	return slices.Sorted(maps.Keys(sesErrors))
}

const (
	sesThrottle    = "TooManyRequestsException"
	sesServerError = "InternalFailure"
)

type messageTag struct{ Name, Value string }

// sendEmailRequest holds only what the server checks or records; the
// decoder skips the rest (bodies, attachments) without allocating it.
type sendEmailRequest struct {
	FromEmailAddress string
	Destination      *struct {
		ToAddresses, CcAddresses, BccAddresses []string
	}
	Content *struct {
		Simple *struct {
			Subject *struct{ Data string }
		}
		Raw      *struct{}
		Template *struct {
			TemplateContent *struct{ Subject string }
		}
	}
	EmailTags []messageTag
}

func (in *sendEmailRequest) recipients() []string {
	if in.Destination == nil {
		return nil
	}
	d := in.Destination
	return slices.Concat(d.ToAddresses, d.CcAddresses, d.BccAddresses)
}

func (in *sendEmailRequest) toAddresses() []string {
	if in.Destination == nil {
		return nil
	}
	return in.Destination.ToAddresses
}

func (in *sendEmailRequest) subject() string {
	switch c := in.Content; {
	case c.Simple != nil && c.Simple.Subject != nil:
		return c.Simple.Subject.Data
	case c.Template != nil && c.Template.TemplateContent != nil:
		return c.Template.TemplateContent.Subject
	}
	return ""
}

// validate refuses what real SES refuses and a test would want to catch:
// no content, nobody to send to, an address without a domain, and tags
// outside SES's character set (names and values may only hold ASCII
// letters, digits, '_' and '-', up to 256 characters).
func (in *sendEmailRequest) validate() error {
	c := in.Content
	if c == nil || (c.Simple == nil && c.Raw == nil && c.Template == nil) {
		return errors.New("Content is required: one of Simple, Raw or Template.")
	}
	rcpts := in.recipients()
	if len(rcpts) == 0 && c.Raw == nil {
		return errors.New("Destination must name at least one recipient.")
	}
	for _, a := range rcpts {
		if i := strings.LastIndexByte(a, '@'); i <= 0 || i == len(a)-1 {
			return errors.New("Missing final '@domain'")
		}
	}
	for _, t := range in.EmailTags {
		if !validTag(t.Name, 1) || !validTag(t.Value, 0) {
			return fmt.Errorf("Invalid message tag %q=%q: names and values may only contain ASCII letters, numbers, underscores and dashes, up to 256 characters.", t.Name, t.Value)
		}
	}
	return nil
}

func validTag(s string, minLen int) bool {
	if len(s) < minLen || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (s *Server) sendEmail(w http.ResponseWriter, r *http.Request) {
	var in sendEmailRequest
	verr := json.NewDecoder(http.MaxBytesReader(w, r.Body, 50<<20)).Decode(&in)
	if verr != nil {
		verr = fmt.Errorf("Could not parse the request body: %v", verr)
	} else {
		verr = in.validate()
	}
	now := time.Now()

	var code, msg string
	var seq uint64
	s.mu.Lock()
	reqID := s.nextRequestID()
	cfg, st := &s.cfg, &s.stats.SendEmail
	st.Requests++
	switch {
	case verr != nil:
		code, msg = "BadRequestException", verr.Error()
		bump(&st.Invalid, code)
	case cfg.EmailPaused:
		code = "SendingPausedException"
		bump(&st.Injected, code)
	case cfg.SenderUnverified:
		code, msg = "MessageRejected", notVerified(r, []string{in.FromEmailAddress})
		bump(&st.Injected, code)
	case cfg.Sandbox:
		code, msg = "MessageRejected", notVerified(r, in.recipients())
		bump(&st.Injected, code)
	case !s.buckets[email].take(now):
		code = sesThrottle
		st.Throttled++
	default:
		u := s.draw(email)
		switch {
		case u < cfg.EmailThrottlePercent:
			code = sesThrottle
		case u < cfg.EmailThrottlePercent+cfg.EmailServerErrorPercent:
			code = sesServerError
		default:
			for _, a := range in.recipients() {
				if c, ok := s.failRcpt[strings.ToLower(a)]; ok {
					code, msg = c, fmt.Sprintf("%s (faultserver: FailRecipients has %s)", sesMessage(c), a)
					break
				}
			}
		}
		if code != "" {
			bump(&st.Injected, code)
			break
		}
		st.Accepted++
		s.seq++
		seq = s.seq
		s.store.add(record{
			at:      now.UnixNano(),
			seq:     seq,
			ch:      email,
			to:      strings.Join(in.toAddresses(), ","),
			subject: s.store.interned(in.subject()),
			tags:    s.store.interned(encodeTags(in.EmailTags)),
		})
	}
	latency := cfg.Latency
	s.mu.Unlock()

	sleep(r.Context(), latency)
	if code != "" {
		writeSESError(w, reqID, code, msg)
		return
	}
	writeSESJSON(w, reqID, struct{ MessageId string }{s.messageID(email, seq)})
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	reqID := s.nextRequestID()
	s.stats.GetAccount.Requests++
	s.stats.GetAccount.Accepted++
	type sendQuota struct {
		Max24HourSend, MaxSendRate, SentLast24Hours float64
	}
	out := struct {
		SendQuota                    sendQuota
		SendingEnabled               bool
		ProductionAccessEnabled      bool
		EnforcementStatus            string
		DedicatedIpAutoWarmupEnabled bool
	}{
		// -1 is how SES reports an unlimited daily quota; the server
		// enforces none.
		SendQuota:               sendQuota{-1, s.cfg.EmailRate, float64(s.stats.SendEmail.Accepted)},
		SendingEnabled:          !s.cfg.EmailPaused,
		ProductionAccessEnabled: !s.cfg.Sandbox,
		EnforcementStatus:       "HEALTHY",
	}
	latency := s.cfg.Latency
	s.mu.Unlock()
	sleep(r.Context(), latency)
	writeSESJSON(w, reqID, out)
}

// getEmailIdentity reports any identity as existing, verified for sending
// unless SenderUnverified.
func (s *Server) getEmailIdentity(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("identity")
	s.mu.Lock()
	reqID := s.nextRequestID()
	verified := !s.cfg.SenderUnverified
	latency := s.cfg.Latency
	s.mu.Unlock()
	kind, status := "DOMAIN", "SUCCESS"
	if strings.Contains(id, "@") {
		kind = "EMAIL_ADDRESS"
	}
	if !verified {
		status = "PENDING"
	}
	sleep(r.Context(), latency)
	writeSESJSON(w, reqID, map[string]any{"IdentityType": kind, "VerifiedForSendingStatus": verified, "VerificationStatus": status})
}

// getConfigurationSet reports any configuration set as existing, with
// sending enabled.
func (s *Server) getConfigurationSet(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	reqID := s.nextRequestID()
	latency := s.cfg.Latency
	s.mu.Unlock()
	sleep(r.Context(), latency)
	writeSESJSON(w, reqID, map[string]any{"ConfigurationSetName": r.PathValue("name"), "SendingOptions": map[string]bool{"SendingEnabled": true}})
}

// notVerified is SES's rejection of unverified identities, in the region
// the request was signed for.
func notVerified(r *http.Request, ids []string) string {
	region := "us-east-1"
	// Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ...
	if _, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
		if parts := strings.Split(cred, "/"); len(parts) > 2 {
			region = parts[2]
		}
	}
	return fmt.Sprintf("Email address is not verified. The following identities failed the check in region %s: %s",
		strings.ToUpper(region), strings.Join(ids, ", "))
}

// sesUnknown answers the SES operations the server does not implement in
// restJson1's error shape, so an SDK caller sees a clear API error instead
// of a deserialization failure.
func (s *Server) sesUnknown(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	reqID := s.nextRequestID()
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", "UnknownOperationException")
	w.Header().Set("X-Amzn-RequestId", reqID)
	w.WriteHeader(http.StatusNotFound)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"__type":  "UnknownOperationException",
		"message": fmt.Sprintf("faultserver implements SendEmail, GetAccount, GetEmailIdentity and GetConfigurationSet only, not %s %s", r.Method, r.URL.Path),
	})
}

func sesMessage(code string) string {
	if e, ok := sesErrors[code]; ok {
		return e.message
	}
	return code
}

func writeSESJSON(w http.ResponseWriter, reqID string, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-RequestId", reqID)
	_ = json.NewEncoder(w).Encode(v)
}

func writeSESError(w http.ResponseWriter, reqID, code, msg string) {
	e, ok := sesErrors[code]
	if !ok {
		e.status = http.StatusBadRequest
	}
	if msg == "" {
		msg = sesMessage(code)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.Header().Set("X-Amzn-RequestId", reqID)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}
