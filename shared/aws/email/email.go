// Package email sends notices through Amazon SES v2 and classifies SES's
// errors for the dispatcher.
package email

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"breachnotify/shared/audience"
	"breachnotify/shared/dispatch"
	"breachnotify/shared/incident"
)

// Client is the part of the SES v2 API this package calls.
type Client interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, opts ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

// AccountClient reads the account's sending quota.
type AccountClient interface {
	GetAccount(ctx context.Context, in *sesv2.GetAccountInput, opts ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error)
}

// MaxSendRate is the account's maximum send rate in messages (recipients)
// per second: the physical limit of how fast notices can go out.
func MaxSendRate(ctx context.Context, c AccountClient) (float64, error) {
	out, err := c.GetAccount(ctx, &sesv2.GetAccountInput{})
	if err != nil {
		return 0, fmt.Errorf("read SES sending quota: %w", err)
	}
	if out.SendQuota == nil || out.SendQuota.MaxSendRate <= 0 {
		return 0, errors.New("read SES sending quota: the account reports no send rate")
	}
	return out.SendQuota.MaxSendRate, nil
}

// Sender sends email from one address through one configuration set, whose
// event destinations report deliveries, bounces and complaints.
type Sender struct {
	Client           Client
	From             string
	ConfigurationSet string
}

// Send sends one message and returns SES's message id.
func (s *Sender) Send(ctx context.Context, m dispatch.Mail) (string, error) {
	// The address is the only user data placed in a header; the subject is
	// single-line by construction in package notice.
	if err := audience.ValidEmail(m.To); err != nil {
		return "", &dispatch.SendError{Class: dispatch.Permanent, Reason: "InvalidAddress", Err: err}
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return "", &dispatch.SendError{Class: dispatch.Permanent, Reason: "UnsafeSubject", Err: errors.New("subject contains a line break")}
	}
	utf8 := aws.String("UTF-8")
	in := &sesv2.SendEmailInput{
		FromEmailAddress: &s.From,
		Destination:      &types.Destination{ToAddresses: []string{m.To}},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: &m.Subject, Charset: utf8},
			Body: &types.Body{
				Text: &types.Content{Data: &m.Text, Charset: utf8},
				Html: &types.Content{Data: &m.HTML, Charset: utf8},
			},
		}},
		ConfigurationSetName: &s.ConfigurationSet,
	}
	for _, k := range slices.Sorted(maps.Keys(m.Tags)) {
		in.EmailTags = append(in.EmailTags, types.MessageTag{Name: aws.String(k), Value: aws.String(m.Tags[k])})
	}
	out, err := s.Client.SendEmail(ctx, in)
	if err != nil {
		return "", classify(err)
	}
	return aws.ToString(out.MessageId), nil
}

// classify maps SES errors to what the dispatcher must do, in one place.
// Only errors that concern this one recipient are permanent. Errors that
// stop the whole account, or that refuse every message until the
// deployment is fixed (an unverified identity), pause the channel.
// Throttling, 5xx and anything unknown are retryable, so no recipient is
// given up for them.
func classify(err error) error {
	var (
		rejected   *types.MessageRejected
		badRequest *types.BadRequestException
		paused     *types.SendingPausedException
		suspended  *types.AccountSuspendedException
		unverified *types.MailFromDomainNotVerifiedException
	)
	switch {
	case errors.As(err, &paused):
		return &dispatch.SendError{Class: dispatch.Paused, Reason: "SendingPaused", Err: err}
	case errors.As(err, &suspended):
		return &dispatch.SendError{Class: dispatch.Paused, Reason: "AccountSuspended", Err: err}
	case errors.As(err, &unverified):
		return &dispatch.SendError{Class: dispatch.Paused, Reason: "MailFromDomainNotVerified", Err: err}
	case errors.As(err, &rejected) && identityNotVerified(rejected.ErrorMessage()):
		// The message names the failing identities (the sender's, or in
		// the sandbox the recipients' addresses): it is dropped here, so
		// no address reaches the logs or the pause record.
		return &dispatch.SendError{Class: dispatch.Paused, Reason: "IdentityNotVerified", Err: errIdentityNotVerified}
	case errors.As(err, &rejected):
		return &dispatch.SendError{Class: dispatch.Permanent, Reason: "MessageRejected", Err: err}
	case errors.As(err, &badRequest):
		return &dispatch.SendError{Class: dispatch.Permanent, Reason: "BadRequest", Err: err}
	}
	reason := "SendFailed"
	var api smithy.APIError
	if errors.As(err, &api) {
		reason = api.ErrorCode()
	}
	return &dispatch.SendError{Class: dispatch.Retryable, Reason: reason, Throttled: reason == "TooManyRequestsException",
		Err: fmt.Errorf("ses send: %w", err)}
}

// errIdentityNotVerified stands for SES's "Email address is not verified"
// rejection without its list of addresses.
var errIdentityNotVerified = errors.New("ses send: MessageRejected: an identity failed SES's verification check")

// identityNotVerified reports whether a MessageRejected is SES's refusal of
// an unverified identity: "Email address is not verified. The following
// identities failed the check in region …". It comes from an unverified
// sender (From, Source, Sender or Return-Path) or, while the account is in
// the SES sandbox, from any unverified recipient; either way it is the
// deployment's configuration, not the recipient, so no recipient is given
// up for it. Other rejections (content, viruses) stay permanent.
func identityNotVerified(msg string) bool {
	msg = strings.ToLower(msg)
	return strings.Contains(msg, "address is not verified") || strings.Contains(msg, "identities failed the check")
}

// Rates returns the send rates by channel: email from emailRate, or the
// SES account's quota when it is 0 (read once, then cached); push as given.
func Rates(c AccountClient, emailRate, pushRate float64) func(ctx context.Context) (map[incident.Channel]float64, error) {
	var (
		mu   sync.Mutex
		read float64
	)
	return func(ctx context.Context) (map[incident.Channel]float64, error) {
		mu.Lock()
		defer mu.Unlock()
		if emailRate == 0 && read == 0 {
			r, err := MaxSendRate(ctx, c)
			if err != nil {
				return nil, err
			}
			read = r
		}
		return map[incident.Channel]float64{incident.Email: max(emailRate, read), incident.Push: pushRate}, nil
	}
}
