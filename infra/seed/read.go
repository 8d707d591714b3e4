package seed

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"breachnotify/shared/audience"
	"breachnotify/shared/incident"
	"breachnotify/shared/strictjson"
)

// Format is how an input file holds users.
type Format int

const (
	// JSONLines holds one user record a line, as audience.User encodes it.
	JSONLines Format = iota
	// CSV holds one device a line under a header row (see CSVColumns);
	// consecutive lines with the same userId are one user.
	CSV
)

// FormatOf is the format a file name implies: CSV for ".csv", JSON Lines
// otherwise.
func FormatOf(name string) Format {
	if strings.EqualFold(filepath.Ext(name), ".csv") {
		return CSV
	}
	return JSONLines
}

// CSVColumns are the columns a CSV header may name, each at most once, in
// any order; userId is required. The user columns (userId to locale) are
// repeated on each of a user's lines or left empty after the first; the
// device columns describe one device a line, and a line whose device
// columns are all empty adds none (a user without devices). A field holds
// no line break: no field of a user allows one.
var CSVColumns = []string{"userId", "email", "name", "locale", "deviceId", "platform", "appVersion", "pushToken", "endpointArn"}

// Position is a place in the input: the number of the line that starts
// there (from 1) and its byte offset.
type Position struct {
	Line   int   `json:"line"`
	Offset int64 `json:"offset"`
}

// record is one user read from the input, or one line that could not be.
type record struct {
	pos  Position
	user audience.User
	bad  *LineError
}

// source reads records; it returns io.EOF after the last one.
type source interface {
	next() (record, error)
	// at is the position of the first line not yet returned in a record:
	// an import that stops may resume from there.
	at() Position
}

// lines reads bounded lines and counts them.
type lines struct {
	br  *bufio.Reader
	pos Position
}

func newLines(r io.Reader, start Position) *lines {
	if start.Line == 0 {
		start.Line = 1
	}
	return &lines{br: bufio.NewReaderSize(r, 64<<10), pos: start}
}

// read returns the next line without its newline and where it starts. A
// line longer than incident.MaxLineBytes is read to its end and dropped,
// with tooLong set, so that the next line is read as usual. It returns
// io.EOF when nothing is left.
func (l *lines) read() (line []byte, tooLong bool, start Position, err error) {
	start = l.pos
	n := 0
	for {
		chunk, err := l.br.ReadSlice('\n')
		n += len(chunk)
		if !tooLong {
			if len(line)+len(chunk) > incident.MaxLineBytes+1 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, false, start, err
		}
		if n == 0 {
			return nil, false, start, io.EOF
		}
		l.pos.Line++
		l.pos.Offset += int64(n)
		return bytes.TrimSuffix(line, []byte("\n")), tooLong, start, nil
	}
}

// check validates a record before it is imported, or deleted.
type check func(audience.User) error

// validUser is the import check.
func validUser(u audience.User) error { return u.Validate() }

// validID is the deletion check: only the id matters.
func validID(u audience.User) error {
	if !incident.ValidKey(u.ID, incident.MaxUserIDBytes) {
		return fmt.Errorf("invalid user: userId must be 1-%d bytes without '#', spaces, control or invisible characters", incident.MaxUserIDBytes)
	}
	return nil
}

func badLine(pos Position, reason string, err error) record {
	return record{pos: pos, bad: &LineError{Line: pos.Line, Reason: reason, Err: err}}
}

const (
	reasonTooLong    = "line too long"
	reasonUnreadable = "not a user record"
	reasonInvalid    = "invalid user"
)

// jsonLines reads one user a line.
type jsonLines struct {
	l     *lines
	check check
}

func (j *jsonLines) at() Position { return j.l.pos }

