// Package seed imports users from JSON Lines, one user a line, into the
// users table, registering their push tokens as SNS platform endpoints.
// It works the same against the local stack and against AWS.
package seed

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"breachnotify/shared/audience"
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

// Report is what an import did.
type Report struct {
	Imported  int
	Endpoints int
	Bad       []LineError
}

// maxLine bounds one user's line; a user with 49 devices fits easily.
const maxLine = 1 << 20

// Import reads users from r and writes each valid one. Bad lines are
// reported and skipped; a store or registrar failure stops the import,
// which is safe to run again since writing a user replaces it.
func Import(ctx context.Context, r io.Reader, store Store, reg Registrar) (Report, error) {
	var rep Report
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		u, err := parse(line)
		if err != nil {
			rep.Bad = append(rep.Bad, LineError{Line: n, Err: err})
			continue
		}
		for i, d := range u.Devices {
			if d.PushToken == "" || reg == nil {
				continue
			}
			arn, err := reg.Register(ctx, d.Platform, d.PushToken)
			if err != nil {
				return rep, fmt.Errorf("line %d: user %s device %s: %w", n, u.ID, d.ID, err)
			}
			u.Devices[i].EndpointARN = arn
			rep.Endpoints++
		}
		if err := store.Put(ctx, u); err != nil {
			return rep, fmt.Errorf("line %d: %w", n, err)
		}
		rep.Imported++
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("read users: %w", err)
	}
	return rep, nil
}

func parse(line []byte) (audience.User, error) {
	var u audience.User
	dec := json.NewDecoder(bytes.NewReader(line))
	// An unknown field is most likely a misspelt one whose data would be
	// silently lost.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		return u, fmt.Errorf("not a user record: %w", err)
	}
	if err := u.Validate(); err != nil {
		return u, err
	}
	return u, nil
}
