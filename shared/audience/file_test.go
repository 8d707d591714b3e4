package audience

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"breachnotify/shared/incident"
)

// scanAll reads data cut into ranges of part bytes, each from where it
// starts reading, as the planner's range tasks do, and returns the lines
// in order.
func scanAll(t *testing.T, data []byte, part int64) []string {
	t.Helper()
	var lines []string
	for _, r := range Ranges(int64(len(data)), part) {
		err := r.Scan(bytes.NewReader(data[r.ReadFrom():]), func(line []byte) error {
			lines = append(lines, string(line))
			return nil
		})
		if err != nil {
			t.Fatalf("scan %+v: %v", r, err)
		}
	}
	return lines
}

// TestRangesReadEachLineOnce: however a file is cut, the ranges together
// read each of its lines exactly once, whole, without its line end.
func TestRangesReadEachLineOnce(t *testing.T) {
	long := strings.Repeat("x", 40)
	tests := []struct {
		name string
		data string
		want []string
	}{
		{"LF", "a\nbb\nccc\n", []string{"a", "bb", "ccc"}},
		{"CRLF", "a\r\nbb\r\nccc\r\n", []string{"a", "bb", "ccc"}},
		{"last line without an end", "a\nbb\nccc", []string{"a", "bb", "ccc"}},
		{"blank lines", "\n\na\n\r\n\nb\n\n", []string{"", "", "a", "", "", "b", ""}},
		{"long lines straddle every cut", long + "\n" + long + "\r\n" + long, []string{long, long, long}},
		{"one line", "only", []string{"only"}},
		{"a single line end", "\n", []string{""}},
		{"byte order mark", "\ufeffa\nb\n", []string{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for part := int64(1); part <= int64(len(tc.data))+1; part++ {
				if got := scanAll(t, []byte(tc.data), part); !slices.Equal(got, tc.want) {
					t.Errorf("ranges of %d bytes read %q, want %q", part, got, tc.want)
				}
			}
		})
	}
}

func TestRanges(t *testing.T) {
	tests := []struct {
		size, part int64
		want       []Range
	}{
		{0, 8, nil},
		{1, 8, []Range{{0, 1}}},
		{8, 8, []Range{{0, 8}}},
		{17, 8, []Range{{0, 8}, {8, 16}, {16, 17}}},
	}
	for _, tc := range tests {
		if got := Ranges(tc.size, tc.part); !slices.Equal(got, tc.want) {
			t.Errorf("Ranges(%d, %d) = %v, want %v", tc.size, tc.part, got, tc.want)
		}
	}
}

// TestScanCutsLongLines: a line longer than the limit is passed cut, so
// that ParseLine rejects it, and the lines after it are read as usual.
func TestScanCutsLongLines(t *testing.T) {
	huge := strings.Repeat("y", incident.MaxLineBytes*2+5)
	data := "a\n" + huge + "\nb\n"
	var reasons, ids []string
	err := Range{Start: 0, End: int64(len(data))}.Scan(strings.NewReader(data), func(line []byte) error {
		id, reason := ParseLine(line, false)
		ids, reasons = append(ids, id), append(reasons, reason)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"a", "", "b"}) || !slices.Equal(reasons, []string{"", LineTooLong, ""}) {
		t.Errorf("ids %q, reasons %q; want a, -, b with the long line too long", ids, reasons)
	}
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		name       string
		line       string
		header     bool
		id, reason string
	}{
		{"bare id", "u-1", false, "u-1", ""},
		{"spaces around", "  u-1\t", false, "u-1", ""},
		{"blank", "   ", false, "", ""},
		{"json line", `{"userId":"u-1","email":"a@example.com"}`, false, "u-1", ""},
		{"json without userId", `{"id":"u-1"}`, false, "", LineNoUserID},
		{"json userId not a string", `{"userId":7}`, false, "", LineNotJSON},
		{"broken json", `{"userId":"u-1"`, false, "", LineNotJSON},
		{"csv first field", "u-1,Alex,a@example.com", false, "u-1", ""},
		{"csv quoted field", `"u-""1""",x`, false, `u-"1"`, ""},
		{"csv unclosed quote", `"u-1,x`, false, "", LineBadUserID},
		{"header", "userId,email", true, "", ""},
		{"header user_id", "USER_ID", true, "", ""},
		{"header word later is an id", "id", false, "id", ""},
		{"key separator", "u#1", false, "", LineBadUserID},
		{"space inside", "u 1", false, "", LineBadUserID},
		{"control character", "u\x001", false, "", LineBadUserID},
		{"too long an id", strings.Repeat("u", incident.MaxUserIDBytes+1), false, "", LineBadUserID},
		{"json empty id", `{"userId":""}`, false, "", LineBadUserID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, reason := ParseLine([]byte(tc.line), tc.header)
			if id != tc.id || reason != tc.reason {
				t.Errorf("ParseLine(%q) = %q, %q; want %q, %q", tc.line, id, reason, tc.id, tc.reason)
			}
		})
	}
}

func TestIsGzip(t *testing.T) {
	for head, want := range map[string]bool{"\x1f\x8b\x08": true, "\x1f": false, "u-1": false, "": false} {
		if got := IsGzip([]byte(head)); got != want {
			t.Errorf("IsGzip(%q) = %v, want %v", head, got, want)
		}
	}
}