func (j *jsonLines) next() (record, error) {
	for {
		line, tooLong, pos, err := j.l.read()
		if err != nil {
			return record{}, err
		}
		if tooLong {
			return badLine(pos, reasonTooLong, fmt.Errorf("longer than %d bytes", incident.MaxLineBytes)), nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var u audience.User
		// Strict: an unknown field is most likely a misspelt one whose data
		// would be silently lost, and a key in another case or given twice
		// would be read differently by other tools.
		if err := strictjson.Decode(line, &u); err != nil {
			return badLine(pos, reasonUnreadable, fmt.Errorf("not a user record: %w", err)), nil
		}
		if err := j.check(u); err != nil {
			return badLine(pos, reasonInvalid, err), nil
		}
		return record{pos: pos, user: u}, nil
	}
}

// csvRows reads one device a line, gathering consecutive lines of a user.
type csvRows struct {
	l     *lines
	check check
	cols  []string // the header's column names, in order
	// group is the user being gathered, from the line at its position.
	group    *record
	conflict string // the first user column its lines disagree on
	queue    []record
	eof      bool
}

// readHeader parses a CSV header line: known columns, each once, userId
// among them. A UTF-8 byte-order mark (spreadsheets write one) is dropped.
func readHeader(line []byte) ([]string, error) {
	line = bytes.TrimPrefix(bytes.TrimSpace(line), []byte("\ufeff"))
	cols, err := csv.NewReader(bytes.NewReader(line)).Read()
	if err != nil {
		return nil, fmt.Errorf("read the CSV header: %w", err)
	}
	for i, c := range cols {
		switch {
		case !slices.Contains(CSVColumns, c):
			// Column names are not personal data: they may be quoted.
			return nil, fmt.Errorf("CSV header: unknown column %.64q (the columns are %s)", c, strings.Join(CSVColumns, ","))
		case slices.Index(cols, c) != i:
			return nil, fmt.Errorf("CSV header: column %q given twice", c)
		}
	}
	if !slices.Contains(cols, "userId") {
		return nil, errors.New("CSV header: no userId column")
	}
	return cols, nil
}

func (c *csvRows) at() Position {
	// Queued records and the user being gathered are read but not yet
	// returned, and not in line order: a user is queued after the bad
	// lines among its own.
	at := c.l.pos
	for _, r := range c.queue {
		if r.pos.Offset < at.Offset {
			at = r.pos
		}
	}
	if c.group != nil && c.group.pos.Offset < at.Offset {
		at = c.group.pos
	}
	return at
}

func (c *csvRows) next() (record, error) {
	for len(c.queue) == 0 {
		if c.eof {
			return record{}, io.EOF
		}
		if err := c.readRow(); err != nil {
			return record{}, err
		}
	}
	r := c.queue[0]
	c.queue = c.queue[1:]
	return r, nil
}

// readRow reads one line, queueing a bad line at once and a user when a
// line of another user (or the end) shows it is complete.
func (c *csvRows) readRow() error {
	line, tooLong, pos, err := c.l.read()
	if errors.Is(err, io.EOF) {
		c.eof = true
		c.finish()
		return nil
	}
	if err != nil {
		return err
	}
	if tooLong {
		c.queue = append(c.queue, badLine(pos, reasonTooLong, fmt.Errorf("longer than %d bytes", incident.MaxLineBytes)))
		return nil
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	cr := csv.NewReader(bytes.NewReader(line))
	cr.FieldsPerRecord = len(c.cols)
	fields, err := cr.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			// Its message would quote nothing, but its column number is all
			// that helps.
			err = fmt.Errorf("not a CSV row of %d fields (column %d: %w)", len(c.cols), pe.Column, pe.Err)
		}
		c.queue = append(c.queue, badLine(pos, reasonUnreadable, err))
		return nil
	}
	row := map[string]string{}
	for i, col := range c.cols {
		row[col] = fields[i]
	}
	if c.group == nil || row["userId"] != c.group.user.ID {
		c.finish()
		c.group = &record{pos: pos, user: audience.User{ID: row["userId"], Email: row["email"], Name: row["name"], Locale: row["locale"]}}
		c.conflict = ""
	} else {
		u := &c.group.user
		for _, f := range []struct {
			col string
			v   *string
		}{{"email", &u.Email}, {"name", &u.Name}, {"locale", &u.Locale}} {
			if row[f.col] != "" && row[f.col] != *f.v && c.conflict == "" {
				c.conflict = f.col
			}
		}
	}
	d := audience.Device{ID: row["deviceId"], Platform: row["platform"], AppVersion: row["appVersion"], PushToken: row["pushToken"], EndpointARN: row["endpointArn"]}
	// Past the limit the user is refused anyway; stop growing it.
	if d != (audience.Device{}) && len(c.group.user.Devices) <= incident.MaxDevices {
		c.group.user.Devices = append(c.group.user.Devices, d)
	}
	return nil
}

// finish queues the user being gathered, checked.
func (c *csvRows) finish() {
	if c.group == nil {
		return
	}
	g := *c.group
	c.group = nil
	switch {
	case c.conflict != "":
		g = badLine(g.pos, reasonInvalid, fmt.Errorf("invalid user: the lines of one user give different values of %s", c.conflict))
	default:
		if err := c.check(g.user); err != nil {
			g = badLine(g.pos, reasonInvalid, err)
		}
	}
	c.queue = append(c.queue, g)
}
