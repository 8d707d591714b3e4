package version

import (
	"errors"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"8.10.0", "8.9.0", 1},
		{"8.9.0", "8.10.0", -1},
		{"1.2", "1.2.0", 0},
		{"1.2.0.0", "1.2", 0},
		{"8.8.2", "8.9.0", -1},
		{"8.9.0", "8.9.0", 0},
		{"9", "8.99.99", 1},
		{"010.0", "10.0", 0},
		{"0.0.1", "0.0.0.9", 1},
	}
	for _, tc := range tests {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			a, err := Parse(tc.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Parse(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Compare(b); got != tc.want {
				t.Errorf("Compare = %d, want %d", got, tc.want)
			}
			// The key order is what DynamoDB sees; it must agree with Compare.
			if got := cmpStrings(a.Key(), b.Key()); got != tc.want {
				t.Errorf("key order = %d, want %d (%s vs %s)", got, tc.want, a.Key(), b.Key())
			}
		})
	}
}

func TestParseRejectsJunk(t *testing.T) {
	for _, s := range []string{"", "junk", "8.9.0-beta", "8..9", ".8", "8.", "v8.9", " 8.9", "-1.0", "1.2.3.4.5", "1234567890.0", "8.9.x", "８.９"} {
		t.Run(s, func(t *testing.T) {
			if _, err := Parse(s); !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%q) err = %v, want ErrInvalid", s, err)
			}
		})
	}
}

func TestKeyOf(t *testing.T) {
	below := mustKey(t, "8.9.0")
	tests := []struct {
		raw          string
		unparsed     bool
		inBelowRange bool
	}{
		{"8.8.2", false, true},
		{"8.10.0", false, false},
		{"8.9.0", false, false},
		{"1.2", false, true},
		{"beta", true, true},
		{"", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			k := KeyOf(tc.raw)
			if IsUnparsedKey(k) != tc.unparsed {
				t.Errorf("IsUnparsedKey(%q) = %v", k, !tc.unparsed)
			}
			if (k < below) != tc.inBelowRange {
				t.Errorf("%q < %q = %v, want %v", k, below, k < below, tc.inBelowRange)
			}
		})
	}
}

func mustKey(t *testing.T, s string) string {
	t.Helper()
	v, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v.Key()
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestParseErrorsAreBounded(t *testing.T) {
	long := strings.Repeat("1", 100_000)
	_, err := Parse(long)
	if !errors.Is(err, ErrInvalid) || len(err.Error()) > 100 {
		t.Errorf("Parse(100 KB) = %.200v", err)
	}
	if _, err := Parse("123456789.123456789.123456789.123456789"); err != nil {
		t.Errorf("the longest version: %v", err)
	}
}
