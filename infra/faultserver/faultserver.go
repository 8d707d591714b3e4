// Package faultserver is a test server that speaks the Amazon SES v2
// (restJson1) and Amazon SNS (awsQuery) wire protocols closely enough for
// the real aws-sdk-go-v2 clients, and injects the faults a sender has to
// survive: an account send rate enforced with 429s, latency, random
// throttling and 5xx, a paused account, an unverified sender or an account
// in the SES sandbox, and recipients or endpoints that always fail with a
// given error code.
//
// It exists because aws-ses-v2-local has no rate limit and no failure
// switch, so nothing local could show that the worker sends at the
// account's max send rate without being throttled, or what it does when
// SES or SNS misbehave. Point a client at it with BaseEndpoint, or with
// AWS_ENDPOINT_URL_SESV2 / AWS_ENDPOINT_URL_SNS set to URL().
//
// Routes:
//
//	POST /v2/email/outbound-emails   SES v2 SendEmail
//	GET  /v2/email/account           SES v2 GetAccount
//	GET  /v2/email/identities/{id}   SES v2 GetEmailIdentity
//	GET  /v2/email/configuration-sets/{name}  SES v2 GetConfigurationSet
//	POST /                           SNS (Action=Publish only)
//	GET  /_fault/stats               Stats as JSON
//	GET  /_fault/accepted            accepted messages as JSON Lines
//	GET  /_fault/config              the current Config as JSON
//	POST /_fault/config              replace the Config (JSON body)
//	POST /_fault/reset               clear counters and accepted messages
//
// The admin paths live under /_fault/, which neither protocol uses: SES v2
// paths all start with /v2/ and SNS only ever posts to /.
package faultserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is what the server injects. The zero value is a well-behaved,
// unlimited SES and SNS.
//
// Rates are enforced with a token bucket per channel: it refills at Rate
// tokens per second, holds at most ceil(Rate) tokens (at least 1) and starts
// full. A token bucket rather than a rolling window, because it matches how
// a paced client (golang.org/x/time/rate, as the worker uses) behaves: a
// client whose own limiter runs at <= Rate with a burst <= ceil(Rate) never
// sees a 429, however its sends are spread, while a burst of N concurrent
// requests gets about ceil(Rate) through plus whatever refills while the
// burst arrives. One SendEmail or Publish call takes one token, whatever its
// number of recipients (the project sends one recipient per call).
//
// Order of decisions for a send: a malformed request is refused
// (BadRequestException / InvalidParameter), then EmailPaused, then
// SenderUnverified and Sandbox, then the rate
// limit, then the random faults, then FailRecipients / FailEndpoints; only
// a request that passes all of them is accepted. Paused and malformed
// requests take no token; everything after the rate limit has taken one,
// as it would have on a real account.
type Config struct {
	// EmailRate is the SES max send rate per second; 0 means unlimited.
	// Over it SendEmail gets 429 TooManyRequestsException. GetAccount
	// reports it as SendQuota.MaxSendRate (0 when unlimited).
	EmailRate float64 `json:"emailRate"`
	// PushRate is the same for SNS Publish (429 Throttled).
	PushRate float64 `json:"pushRate"`
	// Latency is slept on every SES and SNS request (not the admin ones),
	// per request and concurrently, after the request has been decided and
	// before it is answered, as the network and the service would. A
	// client that gives up during the sleep has still had its message
	// accepted, like a real send whose response was lost. Over HTTP it is
	// a Go duration string ("30ms") or a number of nanoseconds.
	Latency time.Duration `json:"latency"`
	// Percentages (0-100) of sends answered with an injected 429 or 5xx
	// instead. Throttle + server error must not exceed 100.
	EmailThrottlePercent    float64 `json:"emailThrottlePercent"`
	EmailServerErrorPercent float64 `json:"emailServerErrorPercent"`
	PushThrottlePercent     float64 `json:"pushThrottlePercent"`
	PushServerErrorPercent  float64 `json:"pushServerErrorPercent"`
	// EmailPaused answers every SendEmail with SendingPausedException and
	// makes GetAccount report SendingEnabled=false.
	EmailPaused bool `json:"emailPaused"`
	// SenderUnverified answers every SendEmail with MessageRejected
	// "Email address is not verified. The following identities failed the
	// check in region …: <From>", as SES does when the sender identity is
	// not verified, and makes GetEmailIdentity report every identity
	// unverified.
	SenderUnverified bool `json:"senderUnverified"`
	// Sandbox is an account still in the SES sandbox that has verified no
	// recipient: every SendEmail gets the same MessageRejected, naming the
	// recipients' addresses, and GetAccount reports
	// ProductionAccessEnabled=false.
	Sandbox bool `json:"sandbox"`
	// FailRecipients maps an email address (compared case-insensitively,
	// in To, Cc or Bcc) to the SES error code returned for any message to
	// it, e.g. "MessageRejected". See SESErrorCodes.
	FailRecipients map[string]string `json:"failRecipients,omitempty"`
	// FailEndpoints maps an SNS TargetArn to the error code returned for
	// any Publish to it, e.g. "EndpointDisabled". The SDK's type names
	// ("EndpointDisabledException") are accepted too. See SNSErrorCodes.
	FailEndpoints map[string]string `json:"failEndpoints,omitempty"`
	// Seed drives the random faults. Each channel's n-th random draw is a
	// pure function of (Seed, n), so a run of sequential calls is
	// reproducible call by call, and a concurrent run is reproducible in
	// its counts. The draws restart when Seed changes and on Reset.
	Seed int64 `json:"seed"`
}

