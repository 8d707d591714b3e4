package faultserver

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"
)

const endpointARN = "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/3f1c9a"

func TestAcceptedMessages(t *testing.T) {
	srv := start(t, Config{})
	ses, pub := clients(srv)
	tags := map[string]string{"incident": "INC-1", "notice": "n0-update-app", "template": "update-app"}

	ids := map[string]bool{}
	for _, to := range []string{"ana@example.com", "bo@example.com"} {
		out, err := ses.SendEmail(bg, emailTo(to, tags))
		if err != nil {
			t.Fatalf("SendEmail(%s): %v", to, err)
		}
		ids[aws.ToString(out.MessageId)] = true
	}
	in := publishTo(endpointARN)
	in.Subject = aws.String("Security notice")
	out, err := pub.Publish(bg, in)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	ids[aws.ToString(out.MessageId)] = true
	if len(ids) != 3 || ids[""] {
		t.Fatalf("message ids not unique and non-empty: %v", ids)
	}

	got := srv.Accepted()
	if len(got) != 3 {
		t.Fatalf("Accepted() has %d messages, want 3: %+v", len(got), got)
	}
	want := []Message{
		{Channel: "email", To: "ana@example.com", Subject: "Action needed: update your app", EmailTags: tags},
		{Channel: "email", To: "bo@example.com", Subject: "Action needed: update your app", EmailTags: tags},
		{Channel: "push", TargetARN: endpointARN, Subject: "Security notice"},
	}
	for i, m := range got {
		if !ids[m.MessageID] {
			t.Errorf("message %d: id %q is not one the client was given", i, m.MessageID)
		}
		if m.At.IsZero() || time.Since(m.At) > time.Minute {
			t.Errorf("message %d: At = %v", i, m.At)
		}
		m.MessageID, m.At = "", time.Time{}
		if !reflect.DeepEqual(m, want[i]) {
			t.Errorf("message %d = %+v, want %+v", i, m, want[i])
		}
	}
	st := srv.Stats()
	if st.SendEmail.Accepted != 2 || st.SendEmail.Requests != 2 || st.Publish.Accepted != 1 {
		t.Errorf("stats = %+v", st)
	}
}

// errCase is one fault and how the SDK must see it.
type errCase struct {
	name    string
	cfg     Config
	prime   int // successful calls first, to empty a rate bucket
	to      string
	mutate  func(*sesv2.SendEmailInput)
	mutateP func(*sns.PublishInput)
	typed   func(error) bool
	status  int
	code    string
	message string
	// retryable is what the SDK's standard retryer decides, so the project
	// knows which faults the SDK would retry by itself if allowed to.
	retryable bool
	// counted is where the fault must show in Stats: "throttled",
	// "injected" or "invalid".
	counted string
}

