package metrics

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var at = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func TestLineGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dims   map[string]string
		values []Value
	}{
		{"batch", map[string]string{"Channel": "email"}, []Value{
			{"Sent", Count, 48}, {"Failed", Count, 1}, {"Pending", Count, 1}, {"Throttled", Count, 3},
			{"SendRate", PerSecond, 13.5}, {"QuotaRate", PerSecond, 14},
		}},
		{"no-dimensions", nil, []Value{{"WatchHeartbeat", Count, 1}, {"DeadlineAlarms", Count, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Line(at, tc.dims, tc.values...)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if string(got)+"\n" != string(want) {
				t.Errorf("line:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// The document must be what CloudWatch reads: every metric named in the
// directive has a value at the top level, and every dimension too.
func TestLineIsAValidDirective(t *testing.T) {
	line, err := Line(at, map[string]string{"Channel": "push"}, Value{"Sent", Count, 2}, Value{"SendRate", PerSecond, 0.5})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(line, &doc); err != nil {
		t.Fatal(err)
	}
	aws := doc["_aws"].(map[string]any)
	if aws["Timestamp"].(float64) != float64(at.UnixMilli()) {
		t.Errorf("timestamp %v", aws["Timestamp"])
	}
	dir := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if dir["Namespace"] != Namespace {
		t.Errorf("namespace %v", dir["Namespace"])
	}
	for _, set := range dir["Dimensions"].([]any) {
		for _, d := range set.([]any) {
			if _, ok := doc[d.(string)]; !ok {
				t.Errorf("dimension %v has no value", d)
			}
		}
	}
	for _, m := range dir["Metrics"].([]any) {
		name := m.(map[string]any)["Name"].(string)
		if _, ok := doc[name].(float64); !ok {
			t.Errorf("metric %s has no numeric value", name)
		}
	}
}

func TestLineRefusesANameUsedTwice(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dims   map[string]string
		values []Value
	}{
		{"metric twice", nil, []Value{{"Sent", Count, 1}, {"Sent", Count, 2}}},
		{"metric named as a dimension", map[string]string{"Sent": "x"}, []Value{{"Sent", Count, 1}}},
		{"metric named _aws", nil, []Value{{"_aws", Count, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Line(at, tc.dims, tc.values...); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestEmitWritesWholeLines(t *testing.T) {
	var buf bytes.Buffer
	e := &Emitter{W: &buf}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { _ = e.Emit(at, map[string]string{"Channel": "email"}, Value{"Sent", Count, 1}) })
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 50 {
		t.Fatalf("%d lines, want 50", len(lines))
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("torn line %q", l)
		}
	}
	var nilEmitter *Emitter
	if err := nilEmitter.Emit(at, nil, Value{"Sent", Count, 1}); err != nil {
		t.Fatal(err)
	}
}
