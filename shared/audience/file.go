package audience

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"breachnotify/shared/errs"
	"breachnotify/shared/incident"
)

// An audience file (incident.Audience.File) lists user ids, one per line,
// in either of two forms, which may be mixed:
//   - JSON Lines: an object with a "userId" string; other fields are
//     ignored, so the importer's own user file names its users;
//   - CSV or plain text: the first field of the line is the id (quoted
//     with '"' if need be); a first line "userId", "user_id" or "id" is a
//     header and skipped.
//
// Lines end with LF or CRLF; the last may have no end. Blank lines are
// skipped. A line that names no valid id is counted by its reason, never
// quoted: it may hold personal data. The object may be gzip-compressed
// (detected by its magic bytes, whatever its name).

// Reasons a line of an audience file is not planned.
const (
	LineNotJSON   = "not-json"
	LineNoUserID  = "no-user-id"
	LineBadUserID = "not-a-user-id"
	LineTooLong   = "too-long"
	// LineDuplicate: the id was listed before in the same range; it is
	// planned once.
	LineDuplicate = "duplicate"
)

// FileInfo is what planning pins of an audience file: its size, to split
// it, and its entity tag, so that every range is read from the same
// version of the object.
type FileInfo struct {
	Size int64
	ETag string
}

// ErrFileChanged: the audience file is not the version planning started
// from (it was overwritten or deleted meanwhile). The plan cannot be
// completed from it: the detector uploads the file under a new key and
// sends a new incident.
var ErrFileChanged = errs.New(errs.Permanent, "audience file changed during planning")

// ErrFileMissing: there is no audience file under the key.
var ErrFileMissing = errs.New(errs.Permanent, "audience file not found")

// ErrFileTooLarge: a compressed audience file is larger than MaxGzipBytes
// (compressed or not).
var ErrFileTooLarge = errs.New(errs.Permanent, "compressed audience file too large")

// RangeBytes is the part of an uncompressed file one planning task reads:
// about 1.6 million ids of 20 bytes, 16,000 BatchGetItem calls and 32,000
// batches, a couple of minutes and a few hundred megabytes of a planner
// run (as a cohort shard of 2.3 million users is). Large, because a range
// de-duplicates its own ids only: a file up to this size is planned
// exactly even if it repeats ids.
const RangeBytes = 32 << 20

// MaxGzipBytes bounds a compressed file, decompressed. A gzip stream
// cannot be entered in the middle, so a compressed file is one task, read
// from its start: it must fit one range once decompressed (about 1.6
// million ids; a few megabytes compressed). The bound is on what is
// decompressed, not on the object, so a small file that inflates to
// gigabytes is refused too. A larger list is uploaded uncompressed, and
// planned in parallel.
const MaxGzipBytes = RangeBytes

// Range is a part of an audience file: the lines that start at a byte
// offset in [Start, End). A line that begins in the range and ends past it
// is the range's; one that began before it is the previous range's. So
// ranges that tile a file read each line exactly once, wherever the cuts
// fall.
type Range struct {
	Start, End int64
}

// Ranges splits a file of size bytes into ranges of at most part bytes.
func Ranges(size, part int64) []Range {
	var out []Range
	for start := int64(0); start < size; start += part {
		out = append(out, Range{Start: start, End: min(start+part, size)})
	}
	return out
}

// IsGzip reports whether a file begins with gzip's magic bytes.
func IsGzip(head []byte) bool { return len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b }

// ReadFrom is where a range's reading starts: the byte before it, which
// says whether the range begins with a new line.
func (r Range) ReadFrom() int64 { return max(r.Start-1, 0) }

// Scan calls yield with each line of the range, without its line end, from
// rd, which must start at r.ReadFrom(). A line longer than
// incident.MaxLineBytes is passed cut to one byte more, which ParseLine
// rejects as too long. An end of at most zero reads to the end of rd (a
// decompressed stream, whose length is unknown).
func (r Range) Scan(rd io.Reader, yield func(line []byte) error) error {
	br := bufio.NewReaderSize(rd, incident.MaxLineBytes+2)
	pos := r.ReadFrom()
	if r.Start > 0 {
		// The rest of the line that began before the range: at least the
		// byte before it, and nothing more when that byte ends a line.
		n, _, err := readLine(br)
		pos += n
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	for r.End <= 0 || pos < r.End {
		n, line, err := readLine(br)
		if n == 0 && err == io.EOF {
			return nil
		}
		if err != nil && err != io.EOF {
			return err
		}
		if pos == 0 {
			line = bytes.TrimPrefix(line, []byte("\ufeff"))
		}
		pos += n
		if err := yield(line); err != nil {
			return err
		}
		if err == io.EOF {
			return nil
		}
	}
	return nil
}

// readLine reads one line and returns the bytes it took, the line without
// its end (cut to incident.MaxLineBytes+1 bytes) and io.EOF for a last
// line without an end.
func readLine(br *bufio.Reader) (int64, []byte, error) {
	var n int64
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		n += int64(len(chunk))
		if len(line) <= incident.MaxLineBytes {
			line = append(line, chunk[:min(len(chunk), incident.MaxLineBytes+1-len(line))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		return n, line, err
	}
}

// ParseLine returns the user id a line names, or the reason it names none;
// both are empty for a blank line or a header (header: this is the file's
// first line).
func ParseLine(line []byte, header bool) (id, reason string) {
	if len(line) > incident.MaxLineBytes {
		return "", LineTooLong
	}
	s := strings.TrimSpace(string(line))
	switch {
	case s == "":
		return "", ""
	case s[0] == '{':
		var v struct {
			UserID *string `json:"userId"`
		}
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return "", LineNotJSON
		}
		if v.UserID == nil {
			return "", LineNoUserID
		}
		id = *v.UserID
	case s[0] == '"':
		id = unquoteCSV(s)
	default:
		id, _, _ = strings.Cut(s, ",")
		id = strings.TrimSpace(id)
	}
	if header && (strings.EqualFold(id, "userId") || strings.EqualFold(id, "user_id") || strings.EqualFold(id, "id")) {
		return "", ""
	}
	if !incident.ValidKey(id, incident.MaxUserIDBytes) {
		return "", LineBadUserID
	}
	return id, ""
}

// unquoteCSV returns the first field of a CSV line that starts with a
// quote: up to the closing quote, with "" standing for one quote. An
// unclosed quote yields "", which is not an id.
func unquoteCSV(s string) string {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '"' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '"' {
			b.WriteByte('"')
			i++
			continue
		}
		return b.String()
	}
	return ""
}