func TestSESErrors(t *testing.T) {
	const to = "user@example.com"
	cases := []errCase{
		{name: "over the send rate", cfg: Config{EmailRate: 0.001}, prime: 1,
			typed: isA[*sestypes.TooManyRequestsException](), status: 429, code: "TooManyRequestsException",
			message: "Maximum sending rate exceeded.", retryable: true, counted: "throttled"},
		{name: "injected throttle", cfg: Config{EmailThrottlePercent: 100},
			typed: isA[*sestypes.TooManyRequestsException](), status: 429, code: "TooManyRequestsException",
			message: "Maximum sending rate exceeded.", retryable: true, counted: "injected"},
		{name: "sending paused", cfg: Config{EmailPaused: true},
			typed: isA[*sestypes.SendingPausedException](), status: 400, code: "SendingPausedException", counted: "injected"},
		{name: "account suspended", cfg: Config{FailRecipients: map[string]string{to: "AccountSuspendedException"}},
			typed: isA[*sestypes.AccountSuspendedException](), status: 400, code: "AccountSuspendedException", counted: "injected"},
		{name: "recipient rejected, address matched case-insensitively",
			cfg:   Config{FailRecipients: map[string]string{"User@Example.COM": "MessageRejected"}},
			typed: isA[*sestypes.MessageRejected](), status: 400, code: "MessageRejected", counted: "injected"},
		{name: "sender identity not verified", cfg: Config{SenderUnverified: true},
			typed: isA[*sestypes.MessageRejected](), status: 400, code: "MessageRejected",
			message: "Email address is not verified. The following identities failed the check in region US-EAST-1: security@example.com", counted: "injected"},
		{name: "sandbox, recipient not verified", cfg: Config{Sandbox: true},
			typed: isA[*sestypes.MessageRejected](), status: 400, code: "MessageRejected",
			message: "Email address is not verified. The following identities failed the check in region US-EAST-1: " + to, counted: "injected"},
		{name: "configured bad request", cfg: Config{FailRecipients: map[string]string{to: "BadRequestException"}},
			typed: isA[*sestypes.BadRequestException](), status: 400, code: "BadRequestException", counted: "injected"},
		{name: "daily quota", cfg: Config{FailRecipients: map[string]string{to: "LimitExceededException"}},
			typed: isA[*sestypes.LimitExceededException](), status: 400, code: "LimitExceededException", retryable: true, counted: "injected"},
		{name: "address without a domain", to: "user",
			typed: isA[*sestypes.BadRequestException](), status: 400, code: "BadRequestException",
			message: "Missing final '@domain'", counted: "invalid"},
		{name: "tag outside SES's character set",
			mutate: func(in *sesv2.SendEmailInput) {
				in.EmailTags = []sestypes.MessageTag{{Name: aws.String("notice"), Value: aws.String("n0.update")}}
			},
			typed: isA[*sestypes.BadRequestException](), status: 400, code: "BadRequestException", counted: "invalid"},
		{name: "injected 5xx is unmodeled InternalFailure", cfg: Config{EmailServerErrorPercent: 100},
			typed: isA[*smithy.GenericAPIError](), status: 500, code: "InternalFailure", retryable: true, counted: "injected"},
		{name: "modeled 5xx", cfg: Config{FailRecipients: map[string]string{to: "InternalServiceErrorException"}},
			typed: isA[*sestypes.InternalServiceErrorException](), status: 500, code: "InternalServiceErrorException", retryable: true, counted: "injected"},
		{name: "503", cfg: Config{FailRecipients: map[string]string{to: "ServiceUnavailable"}},
			typed: isA[*smithy.GenericAPIError](), status: 503, code: "ServiceUnavailable", retryable: true, counted: "injected"},
	}
	retryer := retry.NewStandard()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t, tc.cfg)
			ses, _ := clients(srv)
			rcpt := tc.to
			if rcpt == "" {
				rcpt = to
			}
			for range tc.prime {
				if _, err := ses.SendEmail(bg, emailTo(rcpt, nil)); err != nil {
					t.Fatalf("priming send: %v", err)
				}
			}
			in := emailTo(rcpt, nil)
			if tc.mutate != nil {
				tc.mutate(in)
			}
			_, err := ses.SendEmail(bg, in)
			checkAPIError(t, err, tc, retryer)
			checkCounted(t, srv.Stats().SendEmail, tc)
			if n := len(srv.Accepted()); n != tc.prime {
				t.Errorf("Accepted() has %d messages, want %d", n, tc.prime)
			}
		})
	}
}

