package strictjson

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Name string   `json:"name"`
	Tags []string `json:"tags,omitempty"`
}

type Base struct {
	ID string `json:"id"`
}

type doc struct {
	Base
	Status  string            `json:"status"`
	At      time.Time         `json:"at,omitzero"`
	Items   []inner           `json:"items,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Raw     json.RawMessage   `json:"raw,omitempty"`
	Skipped string            `json:"-"`
	Plain   int
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in string
		open     bool
		want     []string // substrings of the error; none: must decode
	}{
		{name: "exact keys", in: `{"id":"a","status":"s","items":[{"name":"n","tags":["x"]}],"labels":{"k":"v"},"Plain":1,"raw":{"any":1,"Any":2}}`},
		{name: "whitespace after the value", in: "{\"id\":\"a\"} \n\t"},
		{name: "trailing data", in: `{"id":"a"} junk`, want: []string{"trailing data"}},
		{name: "a second value", in: `{"id":"a"}{"id":"b"}`, want: []string{"trailing data"}},
		{name: "duplicate key", in: `{"status":"suspected","status":"confirmed"}`, want: []string{`"status": duplicate key`}},
		{name: "case variant", in: `{"status":"suspected","Status":"confirmed"}`, want: []string{`"Status": key must be spelt "status"`}},
		{name: "long s folds to s", in: `{"ſtatus":"confirmed"}`, want: []string{`key must be spelt "status"`}},
		{name: "promoted field in another case", in: `{"ID":"a"}`, want: []string{`"ID": key must be spelt "id"`}},
		{name: "unknown field by name", in: `{"id":"a","emial":"x"}`, want: []string{`"emial": unknown field`}},
		{name: "unknown nested field with its path", in: `{"items":[{"name":"n","colour":1}]}`, want: []string{`"items[0].colour": unknown field`}},
		{name: "duplicate key in a map", in: `{"labels":{"k":"a","k":"b"}}`, want: []string{`"labels.k": duplicate key`}},
		{name: "duplicate key inside raw JSON", in: `{"raw":{"a":1,"a":2}}`, want: []string{`"raw.a": duplicate key`}},
		{name: "ignored field is unknown", in: `{"Skipped":"x"}`, want: []string{`"Skipped": unknown field`}},
		{name: "open: unknown field ignored", in: `{"id":"a","replay-name":"r"}`, open: true},
		{name: "open: case variant still rejected", in: `{"id":"a","STATUS":"x"}`, open: true, want: []string{`key must be spelt "status"`}},
		{name: "not JSON", in: `{"id":`, want: []string{"not JSON"}},
		{name: "wrong type", in: `{"id":1}`, want: []string{"cannot unmarshal"}},
		{name: "many problems are counted", in: `{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1}`, want: []string{`"a": unknown field`, "and 2 more"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			dec := Decode
			if tc.open {
				dec = DecodeOpen
			}
			err := dec([]byte(tc.in), &d)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Decode = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode accepted %s", tc.in)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDecodeFillsValues(t *testing.T) {
	var d doc
	if err := Decode([]byte(`{"id":"a","status":"confirmed","at":"2026-11-30T10:00:00Z","items":[{"name":"n"}]}`), &d); err != nil {
		t.Fatal(err)
	}
	if d.ID != "a" || d.Status != "confirmed" || d.At.IsZero() || len(d.Items) != 1 || d.Items[0].Name != "n" {
		t.Errorf("decoded %+v", d)
	}
}

func TestErrorsAreBounded(t *testing.T) {
	long := strings.Repeat("k", 100_000)
	var keys []string
	for i := range 1000 {
		keys = append(keys, `"`+long[:100+i]+`":1`)
	}
	inputs := map[string]string{
		"long unknown key":    `{"` + long + `":1}`,
		"many unknown keys":   "{" + strings.Join(keys, ",") + "}",
		"long unparsed time":  `{"at":"` + long + `"}`,
		"long trailing data":  `{} ` + long,
		"deep nesting":        strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000),
		"long duplicate keys": `{"` + long + `":1,"` + long + `":2}`,
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			var d doc
			err := Decode([]byte(in), &d)
			if err == nil {
				t.Fatal("accepted")
			}
			if len(err.Error()) > 1024 {
				t.Errorf("error is %d bytes", len(err.Error()))
			}
		})
	}
}

func TestStrictErrorsAreErrStrict(t *testing.T) {
	var d doc
	if err := Decode([]byte(`{"id":"a","id":"b"}`), &d); !errors.Is(err, ErrStrict) {
		t.Errorf("err = %v, want ErrStrict", err)
	}
}

func TestNeedsPointer(t *testing.T) {
	if err := Decode([]byte(`{}`), doc{}); err == nil {
		t.Error("Decode into a non-pointer succeeded")
	}
}
