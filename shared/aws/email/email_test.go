package email

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"breachnotify/shared/dispatch"
)

type sendFunc func(context.Context, *sesv2.SendEmailInput, ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)

func (f sendFunc) SendEmail(ctx context.Context, in *sesv2.SendEmailInput, o ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	return f(ctx, in, o...)
}

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		class  dispatch.Class
		reason string
	}{
		{"rejected", &types.MessageRejected{}, dispatch.Permanent, "MessageRejected"},
		{"content rejected", &types.MessageRejected{Message: aws.String("Message rejected: the message contains a virus.")}, dispatch.Permanent, "MessageRejected"},
		{"sender not verified", &types.MessageRejected{Message: aws.String("Email address is not verified. The following identities failed the check in region US-EAST-1: security@example.com")},
			dispatch.Paused, "IdentityNotVerified"},
		{"sandbox recipient not verified", &types.MessageRejected{Message: aws.String("Email address is not verified. The following identities failed the check in region EU-WEST-1: ana@example.com")},
			dispatch.Paused, "IdentityNotVerified"},
		{"wrapped in an operation error", &smithy.OperationError{ServiceID: "SESv2", OperationName: "SendEmail",
			Err: &types.MessageRejected{Message: aws.String("Email address is not verified. The following identities failed the check in region US-EAST-1: ana@example.com, security@example.com")}},
			dispatch.Paused, "IdentityNotVerified"},
		{"bad address", &types.BadRequestException{}, dispatch.Permanent, "BadRequest"},
		{"paused", &types.SendingPausedException{}, dispatch.Paused, "SendingPaused"},
		{"suspended", &types.AccountSuspendedException{}, dispatch.Paused, "AccountSuspended"},
		{"mail from", &types.MailFromDomainNotVerifiedException{}, dispatch.Paused, "MailFromDomainNotVerified"},
		{"throttled", &types.TooManyRequestsException{}, dispatch.Retryable, "TooManyRequestsException"},
		{"5xx", &smithy.GenericAPIError{Code: "InternalFailure"}, dispatch.Retryable, "InternalFailure"},
		{"network", errors.New("connection reset"), dispatch.Retryable, "SendFailed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Sender{Client: sendFunc(func(context.Context, *sesv2.SendEmailInput, ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
				return nil, tc.err
			}), From: "security@example.com", ConfigurationSet: "cs"}
			_, err := s.Send(context.Background(), dispatch.Mail{To: "ana@example.com", Subject: "s"})
			var se *dispatch.SendError
			if !errors.As(err, &se) || se.Class != tc.class || se.Reason != tc.reason || se.Throttled != (tc.reason == "TooManyRequestsException") {
				t.Fatalf("err = %#v, want class %d reason %s", err, tc.class, tc.reason)
			}
		})
	}
}

// An unverified identity's rejection names addresses; none of them may
// reach the error the worker logs and unwraps.
func TestNotVerifiedKeepsNoAddress(t *testing.T) {
	s := &Sender{Client: sendFunc(func(context.Context, *sesv2.SendEmailInput, ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
		return nil, &types.MessageRejected{Message: aws.String("Email address is not verified. The following identities failed the check in region US-EAST-1: ana@example.com")}
	}), From: "security@example.com", ConfigurationSet: "cs"}
	_, err := s.Send(context.Background(), dispatch.Mail{To: "ana@example.com", Subject: "s"})
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.Contains(fmt.Sprintf("%v %+v", e, e), "@") {
			t.Errorf("error chain keeps an address: %v", e)
		}
	}
}

func TestSendRefusesUnsafeInputWithoutCallingSES(t *testing.T) {
	called := false
	s := &Sender{Client: sendFunc(func(context.Context, *sesv2.SendEmailInput, ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
		called = true
		return &sesv2.SendEmailOutput{}, nil
	})}
	for _, m := range []dispatch.Mail{
		{To: "ana@example.com\r\nBcc: evil@example.com", Subject: "s"},
		{To: "Ana <ana@example.com>", Subject: "s"},
		{To: "ana@example.com", Subject: "s\r\nBcc: evil@example.com"},
	} {
		_, err := s.Send(context.Background(), m)
		var se *dispatch.SendError
		if !errors.As(err, &se) || se.Class != dispatch.Permanent {
			t.Errorf("%q: err = %v, want permanent", m.To, err)
		}
	}
	if called {
		t.Error("SES was called with unsafe input")
	}
}

func TestSendTagsAndConfigurationSet(t *testing.T) {
	var got *sesv2.SendEmailInput
	s := &Sender{Client: sendFunc(func(_ context.Context, in *sesv2.SendEmailInput, _ ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
		got = in
		id := "m-1"
		return &sesv2.SendEmailOutput{MessageId: &id}, nil
	}), From: "security@example.com", ConfigurationSet: "breachnotify"}
	id, err := s.Send(context.Background(), dispatch.Mail{To: "ana@example.com", Subject: "s", Text: "t", HTML: "<p>h</p>",
		Tags: map[string]string{"incident": "INC-1", "notice": "n0-x"}})
	if err != nil || id != "m-1" {
		t.Fatal(id, err)
	}
	if *got.ConfigurationSetName != "breachnotify" || len(got.EmailTags) != 2 || *got.EmailTags[0].Name != "incident" {
		t.Errorf("input = %+v", got)
	}
}
