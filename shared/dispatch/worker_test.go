package dispatch

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"breachnotify/shared/audience"
	"breachnotify/shared/fake"
	"breachnotify/shared/incident"
	"breachnotify/shared/ledger"
	"breachnotify/shared/notice"
)

const (
	testIncident = "INC-2014-0527"
	testTitle    = "Unauthorised access to internal systems"
)

func arn(device string) string {
	return "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/breachnotify-android/" + device
}

func device(id, platform string) audience.Device {
	return audience.Device{ID: id, Platform: platform, AppVersion: "8.8.2", PushToken: "tok-" + id, EndpointARN: arn(id)}
}

// The user directory every worker case reads from.
var testUsers = []audience.User{
	{ID: "u-1", Name: "Ana", Email: "ana@example.com", Locale: "en", Devices: []audience.Device{device("d1", "android"), device("d2", "ios")}},
	{ID: "u-2", Name: "Bo", Email: "bo@example.com", Devices: []audience.Device{device("d3", "android"), device("d4", "android")}},
	{ID: "u-noemail", Devices: []audience.Device{device("d5", "android")}},
	{ID: "u-nodev", Email: "nodev@example.com"},
	{ID: "u-noendpoint", Email: "ne@example.com", Devices: []audience.Device{
		{ID: "d6", Platform: "android", AppVersion: "8.0", PushToken: "tok-d6"},
		device("d7", "ios"),
	}},
	{ID: "u-es", Name: "Eva", Email: "eva@example.com", Locale: "es-ES", Devices: []audience.Device{device("d8", "android")}},
}

func explicit(ids ...string) []audience.Member {
	var out []audience.Member
	for _, id := range ids {
		out = append(out, audience.Member{UserID: id, AllDevices: true})
	}
	return out
}

func batch(template string, channels []incident.Channel, members []audience.Member) Batch {
	b := Batch{
		IncidentID: testIncident, NoticeID: incident.NoticeID(0, template),
		Template: template, Channels: channels, Members: members,
	}
	if template == "update-app" {
		b.FixedVersion = "8.9.0"
	}
	return b
}

var (
	emailPush = []incident.Channel{incident.Email, incident.Push}
	emailOnly = []incident.Channel{incident.Email}
	pushOnly  = []incident.Channel{incident.Push}
)

// key names a delivery of notice n0-account-accessed.
func key(user string, ch incident.Channel, device string) ledger.Key {
	return ledger.Key{IncidentID: testIncident, NoticeID: "n0-account-accessed", UserID: user, Channel: ch, DeviceID: device}
}

func emailKey(user string) string        { return key(user, incident.Email, "").String() }
func pushKey(user, device string) string { return key(user, incident.Push, device).String() }

// want is what the ledger must hold for one delivery.
type want struct {
	status   ledger.Status
	reason   string
	provider string
	locale   string
}

func sent(provider, locale string) want {
	return want{status: ledger.Sent, provider: provider, locale: locale}
}
func skipped(reason string) want { return want{status: ledger.Skipped, reason: reason} }
func pending(reason string) want { return want{status: ledger.Pending, reason: reason} }

// step is one Process call and what it must do.
type step struct {
	before     func(*env)
	wantErr    error // nil, ErrRetry, or another sentinel the error must wrap
	wantCounts Counts
	wantMails  []string // addresses mailed in this step, in order
	wantPushes []string // endpoints pushed to in this step, in order
	wantLedger map[string]want
}

