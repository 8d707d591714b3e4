package version

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics, its errors are bounded whatever the
// input, and what it accepts round-trips and orders by key as by Compare.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"8.9.0", "8.10", "12", "1.2.3.4", "010.0", "", "8.9.0-rc1", "1..2", "-1", "1.2.3.4.5", "999999999.0", "1234567890", " 1", "١.٢"} {
		f.Add(s, "8.9.0")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, err := Parse(a)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) error %v is not ErrInvalid", a, err)
			}
			if len(err.Error()) > 256 {
				t.Fatalf("Parse error is %d bytes", len(err.Error()))
			}
			if !IsUnparsedKey(KeyOf(a)) {
				t.Fatalf("KeyOf(%q) = %q is not in the unparsed range", a, KeyOf(a))
			}
			return
		}
		if va.String() != a || strings.Count(a, ".") >= MaxParts {
			t.Fatalf("Parse(%q) = %q", a, va.String())
		}
		if va.Compare(va) != 0 || KeyOf(a) != va.Key() {
			t.Fatalf("%q does not equal itself", a)
		}
		vb, err := Parse(b)
		if err != nil {
			return
		}
		if got, want := strings.Compare(va.Key(), vb.Key()), va.Compare(vb); got != want {
			t.Fatalf("key order of %q, %q = %d, Compare = %d", a, b, got, want)
		}
	})
}
