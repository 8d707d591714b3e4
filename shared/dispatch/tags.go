package dispatch

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"

	"breachnotify/shared/ledger"
)

// The email tags name the recipient a message was sent for, so that SES's
// delivery events (which carry them back) find its ledger record with no
// index by message id. They hold ids only, never personal data.
const (
	TagIncident = "incident"
	TagNotice   = "notice"
	TagUser     = "user"
)

// tagSafe is what SES accepts in a tag value: letters, digits, '_' and '-'
// (up to 256 characters).
var tagSafe = regexp.MustCompile(`^[A-Za-z0-9-][A-Za-z0-9_-]*$`)

// TagValue is id as an SES tag value: as it is when SES accepts it, else
// "_" and its unpadded URL-safe base64 (a user id may hold '.', '@', ...).
// An id that itself starts with "_" is encoded too, so ParseTagValue can
// always tell.
func TagValue(id string) string {
	if tagSafe.MatchString(id) {
		return id
	}
	return "_" + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// ParseTagValue is the id TagValue encoded as v.
func ParseTagValue(v string) (string, error) {
	enc, ok := strings.CutPrefix(v, "_")
	if !ok {
		return v, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", fmt.Errorf("tag value %q: %w", v, err)
	}
	return string(b), nil
}

// Tags are the email tags of a message to r.
func Tags(r ledger.Recipient) map[string]string {
	return map[string]string{TagIncident: TagValue(r.IncidentID), TagNotice: TagValue(r.NoticeID), TagUser: TagValue(r.UserID)}
}

// Recipient is the recipient tags name, if they name one.
func Recipient(tags map[string]string) (ledger.Recipient, error) {
	var r ledger.Recipient
	for _, f := range []struct {
		name string
		to   *string
	}{{TagIncident, &r.IncidentID}, {TagNotice, &r.NoticeID}, {TagUser, &r.UserID}} {
		v, ok := tags[f.name]
		if !ok || v == "" {
			return r, fmt.Errorf("no %q tag", f.name)
		}
		id, err := ParseTagValue(v)
		if err != nil {
			return r, err
		}
		*f.to = id
	}
	return r, nil
}
