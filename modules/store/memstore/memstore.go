// Package memstore is the memory: location store: bindings live in this
// process only and are lost when it exits. It is the store for tests,
// single-node setups that accept losing registrations on restart, and the
// baseline the persistent stores are measured against.
//
// Each AoR's bindings are packed into one immutable string (see codec.go),
// held in one of 256 shards, each a map guarded by its own mutex. The
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
}

type shard struct {
	mu     sync.Mutex
	tables map[string]map[string]record // table → AoR → record
	_      [128 - 16]byte               // keep each shard's lock on its own cache lines
}

// record is the packed bindings of one AoR; its map key is a substring of
// data.
type record struct {
	data   string
	minExp int64 // earliest Expires, Unix milliseconds
}

// New returns an empty memory store.
func New() *Store {
	s := &Store{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].tables = map[string]map[string]record{}
	}
	return s
}

// shard returns the shard of aor. Only the AoR is hashed: the same AoR in
// two tables sharing a shard is harmless, and it saves a hash per call.
func (s *Store) shard(aor string) *shard {
	return &s.shards[maphash.String(s.seed, aor)%numShards]
}

// Get returns the AoR's bindings in a new slice.
// Immediate reports that every call returns without waiting on I/O.
func (s *Store) Immediate() bool { return true }

func (s *Store) Get(_ context.Context, table, aor string) ([]usrloc.Binding, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	sh := s.shard(aor)
	sh.mu.Lock()
	rec, ok := sh.tables[table][aor]
	sh.mu.Unlock()
	if !ok {
		return nil, nil
	}
	return decodeRecord(rec.data, &s.interns), nil
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
	sh := s.shard(aor)
	sh.mu.Lock()
	defer sh.mu.Unlock() // deferred: fn may panic
	if sh.tables == nil {
		return nil, ErrClosed
	}
	m := sh.tables[table]
	rec, ok := m[aor]
	var cur []usrloc.Binding
	if ok {
		cur = decodeRecord(rec.data, &s.interns)
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
			delete(m, aor)
			if len(m) == 0 {
				delete(sh.tables, table)
			}
		}
		return nil, nil
	}
	if m == nil {
		m = map[string]record{}
		sh.tables[strings.Clone(table)] = m
	}
	rec = s.pack(aor, next)
	// Assigning to an existing string key replaces the key too, so the old
	// record is freed and the key never points into the caller's aor.
	m[recordAOR(rec.data)] = rec
	return decodeRecord(rec.data, &s.interns), nil
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
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for table, m := range sh.tables {
			for aor, rec := range m {
				if rec.minExp > nowMs {
					continue
				}
				bs := decodeRecord(rec.data, &s.interns)
				keep := bs[:0]
				for _, b := range bs {
					if !b.Expired(now) {
						keep = append(keep, b)
						continue
					}
					if b.AOR == "" {
						b.AOR = aor
					}
					expired = append(expired, usrloc.Expired{Table: table, Binding: b})
				}
				s.bindings.Add(int64(len(keep) - len(bs)))
				if len(keep) == 0 {
					s.aors.Add(-1)
					delete(m, aor)
					continue
				}
				rec = s.pack(aor, keep)
				m[recordAOR(rec.data)] = rec
			}
			if len(m) == 0 {
				delete(sh.tables, table)
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
			sh := s.shard(aor)
			sh.mu.Lock()
			rec, ok := sh.tables[table][aor]
			sh.mu.Unlock()
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
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for aor := range sh.tables[table] {
			if aor <= after || !strings.HasPrefix(aor, prefix) {
				continue
			}
			if len(h) < n {
				h = append(h, aor)
				siftUp(h, len(h)-1)
			} else if aor < h[0] {
				h[0] = aor
				siftDown(h, 0)
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
		sh.tables = nil
		sh.mu.Unlock()
	}
	return nil
}

// Interface guard.
var _ usrloc.Store = (*Store)(nil)