// Validate reports a config that SetConfig would have to correct: negative
// rates or latency, percentages outside 0-100 or adding up to more than
// 100, and error codes the server does not know.
func (c Config) Validate() error {
	var errs []error
	for name, v := range map[string]float64{"emailRate": c.EmailRate, "pushRate": c.PushRate} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			errs = append(errs, fmt.Errorf("%s must be a finite number >= 0, got %v", name, v))
		}
	}
	if c.Latency < 0 {
		errs = append(errs, fmt.Errorf("latency must be >= 0, got %v", c.Latency))
	}
	for _, p := range []struct {
		name              string
		throttle, servErr float64
	}{
		{"email", c.EmailThrottlePercent, c.EmailServerErrorPercent},
		{"push", c.PushThrottlePercent, c.PushServerErrorPercent},
	} {
		for _, v := range []float64{p.throttle, p.servErr} {
			if !(v >= 0 && v <= 100) {
				errs = append(errs, fmt.Errorf("%s percentages must be within 0-100, got %v", p.name, v))
			}
		}
		if p.throttle+p.servErr > 100 {
			errs = append(errs, fmt.Errorf("%s throttle + server error percent is %v, over 100", p.name, p.throttle+p.servErr))
		}
	}
	for addr, code := range c.FailRecipients {
		if _, ok := sesErrors[code]; !ok {
			errs = append(errs, fmt.Errorf("failRecipients[%q]: unknown SES error code %q (known: %s)", addr, code, strings.Join(SESErrorCodes(), ", ")))
		}
	}
	for arn, code := range c.FailEndpoints {
		if _, ok := snsErrors[snsCode(code)]; !ok {
			errs = append(errs, fmt.Errorf("failEndpoints[%q]: unknown SNS error code %q (known: %s)", arn, code, strings.Join(SNSErrorCodes(), ", ")))
		}
	}
	return errors.Join(errs...)
}

// normalized is c with every value SetConfig cannot use pulled into range
// and its maps copied, so a caller mutating its maps later cannot race the
// handlers.
func (c Config) normalized() Config {
	clamp := func(v, lo, hi float64) float64 {
		if math.IsNaN(v) {
			return lo
		}
		return math.Min(math.Max(v, lo), hi)
	}
	c.EmailRate = clamp(c.EmailRate, 0, math.MaxFloat64)
	c.PushRate = clamp(c.PushRate, 0, math.MaxFloat64)
	c.Latency = max(c.Latency, 0)
	c.EmailThrottlePercent = clamp(c.EmailThrottlePercent, 0, 100)
	c.EmailServerErrorPercent = clamp(c.EmailServerErrorPercent, 0, 100-c.EmailThrottlePercent)
	c.PushThrottlePercent = clamp(c.PushThrottlePercent, 0, 100)
	c.PushServerErrorPercent = clamp(c.PushServerErrorPercent, 0, 100-c.PushThrottlePercent)
	c.FailRecipients = maps.Clone(c.FailRecipients)
	c.FailEndpoints = maps.Clone(c.FailEndpoints)
	return c
}

// MarshalJSON writes Latency as a duration string, which is what a person
// or a script posting to /_fault/config wants to read and write.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config
	return json.Marshal(struct {
		plain
		Latency string `json:"latency"`
	}{plain(c), c.Latency.String()})
}

