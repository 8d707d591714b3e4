package email

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"breachnotify/shared/preflight"
)

// fakeSES answers preflight's reads from fixed values: identities maps an
// identity to whether it is verified for sending (absent: NotFound).
type fakeSES struct {
	account    *sesv2.GetAccountOutput
	accountErr error
	identities map[string]bool
	configSets map[string]bool // name -> sending enabled
}

func (f *fakeSES) GetAccount(context.Context, *sesv2.GetAccountInput, ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error) {
	return f.account, f.accountErr
}

func (f *fakeSES) GetEmailIdentity(_ context.Context, in *sesv2.GetEmailIdentityInput, _ ...func(*sesv2.Options)) (*sesv2.GetEmailIdentityOutput, error) {
	v, ok := f.identities[aws.ToString(in.EmailIdentity)]
	if !ok {
		return nil, &types.NotFoundException{}
	}
	st := types.VerificationStatusPending
	if v {
		st = types.VerificationStatusSuccess
	}
	return &sesv2.GetEmailIdentityOutput{VerifiedForSendingStatus: v, VerificationStatus: st}, nil
}

func (f *fakeSES) GetConfigurationSet(_ context.Context, in *sesv2.GetConfigurationSetInput, _ ...func(*sesv2.Options)) (*sesv2.GetConfigurationSetOutput, error) {
	on, ok := f.configSets[aws.ToString(in.ConfigurationSetName)]
	if !ok {
		return nil, &types.NotFoundException{}
	}
	return &sesv2.GetConfigurationSetOutput{SendingOptions: &types.SendingOptions{SendingEnabled: on}}, nil
}

func production() *sesv2.GetAccountOutput {
	return &sesv2.GetAccountOutput{ProductionAccessEnabled: true, SendingEnabled: true, EnforcementStatus: aws.String("HEALTHY"),
		SendQuota: &types.SendQuota{MaxSendRate: 14, Max24HourSend: 50000, SentLast24Hours: 10}}
}

func TestReadiness(t *testing.T) {
	good := func() *fakeSES {
		return &fakeSES{account: production(), identities: map[string]bool{"example.com": true}, configSets: map[string]bool{"breachnotify": true}}
	}
	tests := []struct {
		name  string
		setup func(f *fakeSES)
		want  map[string]preflight.Status
	}{
		{"ready through the domain", func(*fakeSES) {},
			map[string]preflight.Status{"ses-account": preflight.OK, "ses-quota": preflight.OK, "ses-sender": preflight.OK, "ses-configuration-set": preflight.OK}},
		{"ready through the address", func(f *fakeSES) { f.identities = map[string]bool{"security@example.com": true} },
			map[string]preflight.Status{"ses-sender": preflight.OK}},
		{"sandbox", func(f *fakeSES) { f.account.ProductionAccessEnabled = false },
			map[string]preflight.Status{"ses-account": preflight.Fail, "ses-quota": preflight.OK}},
		{"sending disabled", func(f *fakeSES) { f.account.SendingEnabled = false },
			map[string]preflight.Status{"ses-account": preflight.Fail}},
		{"quota nearly used", func(f *fakeSES) { f.account.SendQuota.SentLast24Hours = 46000 },
			map[string]preflight.Status{"ses-account": preflight.OK, "ses-quota": preflight.Warn}},
		{"unlimited quota", func(f *fakeSES) { f.account.SendQuota.Max24HourSend, f.account.SendQuota.SentLast24Hours = -1, 1e6 },
			map[string]preflight.Status{"ses-quota": preflight.OK}},
		{"account unreadable", func(f *fakeSES) { f.account, f.accountErr = nil, errors.New("connection refused") },
			map[string]preflight.Status{"ses-account": preflight.Fail, "ses-quota": preflight.Fail, "ses-sender": preflight.OK}},
		{"sender pending", func(f *fakeSES) { f.identities = map[string]bool{"example.com": false} },
			map[string]preflight.Status{"ses-sender": preflight.Fail}},
		{"no identity", func(f *fakeSES) { f.identities = nil },
			map[string]preflight.Status{"ses-sender": preflight.Fail}},
		{"no configuration set", func(f *fakeSES) { f.configSets = nil },
			map[string]preflight.Status{"ses-configuration-set": preflight.Fail}},
		{"configuration set paused", func(f *fakeSES) { f.configSets["breachnotify"] = false },
			map[string]preflight.Status{"ses-configuration-set": preflight.Fail}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := good()
			tc.setup(f)
			r := &Readiness{Client: f, Sender: "security@example.com", ConfigurationSet: "breachnotify"}
			got := map[string]preflight.Check{}
			for _, c := range r.Probe(context.Background()) {
				got[c.Name] = c
			}
			if len(got) != 4 {
				t.Errorf("checks = %v, want 4", got)
			}
			for name, want := range tc.want {
				if c := got[name]; c.Status != want || c.Reason == "" {
					t.Errorf("%s = %+v, want %s with a reason", name, c, want)
				}
			}
		})
	}
}
