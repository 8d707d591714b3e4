package main

import (
	"maps"
	"testing"
)

func TestParseParams(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     map[string]string
		bad      bool
	}{
		{name: "none", in: "  ", want: map[string]string{}},
		{name: "pairs", in: "AutoSendLimit=2  EmailMaxSendRate=14", want: map[string]string{"AutoSendLimit": "2", "EmailMaxSendRate": "14"}},
		{name: "quoted value with spaces", in: `DeadlineWatchSchedule='rate(1 minute)' BrandName="Acme Corp"`,
			want: map[string]string{"DeadlineWatchSchedule": "rate(1 minute)", "BrandName": "Acme Corp"}},
		{name: "value with = and commas", in: "DeadlinePolicy=users=24h@confirmed,authority=72h@detected",
			want: map[string]string{"DeadlinePolicy": "users=24h@confirmed,authority=72h@detected"}},
		{name: "empty value", in: "SenderAddress=", want: map[string]string{"SenderAddress": ""}},
		{name: "no =", in: "AutoSendLimit", bad: true},
		{name: "unclosed quote", in: "BrandName='Acme", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseParams(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("parseParams(%q) = %v, want an error", tc.in, got)
				}
				return
			}
			if err != nil || !maps.Equal(got, tc.want) {
				t.Fatalf("parseParams(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}
