// Package seed imports users from JSON Lines, one user a line, into the
// users table, registering their push tokens as SNS platform endpoints.
// It works the same against the local stack and against AWS.
package seed

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"breachnotify/shared/audience"
	"breachnotify/shared/incident"
	"breachnotify/shared/strictjson"
)

// Store writes users.
type Store interface {
	Put(ctx context.Context, u audience.User) error
}

// Registrar turns a device token into a platform endpoint ARN.
type Registrar interface {
	Register(ctx context.Context, platform, token string) (string, error)
}

// LineError is a line that was skipped, and why. It never quotes the line:
// lines hold personal data.
type LineError struct {
	Line int
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e LineError) Unwrap() error { return e.Err }

// Report is what an import did.
type Report struct {
	Imported  int
	Endpoints int
	// Bad lines could not be read as a valid user; Refused lines were
	// valid but the store or the registrar refused them. Both are skipped
	// and the import goes on.
	Bad     []LineError
	Refused []LineError
	// Lines is how many lines were read; after a fatal error, the import
	// resumes from the line after it (writing a user replaces it, so
	// importing a line twice is harmless).
	Lines int
}

// Import reads users from r and writes each valid one. A bad line, or one
// the store or the registrar refuses, is reported by number without its
// content, and the next lines are imported. Only an error that would fail
// every line (a broken connection, missing or expired credentials, a
// missing table, throttling that outlasted the SDK's retries, a cancelled
// context) stops the import; the error names the line to resume from.
func Import(ctx context.Context, r io.Reader, store Store, reg Registrar) (Report, error) {
	var rep Report
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		line, tooLong, err := readLine(br, incident.MaxLineBytes)
		if err != nil && !errors.Is(err, io.EOF) {
			return rep, fmt.Errorf("read users at line %d: %w", n, err)
		}
		if errors.Is(err, io.EOF) && line == nil && !tooLong {
			return rep, nil
		}
		rep.Lines = n
		if err := importLine(ctx, line, tooLong, store, reg, &rep); err != nil {
			var le LineError
			if !errors.As(err, &le) {
				return rep, fmt.Errorf("stopped at line %d (the lines before it are imported; resume from it): %w", n, err)
			}
			le.Line = n
			if errors.Is(err, errRefused) {
				rep.Refused = append(rep.Refused, le)
			} else {
				rep.Bad = append(rep.Bad, le)
			}
		}
		if errors.Is(err, io.EOF) {
			return rep, nil
		}
	}
}

// errRefused marks a line the store or the registrar refused.
var errRefused = errors.New("refused")

// importLine imports one line. It returns a LineError for a line that is
// skipped and any other error for one that stops the import.
func importLine(ctx context.Context, line []byte, tooLong bool, store Store, reg Registrar, rep *Report) error {
	if tooLong {
		return LineError{Err: fmt.Errorf("longer than %d bytes", incident.MaxLineBytes)}
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil
	}
	u, err := parse(line)
	if err != nil {
		return LineError{Err: err}
	}
	endpoints := 0
	for i, d := range u.Devices {
		if d.PushToken == "" || reg == nil {
			continue
		}
		arn, err := reg.Register(ctx, d.Platform, d.PushToken)
		if err != nil {
			if fatal(ctx, err) {
				return fmt.Errorf("register a push token: %s", errorCode(err))
			}
			return LineError{Err: fmt.Errorf("%w by the registrar: devices[%d].pushToken (%s)", errRefused, i, errorCode(err))}
		}
		u.Devices[i].EndpointARN = arn
		endpoints++
	}
	if err := store.Put(ctx, u); err != nil {
		if fatal(ctx, err) {
			return fmt.Errorf("write a user: %s", errorCode(err))
		}
		return LineError{Err: fmt.Errorf("%w by the store (%s)", errRefused, errorCode(err))}
	}
	rep.Imported++
	rep.Endpoints += endpoints
	return nil
}

// readLine reads one line of at most max bytes (without its newline). A
// longer line is read to its end and discarded, with tooLong set, so that
// the next line is read as usual.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > max+1 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil:
			if len(line) == 0 && !tooLong {
				line = nil
			}
			return line, tooLong, err
		}
		return bytes.TrimSuffix(line, []byte("\n")), tooLong, nil
	}
}

func parse(line []byte) (audience.User, error) {
	var u audience.User
	// Strict: an unknown field is most likely a misspelt one whose data
	// would be silently lost, and a key in another case or given twice
	// would be read differently by other tools.
	if err := strictjson.Decode(line, &u); err != nil {
		return u, fmt.Errorf("not a user record: %w", err)
	}
	if err := u.Validate(); err != nil {
		return u, err
	}
	return u, nil
}

// fatalCodes are AWS error codes that every later line would meet too:
// the caller's credentials, its permissions, the table, the service's
// capacity once the SDK's retries are spent.
var fatalCodes = []string{
	"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException", "ExpiredToken",
	"InvalidClientTokenId", "MissingAuthenticationToken", "AccessDeniedException", "AccessDenied",
	"AuthorizationError", "ResourceNotFoundException", "NotFound", "ProvisionedThroughputExceededException",
	"ThrottlingException", "Throttling", "RequestLimitExceeded", "ServiceUnavailable", "InternalServerError",
}

// fatal reports whether err would stop every later line as well. The
// adapters' errors are classified by shape, so this package needs no AWS
// import: SDK API errors have an ErrorCode method; a broken connection is
// a net.Error; missing credentials fail before any request is sent.
func fatal(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if slices.Contains(fatalCodes, errorCode(err)) {
		return true
	}
	return strings.Contains(err.Error(), "failed to retrieve credentials") || strings.Contains(err.Error(), "failed to refresh cached credentials")
}

// errorCode is the AWS error code of err, or "error": what a report may
// say about a refusal without quoting the adapter's message, which names
// the user.
func errorCode(err error) string {
	var coded interface{ ErrorCode() string }
	var ne net.Error
	switch {
	case errors.As(err, &coded) && coded.ErrorCode() != "":
		return coded.ErrorCode()
	case errors.As(err, &ne):
		return ne.Error()
	case errors.Is(err, context.Canceled):
		return context.Canceled.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded.Error()
	case strings.Contains(err.Error(), "credentials"):
		return "no valid credentials"
	}
	return "error"
}