func TestProcess(t *testing.T) {
	throttled := &SendError{Class: Retryable, Reason: "Throttling", Err: errProviderDown}
	rejected := &SendError{Class: Permanent, Reason: "MessageRejected", Err: errors.New("Email address is not verified.")}
	disabled := &SendError{Class: Permanent, Reason: "EndpointDisabled"}

	tests := []struct {
		name  string
		batch Batch
		steps []step
	}{
		{
			name:  "two members email and push",
			batch: batch("account-accessed", emailPush, explicit("u-1", "u-2")),
			steps: []step{{
				wantCounts: Counts{Sent: 6},
				wantMails:  []string{"ana@example.com", "bo@example.com"},
				wantPushes: []string{arn("d1"), arn("d2"), arn("d3"), arn("d4")},
				wantLedger: map[string]want{
					emailKey("u-1"):      sent("mail:ana@example.com", "en"),
					pushKey("u-1", "d1"): sent("push:"+arn("d1"), "en"),
					pushKey("u-1", "d2"): sent("push:"+arn("d2"), "en"),
					emailKey("u-2"):      sent("mail:bo@example.com", "en"),
					pushKey("u-2", "d3"): sent("push:"+arn("d3"), "en"),
					pushKey("u-2", "d4"): sent("push:"+arn("d4"), "en"),
				},
			}},
		},
		{
			name:  "same batch twice sends nothing new",
			batch: batch("account-accessed", emailPush, explicit("u-1", "u-nodev")),
			steps: []step{
				{
					wantCounts: Counts{Sent: 4, Skipped: 1},
					wantMails:  []string{"ana@example.com", "nodev@example.com"},
					wantPushes: []string{arn("d1"), arn("d2")},
				},
				{
					before:     func(e *env) { e.clock.Advance(time.Hour) },
					wantCounts: Counts{AlreadyDone: 5},
					wantLedger: map[string]want{
						emailKey("u-1"):                       sent("mail:ana@example.com", "en"),
						pushKey("u-1", "d1"):                  sent("push:"+arn("d1"), "en"),
						pushKey("u-1", "d2"):                  sent("push:"+arn("d2"), "en"),
						emailKey("u-nodev"):                   sent("mail:nodev@example.com", "en"),
						pushKey("u-nodev", ledger.NoDeviceID): skipped(ledger.NoDevice),
					},
				},
			},
		},
		{
			name:  "user without email",
			batch: batch("account-accessed", emailPush, explicit("u-noemail")),
			steps: []step{{
				wantCounts: Counts{Sent: 1, Skipped: 1},
				wantPushes: []string{arn("d5")},
				wantLedger: map[string]want{
					emailKey("u-noemail"):      skipped(ledger.NoEmail),
					pushKey("u-noemail", "d5"): sent("push:"+arn("d5"), "en"),
				},
			}},
		},
		{
			name:  "user without devices",
			batch: batch("account-accessed", emailPush, explicit("u-nodev")),
			steps: []step{{
				wantCounts: Counts{Sent: 1, Skipped: 1},
				wantMails:  []string{"nodev@example.com"},
				wantLedger: map[string]want{
					emailKey("u-nodev"):                   sent("mail:nodev@example.com", "en"),
					pushKey("u-nodev", ledger.NoDeviceID): skipped(ledger.NoDevice),
				},
			}},
		},
		{
			name:  "device without endpoint",
			batch: batch("account-accessed", pushOnly, explicit("u-noendpoint")),
			steps: []step{{
				wantCounts: Counts{Sent: 1, Skipped: 1},
				wantPushes: []string{arn("d7")},
				wantLedger: map[string]want{
					pushKey("u-noendpoint", "d6"): skipped(ledger.NoEndpoint),
					pushKey("u-noendpoint", "d7"): sent("push:"+arn("d7"), "en"),
				},
			}},
		},
		{
			name:  "unknown user",
			batch: batch("account-accessed", emailPush, explicit("u-gone")),
			steps: []step{{
				wantCounts: Counts{Skipped: 2},
				wantLedger: map[string]want{
					emailKey("u-gone"):                   skipped(ledger.UnknownUser),
					pushKey("u-gone", ledger.NoDeviceID): skipped(ledger.UnknownUser),
				},
			}},
		},
		{
			name: "cohort member gets push on matched devices only, explicit member on all",
			batch: batch("account-accessed", pushOnly, []audience.Member{
				{UserID: "u-1", DeviceIDs: []string{"d2"}},
				{UserID: "u-2", AllDevices: true},
			}),
			steps: []step{{
				wantCounts: Counts{Sent: 3},
				wantPushes: []string{arn("d2"), arn("d3"), arn("d4")},
				wantLedger: map[string]want{
					pushKey("u-1", "d2"): sent("push:"+arn("d2"), "en"),
					pushKey("u-2", "d3"): sent("push:"+arn("d3"), "en"),
					pushKey("u-2", "d4"): sent("push:"+arn("d4"), "en"),
				},
			}},
		},
		{
			name: "cohort member whose matched device is gone",
			batch: batch("account-accessed", emailPush, []audience.Member{
				{UserID: "u-1", DeviceIDs: []string{"d-removed"}},
			}),
			steps: []step{{
				wantCounts: Counts{Sent: 1, Skipped: 1},
				wantMails:  []string{"ana@example.com"},
				wantLedger: map[string]want{
					emailKey("u-1"):                   sent("mail:ana@example.com", "en"),
					pushKey("u-1", ledger.NoDeviceID): skipped(ledger.NoDevice),
				},
			}},
		},
		{
			// checkMessages renders each email with the platform its targeted
			// devices share: none for Ana (android and ios), android for Bo,
			// ios for the cohort that matched only d7 (d6, first, is android).
			name: "update-app email gives the targeted devices' platform, or every platform when they differ",
			batch: batch("update-app", emailPush, []audience.Member{
				{UserID: "u-1", AllDevices: true},
				{UserID: "u-2", AllDevices: true},
				{UserID: "u-noendpoint", DeviceIDs: []string{"d7"}},
			}),
			steps: []step{{
				wantCounts: Counts{Sent: 8},
				wantMails:  []string{"ana@example.com", "bo@example.com", "ne@example.com"},
				wantPushes: []string{arn("d1"), arn("d2"), arn("d3"), arn("d4"), arn("d7")},
			}},
		},
		{
			name:  "permanent email failure is recorded, not retried",
			batch: batch("account-accessed", emailPush, explicit("u-1", "u-2")),
			steps: []step{{
				before:     func(e *env) { e.mailer.fail = failOn(error(rejected), mailTo, "ana@example.com") },
				wantCounts: Counts{Sent: 5, Failed: 1},
				wantMails:  []string{"bo@example.com"},
				wantPushes: []string{arn("d1"), arn("d2"), arn("d3"), arn("d4")},
				wantLedger: map[string]want{
					emailKey("u-1"):      {status: ledger.Failed, reason: "MessageRejected", locale: "en"},
					pushKey("u-1", "d1"): sent("push:"+arn("d1"), "en"),
					pushKey("u-1", "d2"): sent("push:"+arn("d2"), "en"),
					emailKey("u-2"):      sent("mail:bo@example.com", "en"),
					pushKey("u-2", "d3"): sent("push:"+arn("d3"), "en"),
					pushKey("u-2", "d4"): sent("push:"+arn("d4"), "en"),
				},
			}, {
				// A redelivery does not try the failed address again.
				before:     func(e *env) { e.mailer.fail = nil },
				wantCounts: Counts{AlreadyDone: 6},
			}},
		},
		{
			name:  "permanent push failure (wrapped SendError)",
			batch: batch("account-accessed", pushOnly, explicit("u-2")),
			steps: []step{{
				before: func(e *env) {
					e.pusher.fail = failOn(error(wrap{"sns publish", disabled}), endpoint, arn("d4"))
				},
				wantCounts: Counts{Sent: 1, Failed: 1},
				wantPushes: []string{arn("d3")},
				wantLedger: map[string]want{
					pushKey("u-2", "d3"): sent("push:"+arn("d3"), "en"),
					pushKey("u-2", "d4"): {status: ledger.Failed, reason: "EndpointDisabled", locale: "en"},
				},
			}},
		},
		{
			name:  "retryable push failure stays pending, then sends once",
			batch: batch("account-accessed", emailPush, explicit("u-1")),
			steps: []step{{
				before:     func(e *env) { e.pusher.fail = failOn(error(throttled), endpoint, arn("d2")) },
				wantErr:    ErrRetry,
				wantCounts: Counts{Sent: 2, Retry: 1},
				wantMails:  []string{"ana@example.com"},
				wantPushes: []string{arn("d1")},
				wantLedger: map[string]want{
					emailKey("u-1"):      sent("mail:ana@example.com", "en"),
					pushKey("u-1", "d1"): sent("push:"+arn("d1"), "en"),
					pushKey("u-1", "d2"): pending("Throttling"),
				},
			}, {
				before:     func(e *env) { e.pusher.fail = nil; e.clock.Advance(time.Second) },
				wantCounts: Counts{Sent: 1, AlreadyDone: 2},
				wantPushes: []string{arn("d2")},
				wantLedger: map[string]want{
					emailKey("u-1"):      sent("mail:ana@example.com", "en"),
					pushKey("u-1", "d1"): sent("push:"+arn("d1"), "en"),
					pushKey("u-1", "d2"): sent("push:"+arn("d2"), "en"),
				},
			}, {
				before:     func(e *env) { e.clock.Advance(time.Second) },
				wantCounts: Counts{AlreadyDone: 3},
			}},
		},
		{
			name:  "unclassified email error is retryable",
			batch: batch("account-accessed", emailOnly, explicit("u-1")),
			steps: []step{{
				before:     func(e *env) { e.mailer.fail = failOn(errProviderDown, mailTo, "ana@example.com") },
				wantErr:    errProviderDown,
				wantCounts: Counts{Retry: 1},
				wantLedger: map[string]want{emailKey("u-1"): pending("unclassified")},
			}, {
				before:     func(e *env) { e.mailer.fail = nil },
				wantCounts: Counts{Sent: 1},
				wantMails:  []string{"ana@example.com"},
				wantLedger: map[string]want{emailKey("u-1"): sent("mail:ana@example.com", "en")},
			}},
		},
		{
			name:  "unexpired claim by another worker",
			batch: batch("account-accessed", emailOnly, explicit("u-1")),
			steps: []step{{
				before: func(e *env) {
					e.ledger.Put(ledger.Record{Recipient: key("u-1", "", "").Recipient(), Template: "account-accessed",
						State: ledger.Claimed, Owner: "other", LeaseUntil: t0.Add(time.Minute), UpdatedAt: t0.Add(-time.Minute)})
				},
				wantErr:    ledger.ErrInFlight,
				wantCounts: Counts{Retry: 1},
				wantLedger: map[string]want{},
			}},
		},
		{
			name:  "expired claim is taken over",
			batch: batch("account-accessed", emailOnly, explicit("u-1")),
			steps: []step{{
				before: func(e *env) {
					e.ledger.Put(ledger.Record{Recipient: key("u-1", "", "").Recipient(), Template: "account-accessed",
						State: ledger.Claimed, Owner: "dead", LeaseUntil: t0.Add(-time.Minute), UpdatedAt: t0.Add(-ledger.Lease - time.Minute)})
				},
				wantCounts: Counts{Sent: 1},
				wantMails:  []string{"ana@example.com"},
				wantLedger: map[string]want{emailKey("u-1"): sent("mail:ana@example.com", "en")},
			}},
		},
		{
			name:  "sent but not recorded is not retried",
			batch: batch("account-accessed", emailOnly, explicit("u-1")),
			steps: []step{{
				before:     func(e *env) { e.ledger.RecordErr = errProviderDown },
				wantCounts: Counts{Sent: 1},
				wantMails:  []string{"ana@example.com"},
				// The claim stays, so a redelivery within the lease sends nothing.
				wantLedger: map[string]want{},
			}, {
				before:     func(e *env) { e.ledger.RecordErr = nil; e.clock.Advance(time.Minute) },
				wantErr:    ledger.ErrInFlight,
				wantCounts: Counts{Retry: 1},
			}},
		},
		{
			name:  "failure that cannot be recorded is retried",
			batch: batch("account-accessed", emailOnly, explicit("u-1")),
			steps: []step{{
				before: func(e *env) {
					e.mailer.fail = failOn(error(rejected), mailTo, "ana@example.com")
					e.ledger.RecordErr = errProviderDown
				},
				wantErr:    errProviderDown,
				wantCounts: Counts{Failed: 1},
			}},
		},
		{
			name:  "ledger outage is retryable and sends nothing",
			batch: batch("account-accessed", emailPush, explicit("u-1", "u-gone")),
			steps: []step{{
				before:     func(e *env) { e.ledger.ClaimErr = errProviderDown },
				wantErr:    errProviderDown,
				wantCounts: Counts{Retry: 2},
				wantLedger: map[string]want{},
			}},
		},
		{
			name:  "spanish locale user",
			batch: batch("account-accessed", emailPush, explicit("u-es", "u-1")),
			steps: []step{{
				wantCounts: Counts{Sent: 5},
				wantMails:  []string{"eva@example.com", "ana@example.com"},
				wantPushes: []string{arn("d8"), arn("d1"), arn("d2")},
				wantLedger: map[string]want{
					emailKey("u-es"):      sent("mail:eva@example.com", "es"),
					pushKey("u-es", "d8"): sent("push:"+arn("d8"), "es"),
					emailKey("u-1"):       sent("mail:ana@example.com", "en"),
					pushKey("u-1", "d1"):  sent("push:"+arn("d1"), "en"),
					pushKey("u-1", "d2"):  sent("push:"+arn("d2"), "en"),
				},
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(fake.NewUsers(testUsers...))
			version := mustRender(t, tc.batch.Template, "en", notice.Data{}).Version
			for i, s := range tc.steps {
				if s.before != nil {
					s.before(e)
				}
				mails, pushes := len(e.mailer.sent), len(e.pusher.sent)
				counts, err := e.worker.Process(context.Background(), tc.batch)
				switch {
				case s.wantErr == nil && err != nil:
					t.Fatalf("step %d: Process error = %v, want nil", i, err)
				case s.wantErr != nil && !errors.Is(err, s.wantErr):
					t.Fatalf("step %d: Process error = %v, want errors.Is %v", i, err, s.wantErr)
				case s.wantErr != nil && !errors.Is(err, ErrRetry):
					t.Errorf("step %d: Process error = %v does not wrap ErrRetry", i, err)
				}
				if counts != s.wantCounts {
					t.Errorf("step %d: counts = %+v, want %+v", i, counts, s.wantCounts)
				}
				if got := e.mailer.to()[mails:]; !slices.Equal(got, s.wantMails) {
					t.Errorf("step %d: mailed %q, want %q", i, got, s.wantMails)
				}
				if got := e.pusher.endpoints()[pushes:]; !slices.Equal(got, s.wantPushes) {
					t.Errorf("step %d: pushed to %q, want %q", i, got, s.wantPushes)
				}
				if s.wantLedger != nil {
					checkLedger(t, i, snapshot(e.ledger), s.wantLedger, tc.batch.Template, version)
				}
			}
			checkMessages(t, e, tc.batch)
		})
	}
}

// wrap is an error that wraps another, as an adapter might add context.
type wrap struct {
	msg string
	err error
}

func (w wrap) Error() string { return w.msg + ": " + w.err.Error() }
func (w wrap) Unwrap() error { return w.err }

func checkLedger(t *testing.T, step int, got map[string]ledger.Entry, want map[string]want, template, version string) {
	t.Helper()
	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
		t.Errorf("step %d: ledger keys =\n  %q\nwant\n  %q", step, g, w)
	}
	for k, w := range want {
		e, ok := got[k]
		if !ok {
			continue
		}
		if e.Status != w.status || e.Reason != w.reason || e.ProviderMessageID != w.provider {
			t.Errorf("step %d: %s = {status %q reason %q provider %q}, want {status %q reason %q provider %q}",
				step, k, e.Status, e.Reason, e.ProviderMessageID, w.status, w.reason, w.provider)
		}
		if e.Template != template {
			t.Errorf("step %d: %s template = %q, want %q", step, k, e.Template, template)
		}
		if e.UpdatedAt.IsZero() {
			t.Errorf("step %d: %s has no UpdatedAt", step, k)
		}
		switch w.status {
		case ledger.Sent, ledger.Failed:
			if e.TemplateVersion != version || e.Locale != w.locale {
				t.Errorf("step %d: %s templateVersion %q locale %q, want %q %q", step, k, e.TemplateVersion, e.Locale, version, w.locale)
			}
		case ledger.Skipped:
			if e.TemplateVersion != "" || e.Locale != "" {
				t.Errorf("step %d: skipped %s has templateVersion %q locale %q", step, k, e.TemplateVersion, e.Locale)
			}
		}
	}
}

