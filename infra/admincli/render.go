package admincli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"breachnotify/shared/admin"
	"breachnotify/shared/deadline"
	"breachnotify/shared/preflight"
	"breachnotify/shared/status"
)

// Bar renders one line of sending progress with a bar width characters
// wide, e.g.
//
//	[#########...........] 45.2%  90/200  sent 88 failed 1 skipped 1  ETA 1m12s  users deadline in 23h10m
//
// The deadline shown is the nearest one not yet met.
func Bar(s admin.Status, width int) string {
	pct := min(max(s.Total.Percent, 0), 100)
	fill := int(pct / 100 * float64(width))
	var sent, failed, skipped int
	for _, n := range s.Notices {
		for _, c := range n.Channels {
			sent, failed, skipped = sent+c.Sent, failed+c.Failed, skipped+c.Skipped
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%s%s] %.1f%%  %d/%d  sent %d failed %d skipped %d  ETA ",
		strings.Repeat("#", fill), strings.Repeat(".", width-fill), pct, s.Total.Done, s.Total.Planned, sent, failed, skipped)
	if s.ETASeconds == nil {
		b.WriteString("unknown")
	} else {
		b.WriteString(duration(*s.ETASeconds))
	}
	if d, ok := nearest(s.Deadlines); ok {
		switch d.State {
		case deadline.Missed:
			fmt.Fprintf(&b, "  %s deadline MISSED %s ago", d.Rule, duration(-d.LeftSeconds))
		case deadline.AtRisk:
			fmt.Fprintf(&b, "  %s deadline in %s AT RISK", d.Rule, duration(d.LeftSeconds))
		default:
			fmt.Fprintf(&b, "  %s deadline in %s", d.Rule, duration(d.LeftSeconds))
		}
	}
	return b.String()
}

// nearest is the deadline still running (on track, at risk or missed)
// that is due first.
func nearest(ds []status.Deadline) (status.Deadline, bool) {
	var out status.Deadline
	found := false
	for _, d := range ds {
		if d.State != deadline.OnTrack && d.State != deadline.AtRisk && d.State != deadline.Missed {
			continue
		}
		if !found || d.LeftSeconds < out.LeftSeconds {
			out, found = d, true
		}
	}
	return out, found
}

// duration is a short, human reading of seconds: 45s, 1m12s, 23h10m, 3d4h.
func duration(seconds float64) string {
	d := time.Duration(math.Round(max(seconds, 0))) * time.Second
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// Summary writes what an operation did for a person to read.
func Summary(w io.Writer, r admin.Response) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }
	if r.IncidentID != "" {
		row("incident\t%s", r.IncidentID)
	}
	row("operation\t%s", r.Operation)
	if st := CurrentState(r); st != "" {
		row("state\t%s", st)
	}
	if r.Actor != "" {
		row("actor\t%s", r.Actor)
	}
	if r.Message != "" {
		row("message\t%s", r.Message)
	}
	if s := r.Status; s != nil {
		eta := "unknown"
		if s.ETASeconds != nil {
			eta = duration(*s.ETASeconds)
		}
		row("progress\t%d/%d (%.1f%%), ETA %s", s.Total.Done, s.Total.Planned, s.Total.Percent, eta)
		for _, d := range s.Deadlines {
			line := fmt.Sprintf("deadline\t%s: %s", d.Rule, d.State)
			if !d.DueAt.IsZero() {
				line += ", due " + d.DueAt.UTC().Format(time.RFC3339)
			}
			switch d.State {
			case deadline.OnTrack, deadline.AtRisk:
				line += ", in " + duration(d.LeftSeconds)
			case deadline.Missed:
				line += ", " + duration(-d.LeftSeconds) + " ago"
			}
			row("%s", line)
		}
	}
	if p := r.Replay; p != nil {
		row("replayed\t%d (failed again: %d, unreadable: %d)", p.Replayed, p.Failed, p.Unreadable)
		if p.More {
			row("more\tthe failure queue has more: run replay-intake again")
		}
	}
	if e := r.Export; e != nil {
		row("export JSON\t%s", e.JSONURL)
		row("export CSV\t%s", e.CSVURL)
	}
	if v := r.Verify; v != nil {
		if v.OK {
			row("audit chain\tintact, %d entries", v.Entries)
		} else {
			row("audit chain\tBROKEN (%d entries): %s", v.Entries, v.Problem)
		}
	}
	if len(r.Resumed) > 0 {
		var parts []string
		for _, ch := range slices.Sorted(maps.Keys(r.Resumed)) {
			parts = append(parts, fmt.Sprintf("%s %d", ch, r.Resumed[ch]))
		}
		row("resumed batches\t%s", strings.Join(parts, ", "))
	}
	if r.Operation == "resend-failed" || r.Requeued > 0 {
		row("requeued\t%d", r.Requeued)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s := r.Status; s != nil && len(s.Notices) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "notice\tchannel\tplanned\tsent\tfailed\tskipped\tpending")
		for _, n := range s.Notices {
			for _, c := range n.Channels {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\n", n.NoticeID, c.Channel, c.Planned, c.Sent, c.Failed, c.Skipped, c.Pending)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "notice\treached\tpending\tunreachable")
		for _, n := range s.Notices {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", n.NoticeID, n.Reached, n.Pending, n.Unreachable)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if v := r.Preflight; v != nil {
		if err := checks(w, *v); err != nil {
			return err
		}
	}
	if r.Preview != nil {
		b, err := json.MarshalIndent(r.Preview, "", "  ")
		if err != nil {
			return fmt.Errorf("preview: %w", err)
		}
		fmt.Fprintf(w, "\npreview:\n%s\n", b)
	}
	return nil
}

// checks prints a preflight verdict: the verdict, then one line per check.
func checks(w io.Writer, v preflight.Verdict) error {
	fmt.Fprintf(w, "\npreflight: %s\n", strings.ToUpper(string(v.Status)))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "check\tstatus\treason")
	for _, c := range v.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.Status, c.Reason)
	}
	return tw.Flush()
}
