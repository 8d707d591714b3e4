package incident

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The limits every door enforces, in one place. Each bound names the store
// or service limit it keeps us under, so that an input too large for a later
// step is rejected at the door, with a reason, instead of failing that step
// (where an error may be retried for ever, dropped, or take real users down
// with it). docs/limits.md is this table in prose; keep the two together.
//
// The provider limits they derive from (checked in the AWS documentation,
// November 2026):
//   - DynamoDB: item ≤ 400 KB; partition key ≤ 2,048 bytes; sort key ≤ 1,024 bytes.
//   - SQS: one message, and one SendMessageBatch call in total, ≤ 1 MiB (1,048,576 bytes).
//   - SNS: message ≤ 256 KB; mobile push payload ≤ 4 KB (APNs, FCM).
//   - SES: a mail header line must not carry CR or LF; an address is
//     ASCII with a local part ≤ 64 and a whole ≤ 254 bytes (RFC 5321).
//   - EventBridge: a PutEvents entry ≤ 256 KB. Lambda: asynchronous
//     payload ≤ 1 MB, synchronous ≤ 6 MB; intake runs ≤ 60 s.
const (
	// MaxEventBytes bounds a whole event as intake receives it: EventBridge
	// delivers nothing larger than its 256 KB entry (plus the envelope), so
	// anything bigger was not sent through the bus.
	MaxEventBytes = 264 << 10
	// MaxDetailBytes bounds an event's detail. The incident record holds the
	// detail and, once planned, the unknown user ids (at most those the
	// detail names), so twice this stays under DynamoDB's 400 KB item.
	MaxDetailBytes = 128 << 10
	// MaxIDBytes bounds an incident id: it is part of every key (ledger,
	// plans, audit) and an SES message tag value (≤ 256 characters).
	MaxIDBytes = 64
	// MaxEventIDBytes bounds an EventBridge event id (a UUID, 36 bytes): it
	// is part of the receipt's sort key (≤ 1,024 bytes).
	MaxEventIDBytes = 128
	// MaxSourceBytes bounds an event's source and detail-type: EventBridge
	// allows 256 characters, and they are stored in receipts and the audit
	// trail.
	MaxSourceBytes = 256
	// MaxTitleRunes bounds a title: notices render at most 200 characters
	// of it (the email subject, the push title), and it is read from the
	// incident record by each worker.
	MaxTitleRunes = 200
	// MaxSummaryRunes bounds a summary, which is stored and shown, never
	// sent: 4,000 characters (≤ 16 KB) keep the incident record small.
	MaxSummaryRunes = 4000
	// MaxUpdateRunes and MaxUpdates bound the public page's timeline,
	// kept on the incident record: 25 entries of 1,000 characters are at
	// most 100 KB (4 bytes a character), which with twice MaxDetailBytes
	// keeps the record under DynamoDB's 400 KB item.
	MaxUpdateRunes = 1000
	MaxUpdates     = 25
	// MaxActorBytes bounds a name that decided something (confirmedBy):
	// it is written into audit entries and the evidence export.
	MaxActorBytes = 256
	// MaxNotices bounds the notices of one event. A cohort notice is 64
	// planning tasks (one per shard); ten notices are 640 tasks, which
	// intake queues well inside its 60 s.
	MaxNotices = 10
	// MaxUserIDs bounds an explicit audience; larger audiences are cohorts.
	MaxUserIDs = 1000
	// MaxFileKeyBytes is S3's limit on an object key (an audience file).
	MaxFileKeyBytes = 1024
	// MaxUserIDBytes bounds a user or device id: it is a partition key
	// (≤ 2,048 bytes) and part of the ledger's sort key (≤ 1,024 bytes,
	// with the notice id), and 1,000 of them fit a planning task.
	MaxUserIDBytes = 128
	// MaxTemplateBytes bounds a template name (names are short words; an
	// unknown one is quoted in the rejection).
	MaxTemplateBytes = 64
	// MaxNameRunes bounds a user's display name: notices render at most
	// 200 characters of it.
	MaxNameRunes = 200
	// MaxEmailBytes and MaxEmailLocalBytes are RFC 5321's path and local
	// part limits, which SES enforces.
	MaxEmailBytes      = 254
	MaxEmailLocalBytes = 64
	// MaxVersionBytes bounds an app version as imported. An unparseable
	// one is kept whole in the cohort index's sort key (≤ 1,024 bytes).
	MaxVersionBytes = 64
	// MaxLocaleBytes is BCP 47's recommended maximum tag length.
	MaxLocaleBytes = 35
	// MaxPushTokenBytes bounds a device token (APNs: 64 hex digits; FCM:
	// about 160 characters); 49 of them keep a user item far below 400 KB.
	MaxPushTokenBytes = 4096
	// MaxDevices bounds a user's devices: the user and its device index
	// items are written in one DynamoDB transaction (≤ 100 items: the
	// profile, the new devices and the removed ones).
	MaxDevices = 49
	// MaxLineBytes bounds one import line (one user): 49 devices with
	// the longest tokens fit, and a user item stays under 400 KB.
	MaxLineBytes = 256 << 10
	// MaxReasonProblems is how many problems a rejection names; the rest
	// are counted. MaxQuoteBytes is how much of a bad value a problem
	// quotes. Together they keep a reason under MaxReasonBytes, whatever
	// the event.
	MaxReasonProblems = 5
	MaxQuoteBytes     = 64
	MaxReasonBytes    = 2 << 10
	// MaxExcerptBytes is how much of a rejected event its receipt keeps,
	// beside the SHA-256 of the whole: a receipt always fits an item.
	MaxExcerptBytes = 4 << 10
	// MaxMessageBytes bounds one queue message (a planning task or a
	// recipient batch); SQS takes 1 MiB per message and per batch call.
	MaxMessageBytes = 256 << 10
	// MaxBatchCallBytes is SQS's limit on one SendMessageBatch call.
	MaxBatchCallBytes = 1 << 20
)