// checkMessages checks that what reached the providers is the rendered
// notice for each recipient, tagged with ids only.
func checkMessages(t *testing.T, e *env, b Batch) {
	t.Helper()
	byEmail := map[string]audience.User{}
	byEndpoint := map[string]audience.User{}
	platformOf := map[string]string{}
	for _, u := range testUsers {
		byEmail[u.Email] = u
		for _, d := range u.Devices {
			byEndpoint[d.EndpointARN] = u
			platformOf[d.EndpointARN] = d.Platform
		}
	}
	for _, m := range e.mailer.sent {
		u := byEmail[m.To]
		msg := mustRender(t, b.Template, u.Locale, notice.Data{Name: u.Name, IncidentID: b.IncidentID, Title: testTitle,
			FixedVersion: b.FixedVersion, Platform: mailPlatform(b, u), Brand: "Acme"})
		if m.Subject != msg.Email.Subject || m.Text != msg.Email.Text || m.HTML != msg.Email.HTML {
			t.Errorf("mail to %s is not the rendered %s/%s notice: subject %q", m.To, b.Template, msg.Locale, m.Subject)
		}
		wantTags := map[string]string{"incident": b.IncidentID, "notice": b.NoticeID, "user": u.ID}
		if !maps.Equal(m.Tags, wantTags) {
			t.Errorf("mail to %s tags = %v, want %v", m.To, m.Tags, wantTags)
		}
	}
	for _, p := range e.pusher.sent {
		u := byEndpoint[p.endpoint]
		msg := mustRender(t, b.Template, u.Locale, notice.Data{Name: u.Name, IncidentID: b.IncidentID, Title: testTitle,
			FixedVersion: b.FixedVersion, Platform: platformOf[p.endpoint], Brand: "Acme"})
		if p.push != msg.Push {
			t.Errorf("push to %s = %+v, want the rendered %s/%s push %+v", p.endpoint, p.push, b.Template, msg.Locale, msg.Push)
		}
		wantData := map[string]string{"incidentId": b.IncidentID, "template": b.Template}
		if !maps.Equal(p.data, wantData) {
			t.Errorf("push to %s data = %v, want %v", p.endpoint, p.data, wantData)
		}
	}
}

