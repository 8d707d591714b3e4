// Package version compares app versions numerically, part by part, and encodes
// them as strings whose byte order is their numeric order, so that DynamoDB can
// answer "appVersion below X" with a key condition instead of a scan.
package version

import (
	"breachnotify/shared/errs"
	"fmt"
	"strconv"
	"strings"
)

const (
	// MaxParts bounds how many dot-separated parts a version may have; four
	// covers major.minor.patch.build, which is what app stores accept.
	MaxParts = 4
	// partWidth is the zero-padded width of one part in a Key; nine digits
	// keeps every part inside an int64 and covers date-like build numbers.
	partWidth = 9
	// maxLen is the longest version Parse can accept; a longer input is
	// rejected without being quoted, so an error never grows with it.
	maxLen = MaxParts*(partWidth+1) - 1
)

// ErrInvalid reports a version that is not 1 to MaxParts dot-separated
// decimal numbers of at most nine digits each.
var ErrInvalid = errs.New(errs.Invalid, "invalid version")

// Version is a parsed app version. Missing trailing parts are zero, so 1.2
// equals 1.2.0.
type Version struct {
	parts [MaxParts]int64
	raw   string
}

// Parse accepts "8.9.0", "8.10", "12"; it rejects pre-release suffixes,
// signs, spaces and empty parts, because guessing their order could wrongly
// exclude a vulnerable device.
func Parse(s string) (Version, error) {
	v := Version{raw: s}
	if s == "" {
		return v, fmt.Errorf("%w: empty", ErrInvalid)
	}
	if len(s) > maxLen {
		return v, fmt.Errorf("%w: %d bytes, longer than any version", ErrInvalid, len(s))
	}
	fields := strings.Split(s, ".")
	if len(fields) > MaxParts {
		return v, fmt.Errorf("%w: %q has more than %d parts", ErrInvalid, s, MaxParts)
	}
	for i, f := range fields {
		if f == "" || len(f) > partWidth || strings.Trim(f, "0123456789") != "" {
			return v, fmt.Errorf("%w: %q", ErrInvalid, s)
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return v, fmt.Errorf("%w: %q: %w", ErrInvalid, s, err)
		}
		v.parts[i] = n
	}
	return v, nil
}

// Compare returns -1, 0 or +1 as v is below, equal to or above w.
func (v Version) Compare(w Version) int {
	for i := range v.parts {
		switch {
		case v.parts[i] < w.parts[i]:
			return -1
		case v.parts[i] > w.parts[i]:
			return 1
		}
	}
	return 0
}

func (v Version) String() string { return v.raw }

// Key prefixes. An unparseable version sorts before every parseable one, so a
// "below X" range query also returns the devices whose version is unknown,
// and the caller decides what to do with them instead of never seeing them.
const (
	keyParsed   = "v#"
	keyUnparsed = "?#"
)

// Key encodes v so that comparing keys as byte strings equals Compare.
func (v Version) Key() string {
	var b strings.Builder
	b.WriteString(keyParsed)
	for i, p := range v.parts {
		if i > 0 {
			b.WriteByte('.')
		}
		fmt.Fprintf(&b, "%0*d", partWidth, p)
	}
	return b.String()
}

// KeyOf is the sort key of a raw version string: Key when it parses, else a
// key in the unparsed range that still carries the raw text for diagnosis.
func KeyOf(raw string) string {
	v, err := Parse(raw)
	if err != nil {
		return keyUnparsed + raw
	}
	return v.Key()
}

// IsUnparsedKey reports whether a key came from a version that did not parse.
func IsUnparsedKey(key string) bool { return strings.HasPrefix(key, keyUnparsed) }
