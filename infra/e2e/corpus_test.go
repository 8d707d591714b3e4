package e2e

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"breachnotify/infra/local"
	"breachnotify/infra/seed"
	"breachnotify/shared/audience"
	"breachnotify/shared/aws/push"
	"breachnotify/shared/incident"
	"breachnotify/shared/intake"
)

// The hostile corpus: the sample incident events, each put through a table
// of mutations a hostile or careless sender could make (sizes at and just
// over each limit, trailing data, duplicate and case-variant keys, unknown
// fields, wrong types, hidden characters, impossible times, deep nesting,
// invalid UTF-8), sent to the real intake bootstrap. Every event has an
// expected outcome: rejected with a reason, recorded as suspected, or
// planned. docs/testing.md says what it covers.

// mutation is one thing done to a sample event.
type mutation struct {
	name string
	// edit changes the decoded envelope and detail; raw then changes the
	// encoded event (for what encoding/json cannot write: duplicate keys,
	// invalid UTF-8, trailing data). Either may be nil.
	edit func(env, detail map[string]any)
	raw  func(payload []byte) []byte
	// reject is a phrase the rejection reason must hold; "" when the
	// event is valid and is planned (confirmed) or recorded (suspected).
	reject string
	// confirmedOnly: the rule holds for confirmed incidents only, so the
	// mutated suspected sample is valid and recorded.
	confirmedOnly bool
	// A mutation applies to the confirmed sample, and to the suspected
	// one too when its outcome differs there (a valid event is recorded,
	// not planned) or when suspected says so; only restricts it to one.
	suspected bool
	only      string
}

// absentUser replaces the real user in events expected to be planned: the
// planner finds no one, so the outbox stays unchanged, while an event
// planned by mistake (expected rejected) would notify u-000123 at once.
const realUser, absentUser = "u-000123", "u-corpus-absent"

// hidden are characters that show as nothing or as something else.
var hidden = []struct{ name, char string }{
	{"NUL", "\x00"}, {"ESC", "\x1b"}, {"DEL", "\x7f"}, {"NEL", "\u0085"}, {"soft hyphen", "\u00ad"},
	{"ZWSP", "\u200b"}, {"ZWJ", "\u200d"}, {"RLO", "\u202e"}, {"LRI", "\u2066"}, {"line separator", "\u2028"},
	{"paragraph separator", "\u2029"}, {"BOM", "\ufeff"}, {"noncharacter", "\uffff"}, {"replacement", "\ufffd"},
}

// set sets the value at a dotted path of the detail ("notices.0.title").
func set(path string, v any) func(env, detail map[string]any) {
	return func(_, detail map[string]any) { walk(detail, path, func(m map[string]any, k string) { m[k] = v }) }
}

// del deletes the field at a dotted path of the detail.
func del(path string) func(env, detail map[string]any) {
	return func(_, detail map[string]any) { walk(detail, path, func(m map[string]any, k string) { delete(m, k) }) }
}

// setEnv sets (or, with nil, deletes) an envelope field.
func setEnv(key string, v any) func(env, detail map[string]any) {
	return func(env, _ map[string]any) {
		if v == nil {
			delete(env, key)
			return
		}
		env[key] = v
	}
}

func walk(m map[string]any, path string, at func(map[string]any, string)) {
	parts := strings.Split(path, ".")
	var cur any = m
	for _, p := range parts[:len(parts)-1] {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[p]
		case []any:
			i, _ := strconv.Atoi(p)
			cur = c[i]
		}
	}
	at(cur.(map[string]any), parts[len(parts)-1])
}

// insertAfter inserts text after the first occurrence of anchor: a raw
// key or value where encoding/json would not write one.
func insertAfter(anchor, text string) func([]byte) []byte {
	return func(b []byte) []byte {
		i := bytes.Index(b, []byte(anchor))
		if i < 0 {
			panic("corpus: no " + anchor + " in the event")
		}
		i += len(anchor)
		return slices.Concat(b[:i], []byte(text), b[i:])
	}
}

// inDetail, inEnvelope, inNotice and inAudience insert a raw "key":value
// as the first member of that object.
func inDetail(kv string) func([]byte) []byte   { return insertAfter(`"detail":{`, kv+",") }
func inEnvelope(kv string) func([]byte) []byte { return insertAfter(`{`, kv+",") }
func inNotice(kv string) func([]byte) []byte   { return insertAfter(`"notices":[{`, kv+",") }
func inAudience(kv string) func([]byte) []byte { return insertAfter(`"audience":{`, kv+",") }

// sentinel marks a value that raw replaces with JSON text of its own.
const sentinel = "@@raw@@"

