package bench

import (
	"strings"
	"testing"
	"time"
)

func TestReportHelpers(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 100000: "100,000", -1234567: "-1,234,567"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
	if got := Rate(500, 2*time.Second); got != 250 {
		t.Errorf("Rate = %v", got)
	}
	if got := Rate(5, 0); got != 0 {
		t.Errorf("Rate over no time = %v", got)
	}
	tab := Table([]Row{{Section: "1", Figure: "a|b", Value: "3", Command: "go run ./x -out 'a b'"}})
	if !strings.Contains(tab, `| 1 | a\|b | 3 | — | `+"`go run ./x -out 'a b'`"+" |") {
		t.Errorf("table:\n%s", tab)
	}
}