func TestSNSErrors(t *testing.T) {
	cases := []errCase{
		{name: "over the push rate", cfg: Config{PushRate: 0.001}, prime: 1,
			typed: isA[*snstypes.ThrottledException](), status: 429, code: "Throttled", message: "Rate exceeded", counted: "throttled"},
		{name: "injected throttle", cfg: Config{PushThrottlePercent: 100},
			typed: isA[*snstypes.ThrottledException](), status: 429, code: "Throttled", counted: "injected"},
		{name: "endpoint disabled", cfg: Config{FailEndpoints: map[string]string{endpointARN: "EndpointDisabled"}},
			typed: isA[*snstypes.EndpointDisabledException](), status: 400, code: "EndpointDisabled", counted: "injected"},
		{name: "configured by the SDK's type name", cfg: Config{FailEndpoints: map[string]string{endpointARN: "EndpointDisabledException"}},
			typed: isA[*snstypes.EndpointDisabledException](), status: 400, code: "EndpointDisabled", counted: "injected"},
		{name: "invalid parameter", cfg: Config{FailEndpoints: map[string]string{endpointARN: "InvalidParameter"}},
			typed: isA[*snstypes.InvalidParameterException](), status: 400, code: "InvalidParameter", counted: "injected"},
		{name: "endpoint not found", cfg: Config{FailEndpoints: map[string]string{endpointARN: "NotFoundException"}},
			typed: isA[*snstypes.NotFoundException](), status: 404, code: "NotFound", counted: "injected"},
		{name: "injected 5xx", cfg: Config{PushServerErrorPercent: 100},
			typed: isA[*snstypes.InternalErrorException](), status: 500, code: "InternalError", retryable: true, counted: "injected"},
		{name: "json structure without default",
			mutateP: func(in *sns.PublishInput) { in.Message = aws.String(`{"GCM":"{}"}`) },
			typed:   isA[*snstypes.InvalidParameterException](), status: 400, code: "InvalidParameter",
			message: "Invalid parameter: Message Structure - No default entry in JSON message body", counted: "invalid"},
		{name: "target is not an ARN", to: "endpoint-1",
			typed: isA[*snstypes.InvalidParameterException](), status: 400, code: "InvalidParameter", counted: "invalid"},
	}
	retryer := retry.NewStandard()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := start(t, tc.cfg)
			_, pub := clients(srv)
			target := tc.to
			if target == "" {
				target = endpointARN
			}
			for range tc.prime {
				if _, err := pub.Publish(bg, publishTo(target)); err != nil {
					t.Fatalf("priming publish: %v", err)
				}
			}
			in := publishTo(target)
			if tc.mutateP != nil {
				tc.mutateP(in)
			}
			_, err := pub.Publish(bg, in)
			checkAPIError(t, err, tc, retryer)
			checkCounted(t, srv.Stats().Publish, tc)
		})
	}
}

