// Package memstore is the memory: location store: bindings live in this
// process only and are lost when it exits. It is the store for tests,
// single-node setups that accept losing registrations on restart, and the
// baseline the persistent stores are measured against.
//
// Each AoR's bindings are packed into one immutable string (see codec.go),
// held in one of 256 shards, each guarded by its own mutex, in an
// open-addressing index of the AoRs' hashes (see locTable). The
// low-cardinality strings of a binding (Socket, UserAgent, Methods) are
// interned in a bounded table, so a million bindings share one copy of each.
// Times are kept to the millisecond.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/locus-sip/locus/modules/usrloc"
)

func init() {
	usrloc.RegisterStore("memory", open)
}

// open accepts "memory:" (and "memory://"): the store has no options.
func open(_ context.Context, dsn string) (usrloc.Store, error) {
	_, rest, _ := strings.Cut(dsn, ":")
	if rest != "" && rest != "//" {
		return nil, fmt.Errorf("memstore: DSN %q: the memory store takes no options, use memory:", dsn)
	}
	return New(), nil
}

// ErrClosed is returned by every method of a closed store.
var ErrClosed = errors.New("memstore: store closed")

const (
	numShards = 256
	// listBatch is how many AoRs List sorts at a time: a page of an admin
	// listing costs one pass over the shards, not a sort of every AoR.
	listBatch = 256
	// stackRecord is the size of the stack buffer a record is packed in
	// before its one heap copy; records of a few bindings fit.
	stackRecord = 1024
)

// Store is the memory store. The zero value is not usable: call New.
//
// Contexts are not used: no method blocks on anything but a shard lock.
//
// Update calls fn with the shard lock held, so fn must not call back into
// the store (it may deadlock) and should be quick. fn gets a fresh copy of
// the current bindings, which it may modify or return; the result is
// decoded into the slice fn returns.
//
// Get, Expire and List return fresh slices the caller may modify; Update
// returns the slice fn returned, holding the stored bindings.
// Their strings share memory with the stored record: strings are immutable,
// and a record is never changed, only replaced.
type Store struct {
	seed   maphash.Seed
	closed atomic.Bool
	// aors and bindings count what the store holds, for usrloc.Counter.
	aors     atomic.Int64
	bindings atomic.Int64
	interns  interns
	shards   [numShards]shard
	// testHash replaces the AoR hash in tests, to make AoRs collide.
	testHash func(aor string) uint64
}

// shard is padded to shardSize, two cache lines, so that each shard's
// lock has its own.
type shard struct {
	shardFields
	_ [shardSize - unsafe.Sizeof(shardFields{})]byte
}

type shardFields struct {
	mu sync.Mutex
	// home is the shard's first table, kept in the shard's own cache
	// lines: most setups use one table, whose index is then found in the
	// lines the lock was just taken in.
	home   locTable
	tables map[string]*locTable
	// last is the table used last, found without a map lookup.
	last *locTable
}

const shardSize = 128

// table returns the named table, or nil. sh.mu is held.
func (sh *shard) table(name string) *locTable {
	if t := sh.last; t != nil && t.name == name {
		return t
	}
	t := sh.tables[name]
	if t != nil {
		sh.last = t
	}
	return t
}

// newTable adds an empty table. sh.mu is held.
func (sh *shard) newTable(name string) *locTable {
	t := &sh.home
	if t.name != "" {
		t = &locTable{}
	}
	t.name = strings.Clone(name)
	sh.tables[t.name] = t
	sh.last = t
	return t
}

// drop removes t, which has no AoRs left. sh.mu is held.
func (sh *shard) drop(t *locTable) {
	delete(sh.tables, t.name)
	if sh.last == t {
		sh.last = nil
	}
	*t = locTable{} // frees the index; home is free again
}

// locTable is one location table's AoRs in a shard: an open-addressing
// hash index with linear probing, a flat array of slots each holding an
// AoR's 64-bit hash and its record.
//
// A lookup reads the slots from the AoR's home slot on until it finds the
// AoR (its hash matches and the record's AoR, which every record starts
// with, equals it) or an empty slot: one or two cache lines, where a Go map
// reads its header, directory, table and group first. AoRs whose hashes
// collide simply take different slots. Deleting shifts the slots that
// follow back (no tombstones), so a probe never runs longer than the
// cluster it is in.
type locTable struct {
	name  string // its key in shard.tables
	slots []slot // a power of two long, or empty
	n     int    // slots in use
	shift uint   // 64 - log2(len(slots)): a hash's top bits are its home slot
}

// slot is one AoR's place in a locTable; an empty slot has no record.
type slot struct {
	h   uint64
	rec record
}

const (
	minSlots = 8
	// A table grows when more than maxLoad of its slots would be in use,
	// and shrinks (after removals) when fewer than minLoad are.
	maxLoadNum, maxLoadDen = 3, 4
	minLoadDen             = 8
)

// home is the slot a hash probes first. The shard takes the hash's low
// bits, so the slot takes its high ones.
func (t *locTable) home(h uint64) int { return int(h >> t.shift) }

