package bench

import (
	"fmt"
	"strings"
)

// Row is one figure of the report and the command that produced it.
type Row struct {
	Section, Figure, Value, Target, Command string
}

// Table renders rows as a Markdown table.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| section | figure | value | target | command |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", cell(r.Section), cell(r.Figure), cell(r.Value), cell(r.Target), code(r.Command))
	}
	return b.String()
}

func cell(s string) string {
	if s == "" {
		return "—"
	}
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

func code(s string) string {
	if s == "" {
		return "—"
	}
	return "`" + strings.ReplaceAll(cell(s), "`", "'") + "`"
}

// Met says whether a figure meets its target, for the target column.
func Met(target string, ok bool) string {
	if ok {
		return target + " (met)"
	}
	return target + " (**missed**)"
}

// Thousands formats n with thousands separators.
func Thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