func checkAPIError(t *testing.T, err error, tc errCase, retryer aws.RetryerV2) {
	t.Helper()
	if err == nil {
		t.Fatal("call succeeded, want an error")
	}
	if !tc.typed(err) {
		t.Errorf("error %T (%v) is not the expected type", errors.Unwrap(err), err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != tc.status {
		t.Errorf("error %v: want an HTTP response error with status %d", err, tc.status)
	} else if re.RequestID == "" {
		t.Errorf("no request id in %v", err)
	}
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != tc.code {
		t.Errorf("error %v: want API error code %q", err, tc.code)
	} else if tc.message != "" && !strings.HasPrefix(api.ErrorMessage(), tc.message) {
		t.Errorf("message %q, want it to start with %q", api.ErrorMessage(), tc.message)
	}
	if got := retryer.IsErrorRetryable(err); got != tc.retryable {
		t.Errorf("standard retryer: retryable = %v, want %v", got, tc.retryable)
	}
}

func checkCounted(t *testing.T, st APIStats, tc errCase) {
	t.Helper()
	var n int64
	switch tc.counted {
	case "throttled":
		n = st.Throttled
	case "injected":
		n = st.Injected[tc.code]
	case "invalid":
		n = st.Invalid[tc.code]
	}
	if n != 1 || st.Requests != int64(tc.prime)+1 || st.Accepted != int64(tc.prime) {
		t.Errorf("stats %+v: want one %s %s", st, tc.counted, tc.code)
	}
}

// TestRateBurst: a burst far over the rate gets about one second's worth
// through (the bucket's ceil(rate) tokens) and 429s for the rest.
func TestRateBurst(t *testing.T) {
	const rate, burst = 50, 200
	srv := start(t, Config{EmailRate: rate})
	ses, _ := clients(srv)
	warmConnections(t, ses, burst)

	var wg sync.WaitGroup
	results := make([]error, burst)
	release := make(chan struct{})
	for i := range burst {
		wg.Go(func() {
			<-release
			_, results[i] = ses.SendEmail(bg, emailTo(fmt.Sprintf("u%d@example.com", i), nil))
		})
	}
	began := time.Now()
	close(release)
	wg.Wait()
	spread := time.Since(began)

	var ok, throttled int
	for _, err := range results {
		switch {
		case err == nil:
			ok++
		case isA[*sestypes.TooManyRequestsException]()(err):
			throttled++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	// The bucket refills while the burst arrives; normally that is a few
	// tokens, but a loaded machine may take longer to deliver 200 requests,
	// so the bound grows with the time the burst actually took.
	upper := rate + max(5, int(spread.Seconds()*rate)+1)
	t.Logf("burst of %d over %v: %d accepted, %d throttled (upper bound %d)", burst, spread, ok, throttled, upper)
	if ok < rate-5 || ok > upper {
		t.Errorf("accepted %d of the burst, want %d..%d", ok, rate-5, upper)
	}
	if ok+throttled != burst {
		t.Errorf("accepted %d + throttled %d != %d", ok, throttled, burst)
	}
	if st := srv.Stats().SendEmail; st.Throttled != int64(throttled) || st.Accepted != int64(ok) {
		t.Errorf("stats %+v disagree with the client: %d accepted, %d throttled", st, ok, throttled)
	}
}

// warmConnections opens n keep-alive connections with calls the rate limit
// does not count, so a burst measures the server, not TCP dials.
func warmConnections(t *testing.T, ses *sesv2.Client, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := ses.GetAccount(bg, &sesv2.GetAccountInput{}); err != nil {
				t.Errorf("warm-up: %v", err)
			}
		})
	}
	wg.Wait()
}

// TestRatePacing: after the bucket is emptied, a client pacing itself
// under the rate is never throttled, and one pacing far over it is.
func TestRatePacing(t *testing.T) {
	const rate = 50
	srv := start(t, Config{EmailRate: rate})
	ses, _ := clients(srv)

	drain := func() {
		for i := 0; ; i++ {
			_, err := ses.SendEmail(bg, emailTo("drain@example.com", nil))
			if isA[*sestypes.TooManyRequestsException]()(err) {
				break
			}
			if err != nil || i > 10*rate {
				t.Fatalf("could not empty the bucket: %v", err)
			}
		}
	}
	pace := func(perSecond float64, d time.Duration) (sent, throttled int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		tick := time.NewTicker(time.Duration(float64(time.Second) / perSecond))
		defer tick.Stop()
		for end := time.Now().Add(d); time.Now().Before(end); {
			<-tick.C
			sent++
			wg.Go(func() {
				_, err := ses.SendEmail(bg, emailTo("paced@example.com", nil))
				if err != nil {
					mu.Lock()
					defer mu.Unlock()
					throttled++
					if !isA[*sestypes.TooManyRequestsException]()(err) {
						t.Errorf("unexpected error: %v", err)
					}
				}
			})
		}
		wg.Wait()
		return sent, throttled
	}

	drain()
	// A little refill, so the first paced send does not depend on how soon
	// after the drain it arrives.
	time.Sleep(60 * time.Millisecond)
	if sent, throttled := pace(40, time.Second); throttled != 0 {
		t.Errorf("pacing at 40/s under a 50/s rate: %d of %d sends throttled", throttled, sent)
	}

	drain()
	if sent, throttled := pace(200, 500*time.Millisecond); throttled == 0 {
		t.Errorf("pacing at 200/s over a 50/s rate: none of %d sends throttled", sent)
	} else {
		t.Logf("pacing at 200/s over a 50/s rate: %d of %d sends throttled", throttled, sent)
	}
}

// TestPercentFaults: random faults come at the configured share and the
// same Seed gives the same faults, call by call.
func TestPercentFaults(t *testing.T) {
	const calls = 1000
	cfg := Config{EmailThrottlePercent: 10, EmailServerErrorPercent: 5, Seed: 42}
	srv := start(t, cfg)
	ses, _ := clients(srv)
	run := func() string {
		var b strings.Builder
		for i := range calls {
			_, err := ses.SendEmail(bg, emailTo(fmt.Sprintf("u%d@example.com", i), nil))
			b.WriteByte(outcome(err))
		}
		return b.String()
	}

	first := run()
	throttled, failed := strings.Count(first, "T"), strings.Count(first, "5")
	t.Logf("seed 42: %d throttled, %d 5xx of %d", throttled, failed, calls)
	if throttled < 70 || throttled > 130 || failed < 25 || failed > 75 || strings.Count(first, "?") > 0 {
		t.Errorf("seed 42: %d throttled (want ~100), %d 5xx (want ~50), %d other", throttled, failed, strings.Count(first, "?"))
	}
	if st := srv.Stats().SendEmail; st.Injected["TooManyRequestsException"] != int64(throttled) || st.Injected["InternalFailure"] != int64(failed) {
		t.Errorf("stats %+v disagree with the client", st)
	}

	srv.Reset()
	if again := run(); again != first {
		t.Error("the same seed after Reset gave different faults")
	}

	cfg.Seed = 43
	srv.SetConfig(cfg)
	if other := run(); other == first {
		t.Error("seed 43 gave the same faults as seed 42")
	}

	// Concurrent callers get the same draws in some order: same counts.
	cfg.Seed = 42
	srv.SetConfig(cfg)
	srv.Reset()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < calls; i += 8 {
				_, _ = ses.SendEmail(bg, emailTo(fmt.Sprintf("u%d@example.com", i), nil))
			}
		})
	}
	wg.Wait()
	if st := srv.Stats().SendEmail; st.Injected["TooManyRequestsException"] != int64(throttled) || st.Injected["InternalFailure"] != int64(failed) {
		t.Errorf("concurrent run with seed 42: %v, want %d throttled and %d 5xx", st.Injected, throttled, failed)
	}
}

