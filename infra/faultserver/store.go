package faultserver

import (
	"slices"
	"strings"
)

// record is an accepted message as stored: about 72 bytes plus the address.
// Subjects and tag sets repeat across a send (one per template and locale),
// so they are interned; ids are derived from seq and times kept as
// nanoseconds, so 100,000 messages cost a few megabytes.
type record struct {
	at      int64
	seq     uint64
	to      string // email To addresses, or the push TargetArn
	subject string // interned
	tags    string // interned, see encodeTags
	ch      channel
}

// chunkSize records per chunk: appending never copies what is stored, and a
// snapshot stays valid while the store grows.
const chunkSize = 4096

// maxInterned bounds the intern table, in case subjects are personalised;
// past it strings are simply stored as they are.
const maxInterned = 4096

// store is guarded by Server.mu; a snapshot of it may be read without it,
// because records are never modified once appended and appends past a
// snapshot's lengths do not touch what it can see.
type store struct {
	chunks [][]record
	n      int
	intern map[string]string
}

func (st *store) add(r record) {
	if st.n%chunkSize == 0 {
		st.chunks = append(st.chunks, make([]record, 0, chunkSize))
	}
	last := &st.chunks[len(st.chunks)-1]
	*last = append(*last, r)
	st.n++
}

func (st *store) interned(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := st.intern[s]; ok {
		return v
	}
	if st.intern == nil {
		st.intern = map[string]string{}
	}
	if len(st.intern) < maxInterned {
		st.intern[s] = s
	}
	return s
}

func (st *store) snapshot() store {
	return store{chunks: slices.Clone(st.chunks), n: st.n}
}

func (st *store) each(fn func(*record)) {
	for _, c := range st.chunks {
		for i := range c {
			fn(&c[i])
		}
	}
}

// encodeTags packs tags as "name\x00value\x00..." sorted by name: one string,
// comparable and so internable. SES tag names and values are restricted to
// [A-Za-z0-9_-], so the separator cannot occur in them.
func encodeTags(tags []messageTag) string {
	if len(tags) == 0 {
		return ""
	}
	tags = slices.Clone(tags)
	slices.SortFunc(tags, func(a, b messageTag) int { return strings.Compare(a.Name, b.Name) })
	var b strings.Builder
	for _, t := range tags {
		b.WriteString(t.Name)
		b.WriteByte(0)
		b.WriteString(t.Value)
		b.WriteByte(0)
	}
	return b.String()
}

func decodeTags(s string) map[string]string {
	if s == "" {
		return nil
	}
	parts := strings.Split(strings.TrimSuffix(s, "\x00"), "\x00")
	m := make(map[string]string, len(parts)/2)
	for i := 0; i+1 < len(parts); i += 2 {
		m[parts[i]] = parts[i+1]
	}
	return m
}
