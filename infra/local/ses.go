package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// The functions reach SES v2 at one endpoint (AWS_ENDPOINT_URL_SESV2), but
// no one local server answers all they call: aws-ses-v2-local sends mail
// and reports the account, yet knows no identities or configuration sets
// (GetEmailIdentity, GetConfigurationSet, which preflight reads), and
// moto's SES v2 reports every identity unverified. So the stack's SES
// endpoint is a front, served by the mapper: it answers those two reads as
// an account that has verified the sender would, and passes everything
// else to aws-ses-v2-local.

// ServeSES serves the SES front at s.SESEndpoint until ctx ends.
func (s *State) ServeSES(ctx context.Context) error {
	target, err := url.Parse(s.SESURL)
	if err != nil {
		return fmt.Errorf("serve the SES front: %w", err)
	}
	l, err := net.Listen("tcp", strings.TrimPrefix(s.SESEndpoint, "http://"))
	if err != nil {
		return fmt.Errorf("serve the SES front: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/email/identities/{identity}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("identity")
		if !slices.Contains(s.SESIdentities, id) {
			sesError(w, http.StatusNotFound, "NotFoundException", fmt.Sprintf("Email identity %s does not exist.", id))
			return
		}
		kind := "DOMAIN"
		if strings.Contains(id, "@") {
			kind = "EMAIL_ADDRESS"
		}
		sesJSON(w, map[string]any{"IdentityType": kind, "VerifiedForSendingStatus": true, "VerificationStatus": "SUCCESS",
			"FeedbackForwardingStatus": true})
	})
	mux.HandleFunc("GET /v2/email/configuration-sets/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if !slices.Contains(s.ConfigurationSets, name) {
			sesError(w, http.StatusNotFound, "NotFoundException", fmt.Sprintf("Configuration set %s does not exist.", name))
			return
		}
		sesJSON(w, map[string]any{"ConfigurationSetName": name, "SendingOptions": map[string]bool{"SendingEnabled": true}})
	})
	proxy := httputil.NewSingleHostReverseProxy(target)
	mux.Handle("/", proxy)
	mux.HandleFunc("POST /v2/email/outbound-emails", func(w http.ResponseWriter, r *http.Request) {
		s.sendThroughSimulator(ctx, proxy, w, r)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return nil
}

func sesJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// sesError is restJson1's error shape, which the SDK maps to its typed
// errors by the X-Amzn-ErrorType header.
func sesError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

// The mailbox simulator: SES answers mail to these addresses (which work
// in any account and count against no quota) with the matching events, so
// the same scenario runs locally and, after a deploy, on AWS. Locally the
// front publishes those events on the default bus as SES would, for a
// configuration set of the template; mail to any other address gets no
// event, as if its receiving server were still silent.
const simulatorDomain = "@simulator.amazonses.com"

// sendThroughSimulator passes SendEmail on to aws-ses-v2-local and then,
// for a simulator address, publishes SES's events for the message.
func (s *State) sendThroughSimulator(ctx context.Context, proxy *httputil.ReverseProxy, w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		sesError(w, http.StatusBadRequest, "BadRequestException", "unreadable request")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var in struct {
		Destination          struct{ ToAddresses []string }
		EmailTags            []struct{ Name, Value string }
		ConfigurationSetName string
	}
	_ = json.Unmarshal(body, &in)
	rec := &recorder{ResponseWriter: w}
	proxy.ServeHTTP(rec, r)
	var out struct{ MessageId string }
	if rec.status >= 300 || json.Unmarshal(rec.body.Bytes(), &out) != nil || out.MessageId == "" ||
		!slices.Contains(s.ConfigurationSets, in.ConfigurationSetName) {
		return
	}
	tags := map[string][]string{"ses:configuration-set": {in.ConfigurationSetName}}
	for _, t := range in.EmailTags {
		tags[t.Name] = []string{t.Value}
	}
	for _, to := range in.Destination.ToAddresses {
		events := SimulatorEvents(to, out.MessageId, tags, time.Now().UTC())
		if len(events) == 0 {
			continue
		}
		// After the answer, as SES reports later than it accepts.
		go func() {
			if err := s.PutDefaultBusEvents(context.WithoutCancel(ctx), "aws.ses", events); err != nil && s.log != nil {
				s.log.Error("simulator events not published", "messageId", out.MessageId, "error", err)
			}
		}()
	}
}

// recorder keeps a copy of the response it passes on.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// SimulatorEvent is one SES event: its EventBridge detail type and detail.
type SimulatorEvent struct {
	DetailType string
	Detail     map[string]any
}

// SimulatorEvents are the events SES publishes for a message to a mailbox
// simulator address, in the order it sends them: success@ and ooto@ are
// delivered, bounce@ bounces for good, complaint@ is delivered and then
// complained of, suppressionlist@ is not sent, the address being on the
// suppression list. Other addresses get none.
func SimulatorEvents(to, messageID string, tags map[string][]string, at time.Time) []SimulatorEvent {
	local, ok := strings.CutSuffix(strings.ToLower(to), simulatorDomain)
	if !ok {
		return nil
	}
	mail := map[string]any{"messageId": messageID, "timestamp": at.Format(time.RFC3339Nano), "destination": []string{to}, "tags": tags}
	ts := at.Format(time.RFC3339Nano)
	delivered := SimulatorEvent{"Email Delivered", map[string]any{"eventType": "Delivery", "mail": mail,
		"delivery": map[string]any{"timestamp": ts, "recipients": []string{to}, "smtpResponse": "250 2.6.0 Message received"}}}
	bounce := func(kind, sub string) SimulatorEvent {
		return SimulatorEvent{"Email Bounced", map[string]any{"eventType": "Bounce", "mail": mail,
			"bounce": map[string]any{"bounceType": kind, "bounceSubType": sub, "timestamp": ts,
				"bouncedRecipients": []map[string]string{{"emailAddress": to, "action": "failed", "status": "5.1.1"}}}}}
	}
	switch strings.SplitN(local, "+", 2)[0] {
	case "success", "ooto":
		return []SimulatorEvent{delivered}
	case "bounce":
		return []SimulatorEvent{bounce("Permanent", "General")}
	case "suppressionlist":
		return []SimulatorEvent{bounce("Permanent", "OnAccountSuppressionList")}
	case "complaint":
		return []SimulatorEvent{delivered, {"Email Complaint Received", map[string]any{"eventType": "Complaint", "mail": mail,
			"complaint": map[string]any{"timestamp": ts, "complaintFeedbackType": "abuse",
				"complainedRecipients": []map[string]string{{"emailAddress": to}}}}}}
	}
	return nil
}

// PutDefaultBusEvents publishes events from source on the default bus, one
// at a time, in order.
func (s *State) PutDefaultBusEvents(ctx context.Context, source string, events []SimulatorEvent) error {
	eb := eventbridge.NewFromConfig(s.Config())
	for _, e := range events {
		detail, err := json.Marshal(e.Detail)
		if err != nil {
			return err
		}
		out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			Source: aws.String(source), DetailType: aws.String(e.DetailType), Detail: aws.String(string(detail)),
		}}})
		if err != nil {
			return fmt.Errorf("put %s: %w", e.DetailType, err)
		}
		if out.FailedEntryCount > 0 {
			return fmt.Errorf("put %s: %s", e.DetailType, aws.ToString(out.Entries[0].ErrorMessage))
		}
	}
	return nil
}