func TestPushPercentFaults(t *testing.T) {
	const calls = 1000
	srv := start(t, Config{PushThrottlePercent: 20, PushServerErrorPercent: 10, Seed: 7})
	_, pub := clients(srv)
	var b strings.Builder
	for range calls {
		_, err := pub.Publish(bg, publishTo(endpointARN))
		b.WriteByte(outcome(err))
	}
	s := b.String()
	throttled, failed := strings.Count(s, "T"), strings.Count(s, "5")
	t.Logf("push seed 7: %d throttled, %d 5xx of %d", throttled, failed, calls)
	if throttled < 150 || throttled > 250 || failed < 60 || failed > 140 || strings.Count(s, "?") > 0 {
		t.Errorf("%d throttled (want ~200), %d 5xx (want ~100), %d other", throttled, failed, strings.Count(s, "?"))
	}
}

func TestSetConfigAtRunTime(t *testing.T) {
	srv := start(t, Config{EmailRate: 14})
	ses, pub := clients(srv)
	account := func() *sesv2.GetAccountOutput {
		t.Helper()
		out, err := ses.GetAccount(bg, &sesv2.GetAccountInput{})
		if err != nil {
			t.Fatalf("GetAccount: %v", err)
		}
		return out
	}
	send := func() error {
		_, err := ses.SendEmail(bg, emailTo("user@example.com", nil))
		return err
	}

	if err := send(); err != nil {
		t.Fatalf("before pausing: %v", err)
	}
	srv.SetConfig(Config{EmailRate: 14, EmailPaused: true})
	if err := send(); !isA[*sestypes.SendingPausedException]()(err) {
		t.Errorf("paused: got %v, want SendingPausedException", err)
	}
	if a := account(); a.SendingEnabled {
		t.Error("paused: GetAccount reports SendingEnabled")
	}

	srv.SetConfig(Config{EmailRate: 28, FailEndpoints: map[string]string{endpointARN: "EndpointDisabled"}})
	if err := send(); err != nil {
		t.Errorf("unpaused: %v", err)
	}
	if a := account(); !a.SendingEnabled || a.SendQuota.MaxSendRate != 28 {
		t.Errorf("unpaused: SendingEnabled %v, MaxSendRate %v, want true, 28", a.SendingEnabled, a.SendQuota.MaxSendRate)
	}
	if _, err := pub.Publish(bg, publishTo(endpointARN)); !isA[*snstypes.EndpointDisabledException]()(err) {
		t.Errorf("endpoint disabled at run time: got %v", err)
	}

	// The server keeps its own copy: changing the caller's map changes nothing.
	cfg := Config{FailRecipients: map[string]string{}}
	srv.SetConfig(cfg)
	cfg.FailRecipients["user@example.com"] = "MessageRejected"
	if err := send(); err != nil {
		t.Errorf("after mutating the caller's map: %v", err)
	}
}