// UnmarshalJSON accepts Latency as a duration string or nanoseconds, and
// refuses unknown fields so a misspelt knob fails loudly instead of
// silently injecting nothing.
func (c *Config) UnmarshalJSON(b []byte) error {
	type plain Config
	aux := struct {
		*plain
		Latency json.RawMessage `json:"latency"`
	}{plain: (*plain)(c)}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&aux); err != nil {
		return err
	}
	if len(aux.Latency) == 0 || string(aux.Latency) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(aux.Latency, &s); err == nil {
		l, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		c.Latency = l
		return nil
	}
	var ns int64
	if err := json.Unmarshal(aux.Latency, &ns); err != nil {
		return fmt.Errorf("latency: want a duration string or nanoseconds: %w", err)
	}
	c.Latency = time.Duration(ns)
	return nil
}

// Stats counts requests per API since Start or the last Reset.
type Stats struct {
	SendEmail  APIStats `json:"sendEmail"`
	GetAccount APIStats `json:"getAccount"`
	Publish    APIStats `json:"publish"`
}

// APIStats is one API's counters. Every request is counted in Requests and
// in exactly one of Accepted, Throttled, Injected or Invalid.
type APIStats struct {
	Requests int64 `json:"requests"`
	Accepted int64 `json:"accepted"`
	// Throttled counts 429s from the rate limit alone; injected 429s are
	// in Injected, so a test can tell the client's pacing from the noise.
	Throttled int64 `json:"throttled"`
	// Injected counts configured faults by error code: random throttles
	// and 5xx, EmailPaused, SenderUnverified and Sandbox (as
	// MessageRejected), FailRecipients and FailEndpoints.
	Injected map[string]int64 `json:"injected,omitempty"`
	// Invalid counts requests refused as malformed, by error code.
	Invalid map[string]int64 `json:"invalid,omitempty"`
}

func (a APIStats) clone() APIStats {
	a.Injected = maps.Clone(a.Injected)
	a.Invalid = maps.Clone(a.Invalid)
	return a
}

func bump(m *map[string]int64, code string) {
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[code]++
}

// Message is one accepted send.
type Message struct {
	Channel string `json:"channel"` // "email" or "push"
	// To is the email's To addresses, comma-separated (one, for this
	// project's sends).
	To string `json:"to,omitempty"`
	// TargetARN is the Publish's TargetArn (its TopicArn or PhoneNumber
	// if it had none).
	TargetARN string            `json:"targetArn,omitempty"`
	Subject   string            `json:"subject,omitempty"`
	EmailTags map[string]string `json:"emailTags,omitempty"`
	MessageID string            `json:"messageId"`
	At        time.Time         `json:"at"`
}

// Server is a running fault server. Its methods are safe for concurrent use.
type Server struct {
	srv   *http.Server
	url   string
	nonce uint32
	done  chan struct{}

	inflight atomic.Int64 // handlers running, for Close

	mu       sync.Mutex
	cfg      Config
	failRcpt map[string]string // lower-cased address -> SES code
	failEP   map[string]string // TargetArn -> SNS wire code
	buckets  [2]bucket         // by channel
	draws    [2]uint64         // random draws taken, by channel
	seq      uint64            // message ids; never reset, so ids stay unique
	reqs     uint64            // request ids
	stats    Stats
	store    store
}

// Start serves on 127.0.0.1 on a free port.
func Start(cfg Config) (*Server, error) {
	return Listen("127.0.0.1:0", cfg)
}

// Listen serves on addr ("127.0.0.1:4599"), for a command that other
// processes must find at a known port.
func Listen(addr string, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	var nb [4]byte
	_, _ = rand.Read(nb[:])
	s := &Server{
		url:   "http://" + ln.Addr().String(),
		nonce: binary.BigEndian.Uint32(nb[:]),
		done:  make(chan struct{}),
	}
	s.SetConfig(cfg)
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// URL is the base endpoint for both SES and SNS clients.
func (s *Server) URL() string { return s.url }

// Close stops the server, letting requests in their latency sleep finish.
//
// http.Server.Shutdown alone waits up to 5 s for connections a client dialled
// but never sent a request on, which the SDK's transport leaves behind after
// a burst; so once no handler is running, the rest are simply closed.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.srv.Shutdown(ctx) }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-shut:
			break wait
		case <-tick.C:
			if s.inflight.Load() == 0 {
				err = s.srv.Close()
				<-shut
				break wait
			}
		}
	}
	<-s.done
	return err
}