func rawValue(path, text string) (func(env, detail map[string]any), func([]byte) []byte) {
	return set(path, sentinel), func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"`+sentinel+`"`), []byte(text), 1)
	}
}

func nested(depth int) string { return strings.Repeat("[", depth) + strings.Repeat("]", depth) }

// mutations is the table. Families are generated: each text field at and
// just over its bound, each hidden character in each field that must
// refuse it.
func mutations(now time.Time) []mutation {
	day := func(d time.Duration) string { return now.Add(d).UTC().Format(time.RFC3339) }
	ms := []mutation{
		// The whole payload.
		{name: "trailing junk", suspected: true, raw: func(b []byte) []byte { return append(b, " junk"...) }, reject: "trailing data"},
		{name: "a second event after the first", raw: func(b []byte) []byte { return append(b, b...) }, reject: "trailing data"},
		{name: "trailing NUL", raw: func(b []byte) []byte { return append(b, 0) }, reject: "trailing data"},
		{name: "trailing bracket", raw: func(b []byte) []byte { return append(b, ']') }, reject: "trailing data"},
		{name: "leading byte-order mark", raw: func(b []byte) []byte { return append([]byte("\ufeff"), b...) }, reject: "not an EventBridge event"},
		{name: "cut in half", raw: func(b []byte) []byte { return b[:len(b)/2] }, reject: "not an EventBridge event"},
		{name: "not JSON", raw: func([]byte) []byte { return []byte("incident confirmed") }, reject: "not an EventBridge event"},
		{name: "an array", raw: func([]byte) []byte { return []byte("[]") }, reject: "not an EventBridge event"},
		{name: "null", raw: func([]byte) []byte { return []byte("null") }, reject: "detail-type"},
		{name: "a string", raw: func([]byte) []byte { return []byte(`"Incident Confirmed"`) }, reject: "not an EventBridge event"},
		{name: "over the event bound", edit: set("summary", strings.Repeat("a", incident.MaxEventBytes)), reject: "more than 270336"},
		{name: "a 1 MB title", edit: set("title", strings.Repeat("T", 1<<20)), reject: "more than 270336"},
		{name: "detail over its bound", edit: set("summary", strings.Repeat("a", incident.MaxDetailBytes)), reject: "more than 131072"},
		{name: "a 200 KB '<' title (1.2 MB escaped)", edit: set("title", strings.Repeat("<", 200_000)), reject: "more than 270336"},
		{name: "a 20,000 '<' title", edit: set("title", strings.Repeat("<", 20_000)), reject: "title has 20000 characters"},

		// The envelope.
		{name: "no detail-type", edit: setEnv("detail-type", nil), reject: "detail-type"},
		{name: "detail-type in lower case", edit: setEnv("detail-type", "incident confirmed"), reject: "detail-type"},
		{name: "detail-type of another event", edit: setEnv("detail-type", "Incident Resolved"), reject: "detail-type"},
		{name: "detail-type of 100 KB", edit: setEnv("detail-type", strings.Repeat("D", 100_000)), reject: "(100000 bytes)"},
		{name: "detail-type with an RLO", edit: setEnv("detail-type", "Incident \u202eConfirmed"), reject: "detail-type"},
		{name: "detail-type as a number", edit: setEnv("detail-type", 1), reject: "detail-type"},
		{name: "source over its bound", edit: setEnv("source", strings.Repeat("s", incident.MaxSourceBytes+1)), reject: "source"},
		{name: "source at its bound", edit: setEnv("source", strings.Repeat("s", incident.MaxSourceBytes))},
		{name: "source with a line feed", edit: setEnv("source", "acme.detection\nBcc: x"), reject: "source"},
		{name: "event id over its bound", edit: setEnv("id", strings.Repeat("e", incident.MaxEventIDBytes+1)), reject: "is not an event id"},
		{name: "event id at its bound", edit: func(env, _ map[string]any) {
			env["id"] = env["id"].(string) + strings.Repeat("e", incident.MaxEventIDBytes-len(env["id"].(string)))
		}},
		{name: "event id of 100 KB", edit: setEnv("id", strings.Repeat("e", 100_000)), reject: "is not an event id"},
		{name: "event id with a NUL", edit: setEnv("id", "6a7e8feb\x00"), reject: "is not an event id"},
		{name: "event id as a number", edit: setEnv("id", 7), reject: "not an EventBridge event"},
		{name: "a replay's extra envelope field", edit: setEnv("replay-name", "replay-2014")},
		{name: "an unknown envelope field nested too deep", raw: inEnvelope(`"x":` + nested(200)), reject: "nested deeper"},
		{name: "duplicate detail-type", raw: inEnvelope(`"detail-type":"Incident Suspected"`), reject: "duplicate key"},
		{name: "case-variant Detail", raw: inEnvelope(`"Detail":{}`), reject: `key must be spelt "detail"`},
		{name: "case-variant detail-Type", raw: inEnvelope(`"detail-Type":"Incident Confirmed"`), reject: `key must be spelt "detail-type"`},
		{name: "duplicate detail", raw: inEnvelope(`"detail":{"incidentId":"INC-X"}`), reject: "duplicate key"},
		{name: "envelope time not a time", edit: setEnv("time", "yesterday"), reject: "not an EventBridge event"},
		{name: "resources not a list", edit: setEnv("resources", "arn:aws:x"), reject: "not an EventBridge event"},
		{name: "invalid UTF-8 in the source", edit: setEnv("source", sentinel), raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte(sentinel), []byte("acme\xff\xfe"), 1)
		}, reject: "source"},
		{name: "no detail", edit: setEnv("detail", nil), reject: "detail is missing"},
		{name: "null detail", raw: insertAfter(`"detail":`, `null,"x":`), reject: "detail is missing"},
		{name: "detail as a string", raw: insertAfter(`"detail":`, `"{}","x":`), reject: "detail: json"},
		{name: "detail as an array", suspected: true, raw: insertAfter(`"detail":`, `[],"x":`), reject: "detail: json"},
		{name: "detail as a number", raw: insertAfter(`"detail":`, `42,"x":`), reject: "detail: json"},
		{name: "empty detail", raw: insertAfter(`"detail":`, `{},"x":`), reject: "incidentId"},

		// Keys in the detail.
		{name: "duplicate status", suspected: true, raw: inDetail(`"status":"suspected"`), reject: `"detail.status": duplicate key`},
		{name: "case-variant Status", suspected: true, raw: inDetail(`"Status":"confirmed"`), reject: `key must be spelt "status"`},
		{name: "long-s ſtatus", suspected: true, raw: inDetail(`"ſtatus":"confirmed"`), reject: `key must be spelt "status"`},
		{name: "case-variant TITLE", raw: inDetail(`"TITLE":"x"`), reject: `key must be spelt "title"`},
		{name: "long-s noticeſ", raw: inDetail(`"noticeſ":[]`), reject: `key must be spelt "notices"`},
		{name: "duplicate incidentId", raw: inDetail(`"incidentId":"INC-OTHER"`), reject: "duplicate key"},
		{name: "duplicate notices", raw: inDetail(`"notices":[]`), reject: "duplicate key"},
		{name: "unknown field", suspected: true, raw: inDetail(`"severity":"high"`), reject: `"severity": unknown field`},
		{name: "a hundred unknown fields", raw: inDetail(unknownFields(100)), reject: "and 95 more"},
		{name: "an unknown field of 100 KB name", raw: inDetail(`"` + strings.Repeat("k", 100_000) + `":1`), reject: "unknown field"},
		{name: "__proto__", raw: inDetail(`"__proto__":{"status":"confirmed"}`), reject: "unknown field"},
		{name: "unknown field in a notice", raw: inNotice(`"priority":"high"`), reject: `"notices[0].priority": unknown field`},
		{name: "case-variant Template in a notice", raw: inNotice(`"Template":"account-accessed"`), reject: `key must be spelt "template"`},
		{name: "unknown field in an audience", raw: inAudience(`"everyone":true`), reject: "unknown field"},
		{name: "duplicate userIds", raw: inAudience(`"userIds":["u-000200"]`), reject: "duplicate key"},
		{name: "case-variant UserIDs", raw: inAudience(`"UserIDs":["u-000200"]`), reject: `key must be spelt "userIds"`},
		{name: "detail nested too deep", raw: inDetail(`"x":` + nested(200)), reject: "nested deeper"},
		{name: "notices nested too deep", raw: inNotice(`"x":` + nested(100)), reject: "nested deeper"},

		// Wrong types.
		{name: "incidentId as a number", edit: set("incidentId", 2014), reject: "incidentId"},
		{name: "incidentId as a list", edit: set("incidentId", []any{"INC-1"}), reject: "incidentId"},
		{name: "status as a bool", edit: set("status", true), reject: "status"},
		{name: "title as an object", edit: set("title", map[string]any{"en": "x"}), reject: "title"},
		{name: "summary as a number", edit: set("summary", 1), reject: "summary"},
		{name: "detectedAt as a number", edit: set("detectedAt", 1401142200), reject: "Time.UnmarshalJSON"},
		{name: "notices as an object", edit: set("notices", map[string]any{"0": "x"}), reject: "notices"},
		{name: "a notice as a string", edit: set("notices", []any{"account-accessed"}), reject: "notices"},
		{name: "channels as a string", edit: set("notices.0.channels", "email"), reject: "channels"},
		{name: "userIds as a string", edit: set("notices.0.audience.userIds", "u-000123"), reject: "userIds"},
		{name: "a user id as a number", edit: set("notices.0.audience.userIds", []any{123}), reject: "userIds"},
		{name: "audience as a list", edit: set("notices.0.audience", []any{}), reject: "audience"},

		// Required fields and values.
		{name: "no incidentId", edit: del("incidentId"), reject: "incidentId"},
		{name: "null incidentId", edit: set("incidentId", nil), reject: "incidentId"},
		{name: "no status", edit: del("status"), reject: "status is required"},
		{name: "status in capitals", edit: set("status", "CONFIRMED"), reject: "status"},
		{name: "status with a trailing space", edit: set("status", "confirmed "), reject: "status"},
		{name: "status resolved", edit: set("status", "resolved"), reject: "status"},
		{name: "no title", edit: del("title"), reject: "title is required"},
		{name: "blank title", edit: set("title", " \t "), reject: "title is required"},
		{name: "null title", edit: set("title", nil), reject: "title is required"},
		{name: "no detectedAt", edit: del("detectedAt"), reject: "detectedAt is required"},
		{name: "no confirmedAt", edit: del("confirmedAt"), reject: "confirmedAt is required", confirmedOnly: true},
		{name: "no confirmedBy", edit: del("confirmedBy"), reject: "confirmedBy is required", confirmedOnly: true},
		{name: "blank confirmedBy", edit: set("confirmedBy", "   "), reject: "confirmedBy is required", confirmedOnly: true},
		{name: "no notices", edit: del("notices"), reject: "at least one notice", confirmedOnly: true},
		{name: "empty notices", edit: set("notices", []any{}), reject: "at least one notice", confirmedOnly: true},
		{name: "null notices", edit: set("notices", nil), reject: "at least one notice", confirmedOnly: true},
		{name: "status suspected under Incident Confirmed", edit: set("status", "suspected"), only: "confirmed"},
		{name: "status confirmed under Incident Suspected", edit: func(_, d map[string]any) {
			d["status"], d["confirmedAt"], d["confirmedBy"] = "confirmed", "2014-06-01T07:50:00Z", "secops:jane"
		}, only: "suspected"},

		// Times.
		{name: "detectedAt in 9999", suspected: true, edit: set("detectedAt", "9999-01-01T00:00:00Z"), reject: "detectedAt 9999"},
		{name: "confirmedAt in 9999", edit: set("confirmedAt", "9999-01-01T00:00:00Z"), reject: "confirmedAt 9999"},
		{name: "detectedAt in 1970", edit: set("detectedAt", "1970-01-01T00:00:00Z"), reject: "detectedAt 1970"},
		{name: "detectedAt just before 2000", edit: set("detectedAt", "1999-12-31T23:59:59Z"), reject: "before 2000"},
		{name: "detectedAt at 2000, the earliest", edit: set("detectedAt", "2000-01-01T00:00:00Z")},
		{name: "detectedAt the zero time", edit: set("detectedAt", "0001-01-01T00:00:00Z"), reject: "detectedAt is required"},
		{name: "detectedAt two days ahead", edit: set("detectedAt", day(48*time.Hour)), reject: "in the future"},
		{name: "times an hour ahead", edit: func(_, d map[string]any) { d["detectedAt"], d["confirmedAt"] = day(time.Hour), day(time.Hour) }},
		{name: "confirmedAt before detectedAt", edit: set("confirmedAt", "2014-05-01T00:00:00Z"), reject: "is before detectedAt", confirmedOnly: true},
		{name: "detectedAt without a zone", edit: set("detectedAt", "2014-05-26T22:10:00"), reject: "parsing time"},
		{name: "detectedAt a date only", edit: set("detectedAt", "2014-05-26"), reject: "parsing time"},
		{name: "detectedAt in words", edit: set("detectedAt", "yesterday"), reject: "parsing time"},
		{name: "detectedAt of 100 KB", edit: set("detectedAt", strings.Repeat("9", 100_000)), reject: "parsing time"},

		// Notices.
		{name: "ten notices, the most", edit: copies(incident.MaxNotices)},
		{name: "eleven notices", suspected: true, edit: copies(incident.MaxNotices + 1), reject: "notices has 11 notices, more than 10"},
		{name: "a thousand notices", edit: copies(1000), reject: "notices has 1000 notices"},
		{name: "2,100 notices", edit: copies(2100), reject: "more than 131072"},
		{name: "no template", edit: del("notices.0.template"), reject: "template is required"},
		{name: "unknown template", edit: set("notices.0.template", "reset-password"), reject: `template "reset-password" is unknown`},
		{name: "template in capitals", edit: set("notices.0.template", "Account-Accessed"), reject: "is unknown"},
		{name: "template of 100 KB", edit: set("notices.0.template", strings.Repeat("t", 100_000)), reject: "(100000 bytes) is unknown"},
		{name: "no channels", edit: del("notices.0.channels"), reject: "channels must name"},
		{name: "channel sms", edit: set("notices.0.channels", []any{"sms"}), reject: `channels[0] "sms"`},
		{name: "channel twice", edit: set("notices.0.channels", []any{"email", "email"}), reject: "twice"},
		{name: "channel in capitals", edit: set("notices.0.channels", []any{"EMAIL"}), reject: `"EMAIL"`},
		{name: "a thousand bad channels", edit: set("notices.0.channels", slices.Repeat([]any{"fax"}, 1000)), reject: "and 995 more problems"},
		{name: "empty audience", edit: set("notices.0.audience", map[string]any{}), reject: "audience is empty"},
		{name: "null audience", edit: set("notices.0.audience", nil), reject: "audience is empty"},
		{name: "a cohort of windows", edit: withCohort([]any{"windows"}, "8.9.0"), reject: `platforms[0] "windows"`},
		{name: "a platform twice", edit: withCohort([]any{"android", "android"}, "8.9.0"), reject: "twice"},
		{name: "a platform in capitals", edit: withCohort([]any{"Android"}, "8.9.0"), reject: `"Android"`},
		{name: "a cohort without a version", edit: withCohort([]any{"android"}, ""), reject: "appVersionBelow is required"},
		{name: "a version without platforms", edit: set("notices.0.audience.appVersionBelow", "8.9.0"), reject: "needs platforms"},
		{name: "a version of words", edit: withCohort([]any{"android"}, "banana"), reject: "appVersionBelow"},
		{name: "a version of five parts", edit: withCohort([]any{"android"}, "1.2.3.4.5"), reject: "appVersionBelow"},
		{name: "a version of ten digits", edit: withCohort([]any{"android"}, "1234567890.0"), reject: "appVersionBelow"},
		{name: "a version of 100 KB", edit: withCohort([]any{"android"}, strings.Repeat("9", 100_000)), reject: "appVersionBelow"},
		{name: "update-app without fixedVersion", edit: set("notices.0.template", "update-app"), reject: "fixedVersion is required"},
		{name: "a fixedVersion of words", edit: set("notices.0.fixedVersion", "latest"), reject: "fixedVersion"},

		// Explicit audiences.
		{name: "a thousand user ids, the most", edit: userIDs(incident.MaxUserIDs, true)},
		{name: "1,001 user ids", edit: userIDs(incident.MaxUserIDs+1, true), reject: "1001 ids, more than 1000"},
		{name: "10,000 empty user ids", suspected: true, edit: userIDs(10_000, false), reject: "more problems"},
		{name: "a user id at its bound", edit: set("notices.0.audience.userIds", []any{absentUser + strings.Repeat("x", incident.MaxUserIDBytes-len(absentUser))})},
		{name: "a user id over its bound", edit: set("notices.0.audience.userIds", []any{strings.Repeat("u", incident.MaxUserIDBytes+1)}), reject: "is not a user id"},
		{name: "a user id over DynamoDB's key size", suspected: true, edit: set("notices.0.audience.userIds", []any{strings.Repeat("u", 2049)}), reject: "(2049 bytes) is not a user id"},
		{name: "a user id of 100 KB", edit: set("notices.0.audience.userIds", []any{strings.Repeat("u", 100_000)}), reject: "is not a user id"},
		{name: "a user id of '<'", edit: set("notices.0.audience.userIds", []any{strings.Repeat("<", 129)}), reject: "is not a user id"},
		{name: "an empty user id", edit: set("notices.0.audience.userIds", []any{""}), reject: "is not a user id"},
		{name: "a user id with '#'", edit: set("notices.0.audience.userIds", []any{"u#000123"}), reject: "is not a user id"},
		{name: "a user id with a space", edit: set("notices.0.audience.userIds", []any{"u 000123"}), reject: "is not a user id"},
		{name: "a user id with an NBSP", edit: set("notices.0.audience.userIds", []any{"u\u00a0000123"}), reject: "is not a user id"},
		{name: "a user id with an ideographic space", edit: set("notices.0.audience.userIds", []any{"u\u3000000123"}), reject: "is not a user id"},

		// Text at and over its bounds.
		{name: "title at its bound", edit: set("title", strings.Repeat("T", incident.MaxTitleRunes))},
		{name: "title of CJK at its bound", edit: set("title", strings.Repeat("漏", incident.MaxTitleRunes))},
		{name: "title of '<' at its bound", edit: set("title", strings.Repeat("<", incident.MaxTitleRunes))},
		{name: "title over its bound", suspected: true, edit: set("title", strings.Repeat("T", incident.MaxTitleRunes+1)), reject: "title has 201 characters"},
		{name: "title of emoji over its bound", edit: set("title", strings.Repeat("🔓", incident.MaxTitleRunes+1)), reject: "title has 201 characters"},
		{name: "title with a line feed", edit: set("title", "Breach\nBcc: all@example.com"), reject: "title holds"},
		{name: "title with a carriage return", edit: set("title", "Breach\r"), reject: "title holds"},
		{name: "title with a tab", edit: set("title", "Breach\there"), reject: "title holds"},
		{name: "summary at its bound", edit: set("summary", strings.Repeat("s", incident.MaxSummaryRunes))},
		{name: "summary over its bound", edit: set("summary", strings.Repeat("s", incident.MaxSummaryRunes+1)), reject: "summary has 4001 characters"},
		{name: "summary with lines and tabs", edit: set("summary", "one\n\ttwo\nthree")},
		{name: "summary with a carriage return", edit: set("summary", "one\r\ntwo"), reject: "summary holds"},
		{name: "summary of 100,000 characters", edit: set("summary", strings.Repeat("s", 100_000)), reject: "summary has 100000 characters"},
		{name: "confirmedBy at its bound", edit: set("confirmedBy", strings.Repeat("c", incident.MaxActorBytes))},
		{name: "confirmedBy over its bound", edit: set("confirmedBy", strings.Repeat("c", incident.MaxActorBytes+1)), reject: "confirmedBy is 257 bytes"},
		{name: "confirmedBy with a line feed", edit: set("confirmedBy", "secops:jane\nsecops:omar"), reject: "confirmedBy holds"},
		{name: "incidentId at its bound", edit: func(_, d map[string]any) {
			d["incidentId"] = d["incidentId"].(string) + strings.Repeat("X", incident.MaxIDBytes-len(d["incidentId"].(string)))
		}},
		{name: "incidentId over its bound", edit: set("incidentId", strings.Repeat("I", incident.MaxIDBytes+1)), reject: "incidentId"},
		{name: "incidentId of 100 KB", suspected: true, edit: set("incidentId", strings.Repeat("I", 100_000)), reject: "(100000 bytes) must be"},
		{name: "incidentId with '#'", edit: set("incidentId", "INC#2014"), reject: "incidentId"},
		{name: "incidentId with a space", edit: set("incidentId", "INC 2014"), reject: "incidentId"},
		{name: "incidentId with an accent", edit: set("incidentId", "INC-é"), reject: "incidentId"},
		{name: "incidentId with a slash", edit: set("incidentId", "INC/../2014"), reject: "incidentId"},
		{name: "a lone surrogate in the title", edit: set("title", sentinel), raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte(sentinel), []byte(`Breach \ud800`), 1)
		}, reject: "title holds"},
	}
	// Invalid UTF-8 wherever a string is read.
	for _, f := range []struct{ path, reason string }{
		// The decoder reads invalid bytes as U+FFFD, which is refused as hidden.
		{"title", "title holds"}, {"summary", "summary holds"},
		{"confirmedBy", "confirmedBy holds"}, {"incidentId", "incidentId"},
		{"notices.0.audience.userIds", "is not a user id"}, {"notices.0.template", "is unknown"},
	} {
		edit, raw := rawValue(f.path, "\"bad \xff\xfe\xc0\x80 bytes\"")
		if strings.HasSuffix(f.path, "userIds") {
			edit, raw = rawValue(f.path, "[\"u-\xff\"]")
		}
		ms = append(ms, mutation{name: "invalid UTF-8 in " + f.path, edit: edit, raw: raw, reject: f.reason})
	}
	// Hidden characters: every one in a title, a user id and the source;
	// a few in the other fields that refuse them.
	for _, h := range hidden {
		ms = append(ms,
			mutation{name: h.name + " in the title", edit: set("title", "Breach"+h.char+"notice"), reject: "title holds"},
			mutation{name: h.name + " in a user id", edit: set("notices.0.audience.userIds", []any{"u-000" + h.char + "123"}), reject: "is not a user id"},
			mutation{name: h.name + " in the source", edit: setEnv("source", "acme"+h.char+".detection"), reject: "source"})
		if !strings.Contains("NUL NEL ZWSP RLO line separator", h.name) {
			continue
		}
		ms = append(ms,
			mutation{name: h.name + " in the summary", edit: set("summary", "Breach"+h.char+"notice"), reject: "summary holds"},
			mutation{name: h.name + " in confirmedBy", edit: set("confirmedBy", "secops:"+h.char+"jane"), reject: "confirmedBy holds"},
			mutation{name: h.name + " in the incidentId", edit: func(_, d map[string]any) { d["incidentId"] = d["incidentId"].(string) + h.char }, reject: "incidentId"})
	}
	return ms
}

// unknownFields is n distinct unknown "key":value members.
func unknownFields(n int) string {
	kv := make([]string, n)
	for i := range kv {
		kv[i] = fmt.Sprintf(`"x%d":1`, i)
	}
	return strings.Join(kv, ",")
}

// copies makes the detail's first notice n notices.
func copies(n int) func(env, detail map[string]any) {
	return func(_, d map[string]any) {
		first := d["notices"].([]any)[0]
		d["notices"] = slices.Repeat([]any{first}, n)
	}
}

// withCohort gives the first notice a device cohort.
func withCohort(platforms []any, below string) func(env, detail map[string]any) {
	return func(_, d map[string]any) {
		a := d["notices"].([]any)[0].(map[string]any)["audience"].(map[string]any)
		a["platforms"] = platforms
		if below != "" {
			a["appVersionBelow"] = below
		}
	}
}

// userIDs gives the first notice n user ids (empty ones when !named). The
// named ones all fall in one shard, so that planning them is one task.
func userIDs(n int, named bool) func(env, detail map[string]any) {
	ids := make([]any, 0, n)
	for i := 0; len(ids) < n; i++ {
		id := ""
		if named {
			if id = fmt.Sprintf("%s-%d", absentUser, i); audience.UserShard(id) != 0 {
				continue
			}
		}
		ids = append(ids, id)
	}
	return func(_, d map[string]any) {
		d["notices"].([]any)[0].(map[string]any)["audience"] = map[string]any{"userIds": ids}
	}
}

// maxReceiptItem is what a rejection's receipt may take: its excerpt, its
// reason, and ids and names within their bounds. DynamoDB's limit is 400
// KB; a receipt that grew with its event would reach it.
const maxReceiptItem = incident.MaxExcerptBytes + incident.MaxReasonBytes + 4<<10

type hostileCase struct {
	name    string
	payload []byte
	want    intake.Outcome
	reason  string
}

// hostileCorpus applies the mutations to the confirmed sample and, where
// the outcome differs or the table says so, to the suspected one. The samples keep their explicit notice only (the cohort notice
// would be held for approval, so an event planned by mistake would send
// nothing and go unseen); each event has its own incident and event id.
func hostileCorpus(t *testing.T, run string, now time.Time) []hostileCase {
	t.Helper()
	samples := map[string]string{"confirmed": "incident-confirmed.json", "suspected": "incident-suspected.json"}
	var out []hostileCase
	for i, m := range mutations(now) {
		for _, sample := range []string{"confirmed", "suspected"} {
			differs := m.reject == "" || m.confirmedOnly
			if m.only != "" && m.only != sample || sample == "suspected" && m.only == "" && !differs && !m.suspected {
				continue
			}
			var env map[string]any
			if err := json.Unmarshal(readEvent(t, samples[sample]), &env); err != nil {
				t.Fatal(err)
			}
			detail := env["detail"].(map[string]any)
			detail["notices"] = detail["notices"].([]any)[:1]
			n := len(out)
			env["id"] = fmt.Sprintf("%s-%04d", run, n)
			detail["incidentId"] = fmt.Sprintf("HC-%s-%04d", run, n)
			if m.edit != nil {
				m.edit(env, detail)
			}
			b, err := json.Marshal(env)
			if err != nil {
				t.Fatalf("%s: %v", m.name, err)
			}
			if m.raw != nil {
				b = m.raw(b)
			}
			c := hostileCase{name: fmt.Sprintf("%03d %s (%s)", i, m.name, sample), payload: b, want: intake.Rejected, reason: m.reject}
			if m.reject == "" || (m.confirmedOnly && sample == "suspected") {
				c.want, c.reason = intake.Planned, ""
				if sample == "suspected" || m.only == "confirmed" {
					c.want = intake.Recorded
				}
				c.payload = bytes.ReplaceAll(c.payload, []byte(`"`+realUser+`"`), []byte(`"`+absentUser+`"`))
			}
			out = append(out, c)
		}
	}
	// The valid events go first (see TestHostileCorpus).
	rejected := func(c hostileCase) int {
		if c.want == intake.Rejected {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(out, func(a, b hostileCase) int { return cmp.Compare(rejected(a), rejected(b)) })
	return out
}

// TestHostileCorpus sends every event of the corpus to the real intake
// bootstrap and checks its outcome: a rejection says why, within its
// bound, and is recorded with the event's SHA-256 in a receipt that fits
// a DynamoDB item; a suspected event is recorded as suspected; a valid
// confirmed one is planned. Nothing is sent.
//
// It runs on a stack of its own: moto's dashboard, which the outbox reads
// for pushes, slows down with every item ever written (by some 13 s after
// the corpus), and would slow every later test of the shared stack.
func TestHostileCorpus(t *testing.T) {
	needStack(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(tmpDir, "corpus")
	s, err := startStack(ctx, dir, local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Down(dir)
	before := outbox(t, s)
	t.Run("events", func(t *testing.T) { hostileEvents(ctx, t, s) })
	t.Run("import lines", func(t *testing.T) { hostileImport(ctx, t, s) })

	// What was planned found no one, and nothing else was queued: the
	// outbox is as it was.
	if err := s.Drain(ctx, drainWait); err != nil {
		t.Fatal(err)
	}
	if sent := since(before, outbox(t, s)); len(sent) != 0 {
		t.Errorf("%d notices sent by the hostile corpus: %v", len(sent), sentKeys(sent))
	}
}

func hostileEvents(ctx context.Context, t *testing.T, s *local.State) {
	start := time.Now()
	run := strconv.FormatInt(start.UnixMilli()%1e8, 36)
	cases := hostileCorpus(t, run, start)

	type result struct {
		intake.Result
		err error
	}
	results := make([]result, len(cases))
	invoke := func(cases []hostileCase, results []result) {
		for i, c := range cases {
			body, err := s.Invoke(ctx, "IntakeFunction", c.payload)
			if err == nil {
				err = json.Unmarshal(body, &results[i].Result)
			}
			results[i].err = err
		}
	}
	// The valid events come first, and their planning is drained before
	// the rest are sent: the planner's transactions beside a flood of
	// intake writes make moto answer HTTP 500, and a planning task that
	// failed stays invisible for its 90-minute visibility timeout.
	valid := slices.IndexFunc(cases, func(c hostileCase) bool { return c.want == intake.Rejected })
	invoke(cases[:valid], results[:valid])
	if err := s.Drain(ctx, drainWait); err != nil {
		t.Fatalf("planning the valid events: %v", err)
	}
	invoke(cases[valid:], results[valid:])
	invoked := time.Since(start)

	// What intake stored for the corpus, in one scan: each rejection's
	// receipt (by the SHA-256 of its event), with its partition and item
	// size, and the incidents recorded.
	type stored struct {
		pk   string
		size int
		intake.Receipt
	}
	receipts := map[string]stored{}
	states := map[string]incident.State{}
	decode := func(item map[string]types.AttributeValue, v any) {
		if err := attributevalue.UnmarshalMapWithOptions(item, v, func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }); err != nil {
			t.Fatal(err)
		}
	}
	scan := dynamodb.NewScanPaginator(dynamodb.NewFromConfig(s.Config()), &dynamodb.ScanInput{
		TableName:        aws.String(s.Names["IncidentsTable"]),
		FilterExpression: aws.String("begins_with(pk, :run) OR pk = :rejected"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":run": &types.AttributeValueMemberS{Value: "HC-" + run + "-"}, ":rejected": &types.AttributeValueMemberS{Value: "#rejected"},
		},
	})
	for scan.HasMorePages() {
		page, err := scan.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range page.Items {
			var key struct {
				PK string `json:"pk"`
				SK string `json:"sk"`
			}
			decode(item, &key)
			switch {
			case key.SK == "incident":
				var rec incident.Record
				decode(item, &rec)
				states[key.PK] = rec.State
			case strings.HasPrefix(key.SK, "event#"):
				rc := stored{pk: key.PK, size: itemSize(item)}
				decode(item, &rc.Receipt)
				if rc.RawSHA256 != "" {
					receipts[rc.RawSHA256] = rc
				}
			}
		}
	}

	counts := map[intake.Outcome]int{}
	failed := 0
	for i, c := range cases {
		res := results[i]
		fail := func(format string, args ...any) {
			failed++
			if failed <= 40 {
				t.Errorf("%s: "+format, append([]any{c.name}, args...)...)
			}
		}
		if res.err != nil {
			fail("intake failed: %.300v", res.err)
			continue
		}
		counts[res.Outcome]++
		if res.Outcome != c.want {
			fail("outcome %s (%.300q), want %s", res.Outcome, res.Reason, c.want)
			continue
		}
		switch c.want {
		case intake.Rejected:
			if !strings.Contains(res.Reason, c.reason) || len(res.Reason) > incident.MaxReasonBytes {
				fail("reason %.300q (%d bytes), want one naming %q within %d bytes", res.Reason, len(res.Reason), c.reason, incident.MaxReasonBytes)
			}
			sum := sha256.Sum256(c.payload)
			rc, ok := receipts[hex.EncodeToString(sum[:])]
			pk := cmp.Or(res.IncidentID, "#rejected")
			switch {
			case !ok || rc.pk != pk:
				fail("no receipt with the event's SHA-256 under %q", pk)
			case rc.Outcome != intake.Rejected || rc.Reason != res.Reason || rc.RawBytes != len(c.payload):
				fail("receipt %s %.100q of %d bytes, want rejected with the reason, of %d bytes", rc.Outcome, rc.Reason, rc.RawBytes, len(c.payload))
			case len(rc.Raw) > incident.MaxExcerptBytes || !strings.HasPrefix(string(c.payload), strings.TrimSuffix(rc.Raw, "…")) && utf8.Valid(c.payload):
				fail("receipt keeps %d bytes of the event, want an excerpt of at most %d", len(rc.Raw), incident.MaxExcerptBytes)
			case rc.size > maxReceiptItem:
				fail("receipt item is %d bytes, want at most %d (DynamoDB takes 400 KB)", rc.size, maxReceiptItem)
			}
		case intake.Planned:
			if res.Tasks == 0 {
				fail("planned with no tasks")
			}
		}
		if c.want != intake.Rejected {
			want := incident.StateSending
			if c.want == intake.Recorded {
				want = incident.StateSuspected
			}
			if got := states[res.IncidentID]; got != want {
				fail("incident %s is %q, want %s", res.IncidentID, got, want)
			}
		}
	}
	if failed > 40 {
		t.Errorf("… and %d more failures", failed-40)
	}

	t.Logf("%d hostile events: %d rejected, %d suspected, %d planned (intake %s, in all %s)",
		len(cases), counts[intake.Rejected], counts[intake.Recorded], counts[intake.Planned],
		invoked.Round(time.Second), time.Since(start).Round(time.Second))
	if n := len(cases); n < 200 || counts[intake.Rejected]+counts[intake.Recorded]+counts[intake.Planned] != n {
		t.Errorf("%d events, outcomes %v: want at least 200, each with one of the three outcomes", n, counts)
	}
}

// importMutation is one thing done to a valid user line. Every value of
// the line holds "secret", which no report of it may quote.
type importMutation struct {
	name string
	edit func(u map[string]any)
	raw  func(line []byte) []byte
}

func setUser(key string, v any) func(map[string]any) {
	return func(u map[string]any) { u[key] = v }
}

func setDevice(key string, v any) func(map[string]any) {
	return func(u map[string]any) { u["devices"].([]any)[0].(map[string]any)[key] = v }
}

func importMutations() []importMutation {
	ms := []importMutation{
		{name: "not JSON", raw: func([]byte) []byte { return []byte("secret user") }},
		{name: "trailing data", raw: func(b []byte) []byte { return append(b, " secret"...) }},
		{name: "two users on a line", raw: func(b []byte) []byte { return append(b, b...) }},
		{name: "an array", raw: func([]byte) []byte { return []byte(`["secret"]`) }},
		{name: "null", raw: func([]byte) []byte { return []byte("null") }},
		{name: "a string", raw: func([]byte) []byte { return []byte(`"secret"`) }},
		{name: "a byte-order mark", raw: func(b []byte) []byte { return append([]byte("\ufeff"), b...) }},
		{name: "cut in half", raw: func(b []byte) []byte { return b[:len(b)/2] }},
		{name: "duplicate userId", raw: insertAfter("{", `"userId":"u-secret-twin",`)},
		{name: "case-variant USERID", raw: insertAfter("{", `"USERID":"u-secret-upper",`)},
		{name: "long-s deviceſ", raw: insertAfter("{", `"deviceſ":[],`)},
		{name: "unknown field emial", raw: insertAfter("{", `"emial":"secret@example.com",`)},
		{name: "unknown device field", raw: insertAfter(`"devices":[{`, `"token":"secret",`)},
		{name: "nested too deep", raw: insertAfter("{", `"deep":`+nested(100)+`,`)},
		{name: "a line over 256 KiB", edit: setUser("name", strings.Repeat("secret ", incident.MaxLineBytes/7+1))},
		{name: "invalid UTF-8 in the name", edit: setUser("name", sentinel), raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte(sentinel), []byte("secret \xff\xfe"), 1)
		}},
		{name: "a lone surrogate in the name", edit: setUser("name", sentinel), raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte(sentinel), []byte(`secret \ud800`), 1)
		}},
		{name: "no userId", edit: func(u map[string]any) { delete(u, "userId") }},
		{name: "empty userId", edit: setUser("userId", "")},
		{name: "userId as a number", edit: setUser("userId", 7)},
		{name: "userId with '#'", edit: setUser("userId", "u#secret")},
		{name: "userId over its bound", edit: setUser("userId", "u-secret-"+strings.Repeat("x", incident.MaxUserIDBytes))},
		{name: "userId over DynamoDB's key size", edit: setUser("userId", "u-secret-"+strings.Repeat("x", 2048))},
		{name: "email with a line separator", edit: setUser("email", "secret\u2028@example.com")},
		{name: "email with a NEL", edit: setUser("email", "secret\u0085@example.com")},
		{name: "email with an RLO", edit: setUser("email", "secret\u202e@example.com")},
		{name: "email with a ZWSP", edit: setUser("email", "sec\u200bret@example.com")},
		{name: "email with an NBSP", edit: setUser("email", "secret\u00a0@example.com")},
		{name: "email to an IP literal", edit: setUser("email", "secret@[127.0.0.1]")},
		{name: "email to a bare host", edit: setUser("email", "secret@localhost")},
		{name: "email with a 65-byte local part", edit: setUser("email", "secret"+strings.Repeat("x", 59)+"@example.com")},
		{name: "email with a 300-byte local part", edit: setUser("email", "secret"+strings.Repeat("x", 294)+"@example.com")},
		{name: "email of 255 bytes", edit: setUser("email", "secret@"+strings.Repeat("a", 60)+"."+strings.Repeat("b", 60)+"."+strings.Repeat("c", 60)+"."+strings.Repeat("d", 61)+".com")},
		{name: "email with a header", edit: setUser("email", "secret@example.com\r\nBcc: all@example.com")},
		{name: "email with a non-ASCII local part", edit: setUser("email", "sécret@example.com")},
		{name: "email with two '@'", edit: setUser("email", "secret@x@example.com")},
		{name: "name over its bound", edit: setUser("name", "secret"+strings.Repeat("n", incident.MaxNameRunes))},
		{name: "name with a line feed", edit: setUser("name", "secret\nBcc: all@example.com")},
		{name: "name with an RLO", edit: setUser("name", "secret\u202ename")},
		{name: "locale over its bound", edit: setUser("locale", "en-secret"+strings.Repeat("x", incident.MaxLocaleBytes))},
		{name: "locale with a line feed", edit: setUser("locale", "en\nsecret")},
		{name: "50 devices", edit: func(u map[string]any) {
			d := u["devices"].([]any)[0].(map[string]any)
			devices := make([]any, incident.MaxDevices+1)
			for i := range devices {
				c := maps.Clone(d)
				c["deviceId"] = fmt.Sprintf("d-secret-%d", i)
				devices[i] = c
			}
			u["devices"] = devices
		}},
		{name: "device id with '#'", edit: setDevice("deviceId", "d#secret")},
		{name: "device id over its bound", edit: setDevice("deviceId", "d-secret-"+strings.Repeat("x", incident.MaxUserIDBytes))},
		{name: "platform windows", edit: setDevice("platform", "windows-secret")},
		{name: "appVersion over the sort-key budget", edit: setDevice("appVersion", "8.secret."+strings.Repeat("9", incident.MaxVersionBytes))},
		{name: "push token over its bound", edit: setDevice("pushToken", "secret"+strings.Repeat("t", incident.MaxPushTokenBytes))},
		{name: "push token with a line feed", edit: setDevice("pushToken", "secret\ntoken")},
		{name: "the same device twice", edit: func(u map[string]any) {
			d := u["devices"].([]any)[0]
			u["devices"] = []any{d, d}
		}},
		{name: "devices as an object", edit: setUser("devices", map[string]any{"d-1": "secret"})},
		{name: "devices as a string", edit: setUser("devices", "secret")},
	}
	return ms
}

// hostileImport imports the hostile lines between good ones through the
// importer, into the stack's users table, registering push tokens with its
// SNS: each hostile line is reported by number, without its content, and
// every good line is imported.
func hostileImport(ctx context.Context, t *testing.T, s *local.State) {
	good := func(i int) audience.User {
		u := audience.User{ID: fmt.Sprintf("u-corpus-good-%d", i), Email: fmt.Sprintf("good.%d@example.com", i), Name: "Good", Locale: "en",
			Devices: []audience.Device{{ID: "d-1", Platform: "ios", AppVersion: "99.0.0"}}}
		if i%10 == 0 {
			u.Devices[0].PushToken = fmt.Sprintf("apns-corpus-good-%d", i)
		}
		return u
	}
	base := map[string]any{"userId": "u-secret", "email": "secret@example.com", "name": "Secret", "locale": "en",
		"devices": []any{map[string]any{"deviceId": "d-secret", "platform": "ios", "appVersion": "99.0.0", "pushToken": "apns-secret"}}}

	var u audience.User
	if err := json.Unmarshal(mustJSON(t, base), &u); err != nil || u.Validate() != nil {
		t.Fatalf("the line the hostile ones are made from is not valid: %v %v", err, u.Validate())
	}

	var input bytes.Buffer
	var hostileLines []int
	var goodIDs []string
	line := 0
	writeGood := func() {
		line++
		u := good(line)
		goodIDs = append(goodIDs, u.ID)
		input.Write(mustJSON(t, u))
		input.WriteByte('\n')
	}
	ms := importMutations()
	for _, m := range ms {
		writeGood()
		u := map[string]any{}
		if err := json.Unmarshal(mustJSON(t, base), &u); err != nil {
			t.Fatal(err)
		}
		if m.edit != nil {
			m.edit(u)
		}
		b := mustJSON(t, u)
		if m.raw != nil {
			b = m.raw(b)
		}
		line++
		hostileLines = append(hostileLines, line)
		input.Write(b)
		input.WriteByte('\n')
	}
	writeGood()

	reg := &push.Registrar{Client: sns.NewFromConfig(s.Config()), Applications: s.Platforms}
	rep, err := seed.Import(ctx, &input, s.Users(), reg)
	if err != nil {
		t.Fatal(err)
	}
	var bad []int
	for _, le := range append(rep.Bad, rep.Refused...) {
		bad = append(bad, le.Line)
		if msg := le.Error(); strings.Contains(strings.ToLower(msg), "secret") || len(msg) > 1024 {
			t.Errorf("report of line %d quotes the line, or is unbounded: %.300q", le.Line, msg)
		}
	}
	slices.Sort(bad)
	if !slices.Equal(bad, hostileLines) {
		t.Errorf("lines reported %v, want the hostile ones %v", bad, hostileLines)
	}
	if rep.Imported != len(goodIDs) || rep.Lines != line {
		t.Errorf("imported %d of %d lines, want %d good of %d", rep.Imported, rep.Lines, len(goodIDs), line)
	}
	users, err := s.Users().Get(ctx, append(slices.Clone(goodIDs), "u-secret", "u-secret-twin", "u-secret-upper"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range goodIDs {
		if _, ok := users[id]; !ok {
			t.Errorf("good user %s, between hostile lines, was not imported", id)
		}
	}
	if len(users) != len(goodIDs) {
		t.Errorf("%d users in the table, want the %d good ones only", len(users), len(goodIDs))
	}
	t.Logf("%d hostile import lines between %d good ones: %d reported by line number (%d refused by a store), %d imported",
		len(hostileLines), len(goodIDs), len(bad), len(rep.Refused), rep.Imported)
}