// get returns the slot of aor, whose hash is h, and true; or, for an AoR
// the table does not hold, the empty slot where it would go (-1 when the
// table has no slots) and false.
func (t *locTable) get(h uint64, aor string) (int, bool) {
	if len(t.slots) == 0 {
		return -1, false
	}
	mask := len(t.slots) - 1
	for i := t.home(h); ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.rec.data == "" {
			return i, false
		}
		if s.h == h && recordAOR(s.rec.data) == aor {
			return i, true
		}
	}
}

// put stores rec, whose AoR hashes to h, in slot i, where get said (i,
// found) it is or would go.
func (t *locTable) put(i int, found bool, h uint64, rec record) {
	if found {
		t.slots[i].rec = rec
		return
	}
	if (t.n+1)*maxLoadDen > len(t.slots)*maxLoadNum {
		t.resize(max(minSlots, 2*len(t.slots)))
		i, _ = t.get(h, recordAOR(rec.data))
	}
	t.slots[i] = slot{h: h, rec: rec}
	t.n++
}

// removeAt empties slot i and shifts back the slots after it that would
// otherwise no longer be found: each that a probe from its home slot
// reaches only through i. Every slot it moves comes from later in the
// cluster (cyclically), so a scan in slot order that looks at slot i again
// after removeAt(i) misses none.
func (t *locTable) removeAt(i int) {
	mask := len(t.slots) - 1
	t.n--
	for j := i; ; {
		t.slots[i] = slot{}
		for {
			j = (j + 1) & mask
			s := t.slots[j]
			if s.rec.data == "" {
				return
			}
			// s stays if its home is cyclically in (i, j]: the probe
			// from there reaches j without passing i.
			k := t.home(s.h)
			if i <= j && i < k && k <= j || i > j && (i < k || k <= j) {
				continue
			}
			t.slots[i] = s
			i = j
			break
		}
	}
}

// shrink makes the index smaller when few of its slots are in use.
func (t *locTable) shrink() {
	size := len(t.slots)
	for size > minSlots && t.n*minLoadDen < size {
		size /= 2
	}
	if size != len(t.slots) {
		t.resize(size)
	}
}

