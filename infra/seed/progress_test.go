package seed

import (
	"strings"
	"testing"
	"time"
)

func TestProgress(t *testing.T) {
	tests := []struct {
		name     string
		p        Progress
		eta      time.Duration
		bar      string
		lineHas  string
		noETAHas string
	}{
		{"a quarter in 10 s", Progress{Done: 2500, Read: 2600, Offset: 250, Total: 1000, Elapsed: 10 * time.Second, At: Position{Line: 2401}},
			30 * time.Second, "[=====               ]  25% 2500 users 250/s ETA 30s", "resume at line 2401, 25.0% of the input, 30s left", ""},
		{"resumed at the half: the rate of this run only", Progress{Done: 100, Offset: 600, Total: 1000, Start: Position{Offset: 500}, Elapsed: 10 * time.Second},
			40 * time.Second, "[============        ]  60% 100 users 10/s ETA 40s", "40s left", ""},
		{"standard input: no size, no ETA", Progress{Done: 10, Offset: 100, Elapsed: time.Second},
			0, "[                    ]   0% 10 users 10/s ETA --", "10 users/s", "left"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.ETA(); got != tc.eta {
				t.Errorf("ETA %v, want %v", got, tc.eta)
			}
			if got := tc.p.Bar(20); got != tc.bar {
				t.Errorf("bar\n%q\nwant\n%q", got, tc.bar)
			}
			line := tc.p.Line()
			if !strings.Contains(line, tc.lineHas) || tc.noETAHas != "" && strings.Contains(line, tc.noETAHas) {
				t.Errorf("line %q", line)
			}
		})
	}
}
