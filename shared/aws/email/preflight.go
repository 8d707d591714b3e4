package email

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"breachnotify/shared/preflight"
)

// ReadinessClient is the part of the SES v2 API preflight reads.
type ReadinessClient interface {
	AccountClient
	GetEmailIdentity(ctx context.Context, in *sesv2.GetEmailIdentityInput, opts ...func(*sesv2.Options)) (*sesv2.GetEmailIdentityOutput, error)
	GetConfigurationSet(ctx context.Context, in *sesv2.GetConfigurationSetInput, opts ...func(*sesv2.Options)) (*sesv2.GetConfigurationSetOutput, error)
}

// Readiness checks that SES will accept the notices the worker sends: from
// Sender, through ConfigurationSet.
type Readiness struct {
	Client           ReadinessClient
	Sender           string
	ConfigurationSet string
}

// quotaWarn is the share of the 24-hour quota left under which preflight
// warns: an incident's notices might not fit in what remains today.
const quotaWarn = 0.1

// Probe runs the SES checks: the account (production access, sending
// enabled), its quota, the sender's identity and the configuration set.
func (r *Readiness) Probe(ctx context.Context) []preflight.Check {
	checks := r.account(ctx)
	return append(checks, r.sender(ctx), r.configurationSet(ctx))
}

func (r *Readiness) account(ctx context.Context) []preflight.Check {
	acct := preflight.Check{Name: "ses-account"}
	quota := preflight.Check{Name: "ses-quota"}
	out, err := r.Client.GetAccount(ctx, &sesv2.GetAccountInput{})
	if err != nil {
		acct.Status, acct.Reason = preflight.Fail, "cannot read the SES account (GetAccount): "+errorCode(err)
		quota.Status, quota.Reason = preflight.Fail, "unknown: the account could not be read"
		return []preflight.Check{acct, quota}
	}
	switch {
	case !out.SendingEnabled:
		acct.Status = preflight.Fail
		acct.Reason = fmt.Sprintf("sending is disabled for the account (enforcement status %s): SES refuses every message", aws.ToString(out.EnforcementStatus))
	case !out.ProductionAccessEnabled:
		acct.Status = preflight.Fail
		acct.Reason = "the account is in the SES sandbox: it may send only to verified addresses, 200 per 24 hours; request production access"
	default:
		acct.Status, acct.Reason = preflight.OK, "production access, sending enabled"
	}
	q := out.SendQuota
	switch {
	case q == nil || q.MaxSendRate <= 0:
		quota.Status, quota.Reason = preflight.Fail, "the account reports no send rate"
	case q.Max24HourSend < 0:
		// SES reports an unlimited daily quota as -1.
		quota.Status, quota.Reason = preflight.OK, fmt.Sprintf("%g messages per second, no 24-hour limit", q.MaxSendRate)
	case q.Max24HourSend-q.SentLast24Hours < quotaWarn*q.Max24HourSend:
		quota.Status = preflight.Warn
		quota.Reason = fmt.Sprintf("%g of %g messages of the 24-hour quota used; %g per second: ask AWS for a higher quota before a large incident",
			q.SentLast24Hours, q.Max24HourSend, q.MaxSendRate)
	default:
		quota.Status = preflight.OK
		quota.Reason = fmt.Sprintf("%g messages per second, %g per 24 hours (%g used)", q.MaxSendRate, q.Max24HourSend, q.SentLast24Hours)
	}
	return []preflight.Check{acct, quota}
}

// sender is verified for sending if the address, or its domain, is a
// verified identity in this account and region.
func (r *Readiness) sender(ctx context.Context) preflight.Check {
	c := preflight.Check{Name: "ses-sender"}
	at := strings.LastIndexByte(r.Sender, '@')
	if at <= 0 || at == len(r.Sender)-1 {
		c.Status, c.Reason = preflight.Fail, fmt.Sprintf("the sender %q is not an email address", r.Sender)
		return c
	}
	var found []string
	for _, id := range []string{r.Sender, r.Sender[at+1:]} {
		out, err := r.Client.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(id)})
		var nf *types.NotFoundException
		switch {
		case errors.As(err, &nf):
			continue
		case err != nil:
			c.Status, c.Reason = preflight.Fail, fmt.Sprintf("cannot read the identity %s (GetEmailIdentity): %s", id, errorCode(err))
			return c
		case out.VerifiedForSendingStatus:
			c.Status, c.Reason = preflight.OK, fmt.Sprintf("%s is verified for sending", id)
			return c
		}
		found = append(found, fmt.Sprintf("%s (%s)", id, strings.ToLower(string(out.VerificationStatus))))
	}
	c.Status = preflight.Fail
	if len(found) == 0 {
		c.Reason = fmt.Sprintf("neither %s nor its domain is an SES identity: create and verify one, or SES rejects every notice", r.Sender)
	} else {
		c.Reason = fmt.Sprintf("not verified for sending: %s; finish the verification, or SES rejects every notice", strings.Join(found, ", "))
	}
	return c
}

func (r *Readiness) configurationSet(ctx context.Context) preflight.Check {
	c := preflight.Check{Name: "ses-configuration-set"}
	out, err := r.Client.GetConfigurationSet(ctx, &sesv2.GetConfigurationSetInput{ConfigurationSetName: aws.String(r.ConfigurationSet)})
	var nf *types.NotFoundException
	switch {
	case errors.As(err, &nf):
		c.Status, c.Reason = preflight.Fail, fmt.Sprintf("the configuration set %s does not exist", r.ConfigurationSet)
	case err != nil:
		c.Status, c.Reason = preflight.Fail, fmt.Sprintf("cannot read the configuration set %s (GetConfigurationSet): %s", r.ConfigurationSet, errorCode(err))
	case out.SendingOptions != nil && !out.SendingOptions.SendingEnabled:
		c.Status, c.Reason = preflight.Fail, fmt.Sprintf("sending is disabled on the configuration set %s", r.ConfigurationSet)
	default:
		c.Status, c.Reason = preflight.OK, fmt.Sprintf("%s exists", r.ConfigurationSet)
	}
	return c
}

// errorCode is the API error's code (AccessDeniedException, …), or the
// error itself when it is not an API error (a network failure).
func errorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return err.Error()
}