// Earliest and MaxAhead bound the times an event or an admin may state
// (detectedAt, confirmedAt, authority-notified): nothing this system
// records happened before 2000, and a clock may run ahead by minutes,
// not by more than a day. Outside these, a time is a typo (the year 9999)
// that would skew every deadline computed from it.
var Earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

const MaxAhead = 24 * time.Hour

// TimeProblem says what is wrong with a stated time, or "" if it is sane.
func TimeProblem(at, now time.Time) string {
	switch {
	case at.Before(Earliest):
		return fmt.Sprintf("%s is before %s", at.UTC().Format(time.RFC3339), Earliest.Format("2006"))
	case at.After(now.Add(MaxAhead)):
		return fmt.Sprintf("%s is more than %s in the future", at.UTC().Format(time.RFC3339), MaxAhead)
	}
	return ""
}

// Quote quotes s for a problem message, cut to MaxQuoteBytes (on a rune
// boundary) with its full length, so that no reason grows with its input.
func Quote(s string) string {
	if len(s) <= MaxQuoteBytes {
		return strconv.Quote(s)
	}
	n := MaxQuoteBytes
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:n], len(s))
}

// Hidden reports a character that shows as nothing or as something else:
// controls (C0, DEL, C1), format characters (Cf: zero-width spaces and
// joiners, bidi overrides and isolates, the soft hyphen), the line and
// paragraph separators, non-characters, and U+FFFD (invalid UTF-8).
func Hidden(r rune) bool {
	return r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) ||
		unicode.In(r, unicode.Zl, unicode.Zp, unicode.Noncharacter_Code_Point, unicode.Bidi_Control)
}

// ValidKey reports whether s can be a key part: 1 to maxBytes bytes of
// valid UTF-8, nothing hidden, no whitespace (NBSP included), and no '#',
// which separates key parts.
func ValidKey(s string, maxBytes int) bool {
	if s == "" || len(s) > maxBytes || !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return Hidden(r) || unicode.IsSpace(r) || r == '#' })
}

// TextProblem says what is wrong with a piece of prose (a title, a
// summary, a name), or "" if nothing is: it must be valid UTF-8 of at most
// maxRunes characters, with nothing hidden; multiline text may also hold
// line feeds and tabs.
func TextProblem(s string, maxRunes int, multiline bool) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	if n := utf8.RuneCountInString(s); n > maxRunes {
		return fmt.Sprintf("has %d characters, more than %d", n, maxRunes)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return Hidden(r) && !(multiline && (r == '\n' || r == '\t')) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return fmt.Sprintf("holds the invisible or control character %U", r)
	}
	return ""
}