// resize moves every AoR into a new index of size slots (a power of two).
func (t *locTable) resize(size int) {
	old := t.slots
	t.slots = make([]slot, size)
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	mask := size - 1
	for _, s := range old {
		if s.rec.data == "" {
			continue
		}
		i := t.home(s.h)
		for t.slots[i].rec.data != "" {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

func (t *locTable) empty() bool { return t.n == 0 }

// record is the packed bindings of one AoR, which it starts with.
type record struct {
	data   string
	minExp int64 // earliest Expires, Unix milliseconds
}

// New returns an empty memory store.
func New() *Store {
	s := &Store{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].tables = map[string]*locTable{}
	}
	return s
}

// hash is the AoR's hash: its key in a locTable, and its shard. Only the
// AoR is hashed: the same AoR in two tables sharing a shard is harmless.
func (s *Store) hash(aor string) uint64 {
	if s.testHash != nil {
		return s.testHash(aor)
	}
	return maphash.String(s.seed, aor)
}

func (s *Store) shard(h uint64) *shard { return &s.shards[h%numShards] }

// Immediate reports that every call returns without waiting on I/O.
func (s *Store) Immediate() bool { return true }

// Get returns the AoR's bindings in a new slice.
func (s *Store) Get(_ context.Context, table, aor string) ([]usrloc.Binding, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	rec, ok := s.lookup(table, aor)
	if !ok {
		return nil, nil
	}
	return decodeRecord(rec.data, &s.interns), nil
}

// lookup returns the record of the AoR in table.
func (s *Store) lookup(table, aor string) (record, bool) {
	h := s.hash(aor)
	sh := s.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t := sh.table(table)
	if t == nil {
		return record{}, false
	}
	i, ok := t.get(h, aor)
	if !ok {
		return record{}, false
	}
	return t.slots[i].rec, true
}

// Update replaces the AoR's bindings with what fn returns for a copy of the
// current ones, holding the AoR's shard lock throughout, and returns what it
// stored.
func (s *Store) Update(_ context.Context, table, aor string, fn func(cur []usrloc.Binding) ([]usrloc.Binding, error)) ([]usrloc.Binding, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if table == "" || aor == "" {
		return nil, fmt.Errorf("memstore: update of table %q AoR %q: empty name", table, aor)
	}
	h := s.hash(aor)
	sh := s.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock() // deferred: fn may panic
	if sh.tables == nil {
		return nil, ErrClosed
	}
	t := sh.table(table)
	var (
		i   = -1
		ok  bool
		cur []usrloc.Binding
	)
	if t != nil {
		i, ok = t.get(h, aor)
	}
	if ok {
		cur = decodeRecord(t.slots[i].rec.data, &s.interns)
	}
	next, err := fn(cur)
	if err != nil {
		return nil, err
	}
	s.bindings.Add(int64(len(next) - len(cur)))
	switch {
	case ok && len(next) == 0:
		s.aors.Add(-1)
	case !ok && len(next) > 0:
		s.aors.Add(1)
	}
	if len(next) == 0 {
		if ok {
			t.removeAt(i)
			if t.empty() {
				sh.drop(t)
			} else {
				t.shrink()
			}
		}
		return nil, nil
	}
	if t == nil {
		t = sh.newTable(table)
	}
	rec := s.pack(aor, next)
	t.put(i, ok, h, rec)
	// The result takes the place of next, which holds as many bindings:
	// its strings then point into the stored record, not into what fn
	// built them from (a request, say), and a new AoR costs no second
	// slice.
	return decodeRecordInto(next[:0], rec.data, &s.interns), nil
}

func (s *Store) pack(aor string, bs []usrloc.Binding) record {
	var stack [stackRecord]byte
	buf, minExp := appendRecord(stack[:0], &s.interns, aor, bs)
	return record{data: string(buf), minExp: minExp}
}

// Expire removes the bindings that expired at or before now, in every
// table, and returns them. A binding stored with an empty AOR is returned
// with the AoR it was stored under.
func (s *Store) Expire(_ context.Context, now time.Time) ([]usrloc.Expired, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	nowMs := now.UnixMilli() // floor: a record whose earliest expiry is later has nothing due
	var expired []usrloc.Expired
	// expire rewrites or removes one record with something due; it
	// reports whether bindings are left.
	expire := func(t *locTable, rec record) (record, bool) {
		aor := recordAOR(rec.data)
		bs := decodeRecord(rec.data, &s.interns)
		n := len(bs)
		var keep []usrloc.Binding
		keep, expired = usrloc.SplitExpired(expired, t.name, aor, bs, now)
		s.bindings.Add(int64(len(keep) - n))
		if len(keep) == 0 {
			s.aors.Add(-1)
			return record{}, false
		}
		return s.pack(aor, keep), true
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for _, t := range sh.tables { // deleting while ranging is allowed
			// removeAt(j) may move a later slot into j: look at j again.
			for j := 0; j < len(t.slots); {
				sl := &t.slots[j]
				if sl.rec.data == "" || sl.rec.minExp > nowMs {
					j++
					continue
				}
				if rec, ok := expire(t, sl.rec); ok {
					sl.rec = rec
					j++
				} else {
					t.removeAt(j)
				}
			}
			if t.empty() {
				sh.drop(t)
			} else {
				t.shrink()
			}
		}
		sh.mu.Unlock()
	}
	return expired, nil
}

// List calls fn for the AoRs of table after after with the given prefix, in
// ascending order, listBatch AoRs at a time. It holds no lock while fn runs,
// so fn may call the store; an AoR changed meanwhile is seen as it is when
// its turn comes, and one deleted is skipped.
func (s *Store) List(_ context.Context, table, prefix, after string, fn func(aor string, bs []usrloc.Binding) bool) error {
	for {
		if s.closed.Load() {
			return ErrClosed
		}
		aors := s.smallestAoRs(table, prefix, after, listBatch)
		for _, aor := range aors {
			rec, ok := s.lookup(table, aor)
			if !ok {
				continue
			}
			if !fn(aor, decodeRecord(rec.data, &s.interns)) {
				return nil
			}
		}
		if len(aors) < listBatch {
			return nil
		}
		after = aors[len(aors)-1]
	}
}

// smallestAoRs returns, sorted, the n smallest AoRs of table that are
// greater than after and start with prefix. It keeps a max-heap of the n
// smallest seen, so the cost is one pass over the shards.
func (s *Store) smallestAoRs(table, prefix, after string, n int) []string {
	h := make([]string, 0, n)
	// keep considers one AoR (a substring of its record).
	keep := func(aor string) {
		if aor <= after || !strings.HasPrefix(aor, prefix) {
			return
		}
		if len(h) < n {
			h = append(h, aor)
			siftUp(h, len(h)-1)
		} else if aor < h[0] {
			h[0] = aor
			siftDown(h, 0)
		}
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if t := sh.table(table); t != nil {
			for _, sl := range t.slots {
				if sl.rec.data != "" {
					keep(recordAOR(sl.rec.data))
				}
			}
		}
		sh.mu.Unlock()
	}
	slices.Sort(h)
	return h
}

func siftUp(h []string, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p] >= h[i] {
			return
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
}

func siftDown(h []string, i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && h[c+1] > h[c] {
			c++
		}
		if h[i] >= h[c] {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// Changes returns nil: no other node writes to a memory store.
func (s *Store) Changes() <-chan usrloc.Change { return nil }

// InMemory tells usrloc that a read cache in front of this store would
// only cost memory.
func (s *Store) InMemory() bool { return true }

// Count implements usrloc.Counter: the AoRs and bindings held, expired ones
// not yet swept included.
func (s *Store) Count(context.Context) (aors, bindings int, err error) {
	return int(s.aors.Load()), int(s.bindings.Load()), nil
}

// Close drops every binding; later calls return ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.tables, sh.last, sh.home = nil, nil, locTable{}
		sh.mu.Unlock()
	}
	return nil
}

// Interface guard.
var _ usrloc.Store = (*Store)(nil)
