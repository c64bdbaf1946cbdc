// Package memstore is the memory: location store: bindings live in this
// process only and are lost when it exits. It is the store for tests,
// single-node setups that accept losing registrations on restart, and the
// baseline the persistent stores are measured against.
//
// Each AoR's bindings are packed into one immutable string (see codec.go),
// held in one of 256 shards, each guarded by its own mutex, in a map keyed
// by the AoR's hash (see locTable). The
// low-cardinality strings of a binding (Socket, UserAgent, Methods) are
// interned in a bounded table, so a million bindings share one copy of each.
// Times are kept to the millisecond.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
// the current bindings, which it may modify or return.
//
// Get, Update, Expire and List return fresh slices the caller may modify.
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

type shard struct {
	mu     sync.Mutex
	tables map[string]*locTable
	// last is the table used last, found without a map lookup (and the
	// memory stalls of one): most setups use one table.
	last *locTable
	_    [128 - 24]byte // keep each shard's lock on its own cache lines
}

// locTable is one location table's AoRs in a shard.
//
// aors holds each AoR's record under the AoR's 64-bit hash, so the map
// never reads an AoR's bytes (which sit in its record, scattered over the
// heap) to hash or compare a key, not even when it grows; the record holds
// its AoR, which a hit is checked against. An AoR whose hash another AoR
// holds already goes to collided instead, keyed by its AoR (a substring of
// its record, so the key costs no allocation and never points into a
// caller's request). Each AoR is in exactly one of the two maps.
type locTable struct {
	name     string // its key in shard.tables
	aors     map[uint64]record
	collided map[string]record // nil until needed: 64-bit collisions are rare
}

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

// drop removes t, which has no AoRs left. sh.mu is held.
func (sh *shard) drop(t *locTable) {
	delete(sh.tables, t.name)
	if sh.last == t {
		sh.last = nil
	}
}

// get returns the record of aor, whose hash is h, and whether it is in
// collided; for an AoR it does not find, whether another AoR holds h, so
// that the AoR would go to collided.
func (t *locTable) get(h uint64, aor string) (rec record, ok, collided bool) {
	rec, taken := t.aors[h]
	if taken && recordAOR(rec.data) == aor {
		return rec, true, false
	}
	if len(t.collided) > 0 {
		if rec, ok := t.collided[aor]; ok {
			return rec, true, true
		}
	}
	return record{}, false, taken
}

// put stores rec, whose AoR hashes to h, where get said (found,
// collided): in collided, or under h.
func (t *locTable) put(h uint64, rec record, collided bool) {
	if !collided {
		t.aors[h] = rec
		return
	}
	if t.collided == nil {
		t.collided = map[string]record{}
	}
	// Assigning to an existing string key replaces the key too, so the old
	// record is freed and the key never points into the caller's aor.
	t.collided[recordAOR(rec.data)] = rec
}

// remove deletes the AoR get found.
func (t *locTable) remove(h uint64, aor string, collided bool) {
	if !collided {
		delete(t.aors, h)
		return
	}
	delete(t.collided, aor)
	if len(t.collided) == 0 {
		t.collided = nil
	}
}

func (t *locTable) empty() bool { return len(t.aors) == 0 && len(t.collided) == 0 }

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
	rec, ok, _ := t.get(h, aor)
	return rec, ok
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
		rec          record
		ok, collided bool
		cur, spare   []usrloc.Binding
	)
	if t != nil {
		rec, ok, collided = t.get(h, aor)
	}
	if ok {
		// One allocation holds fn's copy and the result, which usually has
		// as many bindings. fn's copy is capped at its length: nothing fn
		// does with it reaches the result.
		cur, spare = decodeRecordSpare(rec.data, &s.interns)
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
			t.remove(h, aor, collided)
			if t.empty() {
				sh.drop(t)
			}
		}
		return nil, nil
	}
	if t == nil {
		t = &locTable{name: strings.Clone(table), aors: map[uint64]record{}}
		sh.tables[t.name] = t
		sh.last = t
	}
	rec = s.pack(aor, next)
	t.put(h, rec, collided)
	return decodeRecordInto(spare, rec.data, &s.interns), nil
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
			for h, rec := range t.aors {
				if rec.minExp > nowMs {
					continue
				}
				if rec, ok := expire(t, rec); ok {
					t.aors[h] = rec
				} else {
					delete(t.aors, h)
				}
			}
			for aor, rec := range t.collided {
				if rec.minExp > nowMs {
					continue
				}
				if rec, ok := expire(t, rec); ok {
					t.collided[recordAOR(rec.data)] = rec
				} else {
					delete(t.collided, aor)
				}
			}
			if len(t.collided) == 0 {
				t.collided = nil
			}
			if t.empty() {
				sh.drop(t)
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
			for _, rec := range t.aors {
				keep(recordAOR(rec.data))
			}
			for aor := range t.collided {
				keep(aor)
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
		sh.tables, sh.last = nil, nil
		sh.mu.Unlock()
	}
	return nil
}

// Interface guard.
var _ usrloc.Store = (*Store)(nil)
