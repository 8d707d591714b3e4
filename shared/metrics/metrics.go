// Package metrics writes CloudWatch metrics in the embedded metric format
// (EMF): one JSON line on stdout per document. Lambda ships it with the
// logs and CloudWatch extracts the metrics, so a function needs no
// PutMetricData call, no permission for one, and no wait on the way.
// No maintained Go EMF library exists; the format is small enough to write.
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every breachnotify metric; the
// template's alarms and dashboard read from it.
const Namespace = "BreachNotify"

// Unit is a CloudWatch metric unit.
type Unit string

// The units breachnotify uses.
const (
	Count     Unit = "Count"
	PerSecond Unit = "Count/Second"
)

// Value is one metric of a document.
type Value struct {
	Name  string
	Unit  Unit
	Value float64
}

// Emitter writes EMF documents to W; a nil Emitter writes nothing, so a
// test or a tool may leave it out.
type Emitter struct {
	W io.Writer

	mu sync.Mutex
}

// Emit writes one document: values at a time, under one set of dimensions
// (nil for none). Lines are written whole, so concurrent callers never
// interleave.
func (e *Emitter) Emit(at time.Time, dims map[string]string, values ...Value) error {
	if e == nil || e.W == nil || len(values) == 0 {
		return nil
	}
	line, err := Line(at, dims, values...)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err = e.W.Write(append(line, '\n'))
	return err
}

// Line encodes one EMF document. The dimension set lists the keys of dims
// in order, so equal documents encode equally.
func Line(at time.Time, dims map[string]string, values ...Value) ([]byte, error) {
	doc := map[string]any{}
	keys := slices.Sorted(maps.Keys(dims))
	for _, k := range keys {
		doc[k] = dims[k]
	}
	defs := make([]map[string]string, 0, len(values))
	for _, v := range values {
		if _, clash := doc[v.Name]; clash || v.Name == "_aws" {
			return nil, fmt.Errorf("metric %q: the name is used twice in one document", v.Name)
		}
		defs = append(defs, map[string]string{"Name": v.Name, "Unit": string(v.Unit)})
		doc[v.Name] = v.Value
	}
	doc["_aws"] = map[string]any{
		"Timestamp": at.UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace": Namespace, "Dimensions": [][]string{append([]string{}, keys...)}, "Metrics": defs,
		}},
	}
	return json.Marshal(doc)
}