// mailPlatform is the platform an email to u must give instructions for:
// that of the devices the batch targets for u when they all share one, else
// none (instructions for every store).
func mailPlatform(b Batch, u audience.User) string {
	i := slices.IndexFunc(b.Members, func(m audience.Member) bool { return m.UserID == u.ID })
	if i < 0 {
		return ""
	}
	platforms := map[string]bool{}
	for _, d := range u.Devices {
		if b.Members[i].AllDevices || slices.Contains(b.Members[i].DeviceIDs, d.ID) {
			platforms[d.Platform] = true
		}
	}
	if len(platforms) == 1 {
		for p := range platforms {
			return p
		}
	}
	return ""
}

func mustRender(t *testing.T, template, locale string, d notice.Data) notice.Message {
	t.Helper()
	m, err := notice.Render(template, locale, d)
	if err != nil {
		t.Fatalf("render %s/%s: %v", template, locale, err)
	}
	return m
}

// TestProcessSpanishWording checks that the Spanish reader gets Spanish
// wording, not English wording labelled "es".
func TestProcessSpanishWording(t *testing.T) {
	for _, template := range []string{"account-accessed", "update-app"} {
		t.Run(template, func(t *testing.T) {
			e := newEnv(fake.NewUsers(testUsers...))
			b := batch(template, emailPush, explicit("u-es"))
			if _, err := e.worker.Process(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			if len(e.mailer.sent) != 1 || len(e.pusher.sent) != 1 {
				t.Fatalf("sent %d mails and %d pushes, want 1 and 1", len(e.mailer.sent), len(e.pusher.sent))
			}
			en := mustRender(t, template, "en", notice.Data{Name: "Eva", IncidentID: testIncident, Title: testTitle, FixedVersion: "8.9.0", Platform: "android", Brand: "Acme"})
			es := mustRender(t, template, "es", notice.Data{Name: "Eva", IncidentID: testIncident, Title: testTitle, FixedVersion: "8.9.0", Platform: "android", Brand: "Acme"})
			if es.Locale != "es" || es.Email.Subject == en.Email.Subject {
				t.Fatalf("template %s has no distinct Spanish variant (locale %q)", template, es.Locale)
			}
			if got := e.mailer.sent[0].Subject; got != es.Email.Subject {
				t.Errorf("subject = %q, want Spanish %q", got, es.Email.Subject)
			}
			if got := e.pusher.sent[0].push; got != es.Push {
				t.Errorf("push = %+v, want Spanish %+v", got, es.Push)
			}
			for k, entry := range snapshot(e.ledger) {
				if entry.Locale != "es" {
					t.Errorf("%s locale = %q, want es", k, entry.Locale)
				}
			}
		})
	}
}

// TestProcessEmailPlatform checks that an email about a cohort's platform
// gives that platform's instructions, whatever order the user's devices
// are stored in.
func TestProcessEmailPlatform(t *testing.T) {
	users := []audience.User{
		{ID: "u-mixed", Name: "Mo", Email: "mo@example.com", Devices: []audience.Device{
			{ID: "d-i", Platform: "ios", AppVersion: "9.0", EndpointARN: arn("d-i")},
			{ID: "d-a", Platform: "android", AppVersion: "8.0", EndpointARN: arn("d-a")},
		}},
		{ID: "u-android", Name: "Mo", Email: "mo@example.com", Devices: []audience.Device{
			{ID: "d-a", Platform: "android", AppVersion: "8.0", EndpointARN: arn("d-a")},
		}},
		{ID: "u-ios", Name: "Mo", Email: "mo@example.com", Devices: []audience.Device{
			{ID: "d-i", Platform: "ios", AppVersion: "8.0", EndpointARN: arn("d-i")},
		}},
		{ID: "u-none", Name: "Mo", Email: "mo@example.com"},
	}
	tests := []struct {
		name         string
		member       audience.Member
		wantPlatform string
	}{
		{
			name:         "explicit android-only member",
			member:       audience.Member{UserID: "u-android", AllDevices: true},
			wantPlatform: "android",
		},
		{
			name:         "ios cohort member",
			member:       audience.Member{UserID: "u-ios", DeviceIDs: []string{"d-i"}},
			wantPlatform: "ios",
		},
		{
			name:         "member without devices gets both platforms' instructions",
			member:       audience.Member{UserID: "u-none", AllDevices: true},
			wantPlatform: "",
		},
		{
			name:         "android cohort member whose first device is ios",
			member:       audience.Member{UserID: "u-mixed", DeviceIDs: []string{"d-a"}},
			wantPlatform: "android",
		},
		{
			name:         "explicit member with devices on both platforms gets both",
			member:       audience.Member{UserID: "u-mixed", AllDevices: true},
			wantPlatform: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(fake.NewUsers(users...))
			b := batch("update-app", emailOnly, []audience.Member{tc.member})
			if _, err := e.worker.Process(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			if len(e.mailer.sent) != 1 {
				t.Fatalf("sent %d mails, want 1", len(e.mailer.sent))
			}
			want := mustRender(t, "update-app", "", notice.Data{Name: "Mo", IncidentID: testIncident, Title: testTitle,
				FixedVersion: "8.9.0", Platform: tc.wantPlatform, Brand: "Acme"})
			if got := e.mailer.sent[0]; got.Subject != want.Email.Subject || got.Text != want.Email.Text {
				t.Errorf("email is not the %s variant:\n%s", tc.wantPlatform, got.Text)
			}
		})
	}
}

func TestProcessUsersError(t *testing.T) {
	boom := errors.New("users table unavailable")
	e := newEnv(usersFunc(func(context.Context, []string) (map[string]audience.User, error) { return nil, boom }))
	counts, err := e.worker.Process(context.Background(), batch("account-accessed", emailPush, explicit("u-1")))
	if !errors.Is(err, boom) {
		t.Errorf("Process error = %v, want errors.Is %v", err, boom)
	}
	if counts != (Counts{}) || len(e.mailer.sent)+len(e.pusher.sent) != 0 || len(snapshot(e.ledger)) != 0 {
		t.Errorf("a failed user read did something: counts %+v, %d mails, %d pushes, ledger %v",
			counts, len(e.mailer.sent), len(e.pusher.sent), snapshot(e.ledger))
	}
}

// TestProcessReadsUsersOnce checks the batch's users are read in one call
// with every member's id.
func TestProcessReadsUsersOnce(t *testing.T) {
	var calls [][]string
	inner := fake.NewUsers(testUsers...)
	e := newEnv(usersFunc(func(ctx context.Context, ids []string) (map[string]audience.User, error) {
		calls = append(calls, slices.Clone(ids))
		return inner.Get(ctx, ids)
	}))
	if _, err := e.worker.Process(context.Background(), batch("account-accessed", emailOnly, explicit("u-1", "u-2", "u-gone"))); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || !slices.Equal(calls[0], []string{"u-1", "u-2", "u-gone"}) {
		t.Errorf("Users.Get calls = %q, want one with all three ids", calls)
	}
}

func TestSendErrorHidesProviderMessage(t *testing.T) {
	err := &SendError{Class: Permanent, Reason: "MessageRejected", Err: errors.New("Address ana@example.com is blacklisted")}
	if strings.Contains(err.Error(), "ana@example.com") {
		t.Errorf("Error() = %q leaks the provider's message", err.Error())
	}
	if !errors.Is(err, err.Err) {
		t.Error("SendError does not unwrap to its cause")
	}
}
