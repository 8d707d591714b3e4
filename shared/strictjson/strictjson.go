// Package strictjson decodes JSON at the doors (events, import lines,
// admin requests) so that every reader of the same bytes sees the same
// values. encoding/json alone does not: it matches keys case-insensitively,
// keeps the last of two equal keys and, through a Decoder, ignores what
// follows the first value — so `"status":"suspected","Status":"confirmed"`
// reads as confirmed here and suspected elsewhere.
package strictjson

import (
	"breachnotify/shared/errs"
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// ErrStrict is wrapped by every error that reports a rule of this package
// broken (as opposed to JSON that does not parse or does not fit v).
var ErrStrict = errs.New(errs.Invalid, "strict JSON")

// Limits on what an error says, so that its text stays bounded whatever
// the input: the first maxProblems problems are named, the rest counted,
// and a key is quoted up to maxKey bytes.
const (
	maxProblems = 5
	maxKey      = 64
	// maxDepth bounds nesting; the documents read here are a few levels
	// deep, and the walk recurses once per level.
	maxDepth = 64
)

// Error lists the problems found: unknown fields, duplicate keys, keys
// spelt differently from the field they would fill, trailing data.
type Error struct {
	// Problems holds the first few problems; More counts the others.
	Problems []string
	More     int
}

func (e *Error) Error() string {
	s := strings.Join(e.Problems, "; ")
	if e.More > 0 {
		s += fmt.Sprintf("; and %d more", e.More)
	}
	return s
}

func (e *Error) Is(target error) bool { return target == ErrStrict }

// Kind is ErrStrict's, so errs.KindOf reads it as it reads the sentinel.
func (e *Error) Kind() errs.Kind { return ErrStrict.Kind() }

func (e *Error) add(format string, args ...any) {
	if len(e.Problems) < maxProblems {
		e.Problems = append(e.Problems, fmt.Sprintf(format, args...))
		return
	}
	e.More++
}

// Decode decodes one JSON value from data into v, a non-nil pointer, and
// fails when data holds anything after it, an object repeats a key, or a
// key does not match a field's JSON name exactly (including case). Keys
// that match no field are unknown fields, reported by name.
func Decode(data []byte, v any) error { return decode(data, v, false) }

// DecodeOpen is Decode for documents another party may extend (the
// EventBridge envelope gains fields such as "replay-name"): unknown fields
// are ignored, but a key spelt like a known field in another case is still
// rejected, since encoding/json would read it as that field.
func DecodeOpen(data []byte, v any) error { return decode(data, v, true) }

func decode(data []byte, v any, open bool) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("strictjson: decode into %T: need a non-nil pointer", v)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	w := walker{dec: dec, open: open}
	if err := w.value(rv.Type().Elem(), "", 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		w.problems.add("trailing data after the JSON value (at byte %d)", dec.InputOffset())
	}
	if len(w.problems.Problems) > 0 {
		return &w.problems
	}
	if err := json.Unmarshal(data, v); err != nil {
		return bound(err)
	}
	return nil
}

// maxError bounds the text of an error from encoding/json, some of which
// quote a whole value (a time that does not parse, for one).
const maxError = 256

type boundedError struct {
	msg string
	err error
}

func (e *boundedError) Error() string { return e.msg }
func (e *boundedError) Unwrap() error { return e.err }

func bound(err error) error {
	msg := err.Error()
	if len(msg) <= maxError {
		return err
	}
	n := maxError
	for n > 0 && !isRuneStart(msg[n]) {
		n--
	}
	return &boundedError{msg: msg[:n] + "…", err: err}
}

type walker struct {
	dec      *json.Decoder
	open     bool
	problems Error
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// value reads one value whose destination has type t (nil: anything, whose
// objects are checked for duplicate keys only).
func (w *walker) value(t reflect.Type, path string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested deeper than %d levels", ErrStrict, maxDepth)
	}
	tok, err := w.dec.Token()
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	t = structural(t)
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		return w.object(t, path, depth)
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(elem, path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
				return err
			}
		}
		_, err := w.dec.Token() // ']'
		return err
	}
	return nil
}

func (w *walker) object(t reflect.Type, path string, depth int) error {
	var fields map[string]reflect.Type
	var elem reflect.Type
	switch {
	case t != nil && t.Kind() == reflect.Struct:
		fields = fieldsOf(t)
	case t != nil && t.Kind() == reflect.Map:
		elem = t.Elem()
	}
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return fmt.Errorf("not JSON: %w", err)
		}
		key, _ := tok.(string)
		at := join(path, key)
		if seen[key] {
			w.problems.add("%s: duplicate key", quote(at))
		}
		seen[key] = true
		next := elem
		if fields != nil {
			ft, ok := fields[key]
			switch {
			case ok:
				next = ft
			case caseVariant(fields, key) != "":
				w.problems.add("%s: key must be spelt %s", quote(at), quote(caseVariant(fields, key)))
			case !w.open:
				w.problems.add("%s: unknown field", quote(at))
			}
		}
		if err := w.value(next, at, depth+1); err != nil {
			return err
		}
	}
	_, err := w.dec.Token() // '}'
	return err
}

// structural returns the type whose shape the JSON must follow: pointers
// are looked through, and types that decode themselves accept any shape.
func structural(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() == reflect.Interface {
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return nil
	}
	return t
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// fieldsOf maps the JSON names of a struct's fields to their types, with
// the fields of embedded structs promoted as encoding/json does.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range fieldsOf(ft) {
					if _, ok := m[k]; !ok {
						m[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = ft
	}
	fieldCache.Store(t, m)
	return m
}

// caseVariant returns the field name key would fill under encoding/json's
// case-insensitive matching, or "".
func caseVariant(fields map[string]reflect.Type, key string) string {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return name
		}
	}
	return ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// quote quotes at most maxKey bytes of s (on a rune boundary).
func quote(s string) string {
	if len(s) <= maxKey {
		return strconv.Quote(s)
	}
	n := maxKey
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return strconv.Quote(s[:n]) + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