func TestGetAccount(t *testing.T) {
	srv := start(t, Config{EmailRate: 14})
	ses, _ := clients(srv)
	for range 3 {
		if _, err := ses.SendEmail(bg, emailTo("user@example.com", nil)); err != nil {
			t.Fatal(err)
		}
	}
	out, err := ses.GetAccount(bg, &sesv2.GetAccountInput{})
	if err != nil {
		t.Fatal(err)
	}
	q := out.SendQuota
	if q == nil || q.MaxSendRate != 14 || q.SentLast24Hours != 3 || q.Max24HourSend != -1 {
		t.Errorf("SendQuota = %+v, want MaxSendRate 14, SentLast24Hours 3, Max24HourSend -1", q)
	}
	if !out.SendingEnabled || !out.ProductionAccessEnabled || aws.ToString(out.EnforcementStatus) != "HEALTHY" {
		t.Errorf("account = SendingEnabled %v, ProductionAccessEnabled %v, EnforcementStatus %q",
			out.SendingEnabled, out.ProductionAccessEnabled, aws.ToString(out.EnforcementStatus))
	}
	if st := srv.Stats().GetAccount; st.Requests != 1 || st.Accepted != 1 {
		t.Errorf("GetAccount stats = %+v", st)
	}
}

// TestIdentitiesAndSandbox: what preflight reads follows SenderUnverified
// and Sandbox.
func TestIdentitiesAndSandbox(t *testing.T) {
	for _, cfg := range []Config{{}, {SenderUnverified: true}, {Sandbox: true}} {
		srv := start(t, cfg)
		ses, _ := clients(srv)
		for _, id := range []string{"security@example.com", "example.com"} {
			out, err := ses.GetEmailIdentity(bg, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(id)})
			if err != nil {
				t.Fatalf("%+v: GetEmailIdentity(%s): %v", cfg, id, err)
			}
			if out.VerifiedForSendingStatus == cfg.SenderUnverified {
				t.Errorf("%+v: %s VerifiedForSendingStatus = %v", cfg, id, out.VerifiedForSendingStatus)
			}
		}
		cs, err := ses.GetConfigurationSet(bg, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String("breachnotify")})
		if err != nil || aws.ToString(cs.ConfigurationSetName) != "breachnotify" || cs.SendingOptions == nil || !cs.SendingOptions.SendingEnabled {
			t.Errorf("%+v: GetConfigurationSet = %+v, %v", cfg, cs, err)
		}
		acct, err := ses.GetAccount(bg, &sesv2.GetAccountInput{})
		if err != nil || acct.ProductionAccessEnabled == cfg.Sandbox {
			t.Errorf("%+v: ProductionAccessEnabled = %v (%v)", cfg, acct != nil && acct.ProductionAccessEnabled, err)
		}
	}
}

