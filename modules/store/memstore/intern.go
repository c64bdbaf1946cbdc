package memstore

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Interning limits: the table never shrinks (ids are written into stored
// records), so it is bounded; strings past the bounds are stored inline.
// Worst case it holds maxInterned × maxInternLen = 16 MiB.
const (
	chunkBits    = 8
	chunkSize    = 1 << chunkBits
	maxInterned  = 1 << 16
	maxInternLen = 255
)

// interns maps the low-cardinality strings of a binding (Socket, UserAgent,
// Methods) to small ids, so a million bindings share one copy of each. Ids
// are looked up without locks (sync.Map) and resolved without locks
// (fixed chunks published atomically); only adding a string takes mu.
type interns struct {
	ids    sync.Map // string → uint32
	mu     sync.Mutex
	n      uint32
	chunks [maxInterned / chunkSize]atomic.Pointer[[chunkSize]string]
}

// id returns s's id, adding s if there is room; ok is false when s is not
// interned and must be stored inline.
func (in *interns) id(s string) (id uint32, ok bool) {
	if v, ok := in.ids.Load(s); ok {
		return v.(uint32), true
	}
	if len(s) > maxInternLen {
		return 0, false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if v, ok := in.ids.Load(s); ok {
		return v.(uint32), true
	}
	if in.n == maxInterned {
		return 0, false
	}
	id = in.n
	c := in.chunks[id>>chunkBits].Load()
	if c == nil {
		c = new([chunkSize]string)
		in.chunks[id>>chunkBits].Store(c)
	}
	// The string is in place before its id is published; a reader only
	// learns the id through ids or through a record written after this.
	c[id&(chunkSize-1)] = strings.Clone(s) // s may point into a whole request
	in.n++
	in.ids.Store(c[id&(chunkSize-1)], id)
	return id, true
}

// str returns the string with the given id.
func (in *interns) str(id uint32) string {
	return in.chunks[id>>chunkBits].Load()[id&(chunkSize-1)]
}