// SetConfig replaces the config for the requests that arrive from now on.
// Out-of-range values are pulled into range (see Validate); an unknown error
// code in FailRecipients or FailEndpoints is answered with HTTP 400, which
// the SDK reports as a generic API error with that code.
func (s *Server) SetConfig(cfg Config) {
	cfg = cfg.normalized()
	failRcpt := make(map[string]string, len(cfg.FailRecipients))
	for addr, code := range cfg.FailRecipients {
		failRcpt[strings.ToLower(strings.TrimSpace(addr))] = code
	}
	failEP := make(map[string]string, len(cfg.FailEndpoints))
	for arn, code := range cfg.FailEndpoints {
		failEP[arn] = snsCode(code)
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if cfg.Seed != s.cfg.Seed {
		s.draws = [2]uint64{}
	}
	s.cfg = cfg
	s.failRcpt, s.failEP = failRcpt, failEP
	s.buckets[email].setRate(cfg.EmailRate, now)
	s.buckets[push].setRate(cfg.PushRate, now)
}

// Config returns the current config.
func (s *Server) Config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.normalized()
}

// Reset clears the counters and the accepted messages, refills the rate
// buckets and restarts the random faults, as if the server had just started
// with its current config. Message ids keep counting, so they stay unique.
func (s *Server) Reset() {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{}
	s.store = store{}
	s.draws = [2]uint64{}
	for i := range s.buckets {
		s.buckets[i].refillFull(now)
	}
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		SendEmail:  s.stats.SendEmail.clone(),
		GetAccount: s.stats.GetAccount.clone(),
		Publish:    s.stats.Publish.clone(),
	}
}

// Accepted returns every accepted message since Start or Reset, in the order
// they were accepted.
func (s *Server) Accepted() []Message {
	snap := s.snapshot()
	out := make([]Message, 0, snap.n)
	snap.each(func(r *record) { out = append(out, s.message(r)) })
	return out
}

func (s *Server) snapshot() store {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store.snapshot()
}

func (s *Server) message(r *record) Message {
	m := Message{Channel: r.ch.String(), Subject: r.subject, MessageID: s.messageID(r.ch, r.seq), At: time.Unix(0, r.at)}
	if r.ch == email {
		m.To, m.EmailTags = r.to, decodeTags(r.tags)
	} else {
		m.TargetARN = r.to
	}
	return m
}

// messageID is UUID-shaped, as both services' ids are, and unique across
// servers through the random nonce, so ids recorded in a ledger by one run
// never collide with another's.
func (s *Server) messageID(ch channel, seq uint64) string {
	return fmt.Sprintf("%08x-%04x-4000-8%03x-%012x", s.nonce, uint16(seq>>48), uint8(ch), seq&(1<<48-1))
}

// nextRequestID is called with s.mu held.
func (s *Server) nextRequestID() string {
	s.reqs++
	n := s.reqs
	return fmt.Sprintf("%08x-%04x-4000-9000-%012x", s.nonce, uint16(n>>48), n&(1<<48-1))
}

// draw is the channel's next random number in [0, 100): splitmix64 of
// (seed, n), so it needs no shared generator state beyond a counter.
// Called with s.mu held.
func (s *Server) draw(ch channel) float64 {
	n := s.draws[ch]
	s.draws[ch]++
	z := uint64(s.cfg.Seed) + uint64(ch+1)*0xD1B54A32D192ED03 + (n+1)*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	z ^= z >> 31
	return float64(z>>11) / (1 << 53) * 100
}

// sleep waits out the configured latency, or until the client has gone.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/email/outbound-emails", s.sendEmail)
	mux.HandleFunc("GET /v2/email/account", s.getAccount)
	mux.HandleFunc("GET /v2/email/identities/{identity}", s.getEmailIdentity)
	mux.HandleFunc("GET /v2/email/configuration-sets/{name}", s.getConfigurationSet)
	mux.HandleFunc("/v2/", s.sesUnknown)
	mux.HandleFunc("POST /{$}", s.sns)
	mux.HandleFunc("GET /_fault/stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Stats()) })
	mux.HandleFunc("GET /_fault/accepted", s.adminAccepted)
	mux.HandleFunc("GET /_fault/config", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Config()) })
	mux.HandleFunc("POST /_fault/config", s.adminConfig)
	mux.HandleFunc("POST /_fault/reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		mux.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) adminConfig(w http.ResponseWriter, r *http.Request) {
	var cfg Config
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&cfg); err != nil {
		http.Error(w, "config: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := cfg.Validate(); err != nil {
		http.Error(w, "config: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.SetConfig(cfg)
	writeJSON(w, s.Config())
}

// adminAccepted streams from a snapshot, so listing 100,000 messages neither
// holds the lock nor builds them all in memory at once.
func (s *Server) adminAccepted(w http.ResponseWriter, r *http.Request) {
	snap := s.snapshot()
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	snap.each(func(rec *record) { _ = enc.Encode(s.message(rec)) })
	_ = bw.Flush()
}