// TestLatency checks the floor only: every call waits at least Latency.
// That the sleeps overlap is what BenchmarkSendEmailLatency30ms measures.
func TestLatency(t *testing.T) {
	const latency = 40 * time.Millisecond
	srv := start(t, Config{Latency: latency})
	ses, pub := clients(srv)
	for name, call := range map[string]func() error{
		"SendEmail":  func() error { _, err := ses.SendEmail(bg, emailTo("user@example.com", nil)); return err },
		"GetAccount": func() error { _, err := ses.GetAccount(bg, &sesv2.GetAccountInput{}); return err },
		"Publish":    func() error { _, err := pub.Publish(bg, publishTo(endpointARN)); return err },
	} {
		began := time.Now()
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if took := time.Since(began); took < latency {
			t.Errorf("%s took %v, less than the %v latency", name, took, latency)
		}
	}
}

// TestUnsupportedOperations: a client calling what the server does not
// implement gets a clear API error, not a deserialization failure.
func TestUnsupportedOperations(t *testing.T) {
	srv := start(t, Config{})
	ses, pub := clients(srv)
	_, err := ses.ListEmailIdentities(bg, &sesv2.ListEmailIdentitiesInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "UnknownOperationException" {
		t.Errorf("ListEmailIdentities: %v, want UnknownOperationException", err)
	}
	_, err = pub.CreateTopic(bg, &sns.CreateTopicInput{Name: aws.String("t")})
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidAction" {
		t.Errorf("CreateTopic: %v, want InvalidAction", err)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{"zero", Config{}, ""},
		{"full", Config{EmailRate: 14, PushRate: 100, Latency: time.Millisecond, EmailThrottlePercent: 50, EmailServerErrorPercent: 50,
			FailRecipients: map[string]string{"a@b.c": "MessageRejected"}, FailEndpoints: map[string]string{"arn:x": "ThrottledException"}}, ""},
		{"negative rate", Config{EmailRate: -1}, "emailRate"},
		{"negative latency", Config{Latency: -1}, "latency"},
		{"percent over 100", Config{PushThrottlePercent: 101}, "0-100"},
		{"percents add over 100", Config{EmailThrottlePercent: 60, EmailServerErrorPercent: 50}, "over 100"},
		{"unknown SES code", Config{FailRecipients: map[string]string{"a@b.c": "MessageRejectedException"}}, "unknown SES error code"},
		{"unknown SNS code", Config{FailEndpoints: map[string]string{"arn:x": "Disabled"}}, "unknown SNS error code"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
			srv, err := Start(tc.cfg)
			if err == nil {
				srv.Close()
			}
			if (err == nil) != (tc.want == "") {
				t.Errorf("Start: %v, want an error: %v", err, tc.want != "")
			}
		})
	}
}

// TestEndpointVariables: the standard AWS_ENDPOINT_URL_<SERVICE> variables,
// which the functions read through config.LoadDefaultConfig, reach the
// server too.
func TestEndpointVariables(t *testing.T) {
	srv := start(t, Config{})
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_SESV2": srv.URL(), "AWS_ENDPOINT_URL_SNS": srv.URL(), "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PROFILE": "", "AWS_ENDPOINT_URL": "",
	} {
		t.Setenv(k, v)
	}
	cfg, err := loadDefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sesv2.NewFromConfig(cfg).SendEmail(bg, emailTo("env@example.com", nil)); err != nil {
		t.Errorf("SendEmail via AWS_ENDPOINT_URL_SESV2: %v", err)
	}
	if _, err := sns.NewFromConfig(cfg).Publish(bg, publishTo(endpointARN)); err != nil {
		t.Errorf("Publish via AWS_ENDPOINT_URL_SNS: %v", err)
	}
	if st := srv.Stats(); st.SendEmail.Accepted != 1 || st.Publish.Accepted != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func loadDefaultConfig() (aws.Config, error) {
	return config.LoadDefaultConfig(bg, config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }))
}
