package seed

import (
	"fmt"
	"strings"
	"time"
)

// Rate is the users finished per second in this run.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Done) / p.Elapsed.Seconds()
}

// ETA estimates the time left from the bytes read so far in this run; it
// is 0 when the input's size is unknown or nothing was read yet.
func (p Progress) ETA() time.Duration {
	read := p.Offset - p.Start.Offset
	if p.Total <= 0 || read <= 0 || p.Elapsed <= 0 {
		return 0
	}
	left := float64(p.Total-p.Offset) / float64(read) * float64(p.Elapsed)
	return time.Duration(left).Round(time.Second)
}

// Line is the progress as one line of plain text, for logs.
func (p Progress) Line() string {
	s := fmt.Sprintf("%d users done of %d read, %.0f users/s, resume at line %d", p.Done, p.Read, p.Rate(), p.At.Line)
	if p.Total > 0 {
		s += fmt.Sprintf(", %.1f%% of the input", 100*float64(p.Offset)/float64(p.Total))
		if eta := p.ETA(); eta > 0 {
			s += fmt.Sprintf(", %s left", eta)
		}
	}
	return s
}

// Bar is the progress as a bar of width cells with rate and ETA, for a
// terminal (the caller rewrites the line with "\r").
func (p Progress) Bar(width int) string {
	frac := 0.0
	if p.Total > 0 {
		frac = min(1, float64(p.Offset)/float64(p.Total))
	}
	full := int(frac * float64(width))
	eta := "--"
	if e := p.ETA(); e > 0 {
		eta = e.String()
	}
	return fmt.Sprintf("[%s%s] %3.0f%% %d users %.0f/s ETA %s", strings.Repeat("=", full), strings.Repeat(" ", width-full), 100*frac, p.Done, p.Rate(), eta)
}
