package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"time"
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
	mux.Handle("/", httputil.NewSingleHostReverseProxy(target))
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
