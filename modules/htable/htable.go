package htable

import (
	"errors"
	"fmt"
	"hash/maphash"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of table operations.
var (
	// ErrFull is returned when a new item would exceed the table's max_items.
	ErrFull = errors.New("htable: table full")
	// ErrNotFound is returned for an item that does not exist (or expired).
	ErrNotFound = errors.New("htable: no such item")
	// ErrNotInt is returned by Add for an item holding a string.
	ErrNotInt = errors.New("htable: item is not an integer")
	// ErrOp is returned for a match operator other than eq, ne, re, sw, ew, in.
	ErrOp = errors.New("htable: unknown match operator")
)

// Value is an item's value: a string or an integer, as in Kamailio.
type Value struct {
	S     string
	N     int64
	IsStr bool
}

// Str is a string value.
func Str(s string) Value { return Value{S: s, IsStr: true} }

// Int is an integer value.
func Int(n int64) Value { return Value{N: n} }

// String formats the value.
func (v Value) String() string {
	if v.IsStr {
		return v.S
	}
	return fmt.Sprint(v.N)
}

type item struct {
	v       Value
	expires int64 // unix nanoseconds; 0 never
}

func (it *item) expired(now int64) bool { return it.expires != 0 && it.expires <= now }

// shard is one lock and the items whose key hashes to it. Padding keeps
// two shards' locks off one cache line.
type shard struct {
	mu sync.RWMutex
	m  map[string]item
	_  [32]byte
}

// Options configure a Table.
type Options struct {
	// Shards is the number of lock shards, a power of two (default 16).
	Shards int
	// MaxItems bounds the number of items (0: unbounded).
	MaxItems int
	// AutoExpire is how long an item lives after it is set (0: forever).
	AutoExpire time.Duration
	// KeepExpire stops updates from restarting an item's expiry
	// (Kamailio's updateexpire=0).
	KeepExpire bool
	// InitVal, when set, is the integer a missing item reads as
	// (Kamailio's initval).
	InitVal *int64
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Table is one named in-memory table shared by all requests: string keys,
// string or integer values, optional expiry, bounded size. It is safe for
// concurrent use: keys are spread over sharded read-write locks.
type Table struct {
	name   string
	opts   Options
	seed   maphash.Seed
	shards []shard
	mask   uint64
	count  atomic.Int64

	expired atomic.Uint64 // items removed because they expired
	refused atomic.Uint64 // new items refused because the table was full
}

// NewTable returns an empty table.
func NewTable(name string, o Options) *Table {
	if o.Shards <= 0 {
		o.Shards = 16
	}
	n := 1
	for n < o.Shards {
		n <<= 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	t := &Table{name: name, opts: o, seed: maphash.MakeSeed(), shards: make([]shard, n), mask: uint64(n - 1)}
	for i := range t.shards {
		t.shards[i].m = map[string]item{}
	}
	return t
}

// Name is the table's name.
func (t *Table) Name() string { return t.name }

// Len is the number of items, expired ones not yet swept included.
func (t *Table) Len() int { return int(t.count.Load()) }

// Stats reports the items removed by expiry and the new items refused
// because the table was full.
func (t *Table) Stats() (expired, refused uint64) { return t.expired.Load(), t.refused.Load() }

// InitVal is the integer a missing item reads as, if the table has one.
func (t *Table) InitVal() (int64, bool) {
	if t.opts.InitVal == nil {
		return 0, false
	}
	return *t.opts.InitVal, true
}

func (t *Table) shard(key string) *shard {
	return &t.shards[maphash.String(t.seed, key)&t.mask]
}

func (t *Table) now() int64 { return t.opts.Now().UnixNano() }

// Get returns the item's value; false when it does not exist or expired.
func (t *Table) Get(key string) (Value, bool) {
	s := t.shard(key)
	s.mu.RLock()
	it, ok := s.m[key]
	s.mu.RUnlock()
	// Read the clock only for an item that can expire.
	if !ok || it.expires != 0 && it.expired(t.now()) {
		return Value{}, false
	}
	return it.v, true
}

// Lookup is Get with the table's initval standing in for a missing item.
func (t *Table) Lookup(key string) (Value, bool) {
	if v, ok := t.Get(key); ok {
		return v, true
	}
	if n, ok := t.InitVal(); ok {
		return Int(n), true
	}
	return Value{}, false
}

// TTL is the time an item has left: 0 for one that never expires; false
// when it does not exist.
func (t *Table) TTL(key string) (time.Duration, bool) {
	s := t.shard(key)
	s.mu.RLock()
	it, ok := s.m[key]
	s.mu.RUnlock()
	now := t.now()
	if !ok || it.expired(now) {
		return 0, false
	}
	if it.expires == 0 {
		return 0, true
	}
	return time.Duration(it.expires - now), true
}

// Set sets an item. A new item expires after AutoExpire; an existing one
// has its expiry restarted unless KeepExpire.
func (t *Table) Set(key string, v Value) error {
	return t.set(key, v, 0)
}

// SetWithExpire sets an item that expires after exp (exp <= 0: the
// table's AutoExpire), as Kamailio's sht_setxs and sht_setxi.
func (t *Table) SetWithExpire(key string, v Value, exp time.Duration) error {
	return t.set(key, v, exp)
}

func (t *Table) set(key string, v Value, exp time.Duration) error {
	now := t.now()
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.m[key]
	if ok && !it.expired(now) {
		it.v = v
		switch {
		case exp > 0:
			it.expires = now + int64(exp)
		case !t.opts.KeepExpire:
			it.expires = t.expiry(now)
		}
		s.m[key] = it
		return nil
	}
	if !ok && !t.reserve(s, now) {
		return ErrFull
	}
	it = item{v: v, expires: t.expiry(now)}
	if exp > 0 {
		it.expires = now + int64(exp)
	}
	s.m[key] = it
	return nil
}

// expiry is the expiry time of an item set at now.
func (t *Table) expiry(now int64) int64 {
	if t.opts.AutoExpire <= 0 {
		return 0
	}
	return now + int64(t.opts.AutoExpire)
}

// reserve counts a new item in s (locked), sweeping s's expired items
// when the table is full. It reports false when there is no room.
func (t *Table) reserve(s *shard, now int64) bool {
	max := int64(t.opts.MaxItems)
	if max > 0 && t.count.Load() >= max {
		t.sweepShard(s, now)
		if t.count.Load() >= max {
			t.refused.Add(1)
			return false
		}
	}
	t.count.Add(1)
	return true
}

// SetExpire makes an existing item expire after exp from now (exp <= 0:
// never), as Kamailio's sht_setex.
func (t *Table) SetExpire(key string, exp time.Duration) error {
	now := t.now()
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.m[key]
	if !ok || it.expired(now) {
		return ErrNotFound
	}
	it.expires = 0
	if exp > 0 {
		it.expires = now + int64(exp)
	}
	s.m[key] = it
	return nil
}

// Add adds delta to an integer item and returns the new value. A missing
// item starts from the table's initval (or 0). It fails with ErrNotInt on
// a string item and ErrFull when a new item does not fit.
func (t *Table) Add(key string, delta int64) (int64, error) {
	now := t.now()
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.m[key]
	if ok && !it.expired(now) {
		if it.v.IsStr {
			return 0, ErrNotInt
		}
		it.v.N += delta
		if !t.opts.KeepExpire {
			it.expires = t.expiry(now)
		}
		s.m[key] = it
		return it.v.N, nil
	}
	if !ok && !t.reserve(s, now) {
		return 0, ErrFull
	}
	base, _ := t.InitVal()
	it = item{v: Int(base + delta), expires: t.expiry(now)}
	s.m[key] = it
	return it.v.N, nil
}

// Delete removes an item and reports whether it existed.
func (t *Table) Delete(key string) bool {
	now := t.now()
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.m[key]
	if !ok {
		return false
	}
	delete(s.m, key)
	t.count.Add(-1)
	return !it.expired(now)
}

// Reset removes every item.
func (t *Table) Reset() {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		t.count.Add(-int64(len(s.m)))
		clear(s.m)
		s.mu.Unlock()
	}
}

// Sweep removes the expired items and returns how many it removed.
func (t *Table) Sweep() int {
	now := t.now()
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += t.sweepShard(s, now)
		s.mu.Unlock()
	}
	return n
}

func (t *Table) sweepShard(s *shard, now int64) int {
	n := 0
	for k, it := range s.m {
		if it.expired(now) {
			delete(s.m, k)
			n++
		}
	}
	if n > 0 {
		t.count.Add(-int64(n))
		t.expired.Add(uint64(n))
	}
	return n
}

// Matcher tests a string against an operand, with Kamailio's match
// operators: eq (equal), ne (not equal), re (regular expression), sw
// (starts with), ew (ends with), in (contains).
type Matcher func(string) bool

// NewMatcher builds the matcher for op and operand; re compiles operand
// through compile (which may cache).
func NewMatcher(op, operand string, compile func(string) (*regexp.Regexp, error)) (Matcher, error) {
	switch op {
	case "eq":
		return func(s string) bool { return s == operand }, nil
	case "ne":
		return func(s string) bool { return s != operand }, nil
	case "sw":
		return func(s string) bool { return strings.HasPrefix(s, operand) }, nil
	case "ew":
		return func(s string) bool { return strings.HasSuffix(s, operand) }, nil
	case "in":
		return func(s string) bool { return strings.Contains(s, operand) }, nil
	case "re":
		if compile == nil {
			compile = regexp.Compile
		}
		re, err := compile(operand)
		if err != nil {
			return nil, fmt.Errorf("htable: regular expression %q: %w", operand, err)
		}
		return re.MatchString, nil
	}
	return nil, fmt.Errorf("%w %q", ErrOp, op)
}

// Target selects what a match looks at.
type Target int

// Targets of Match and DeleteMatching.
const (
	// Name matches item names (keys).
	Name Target = iota
	// StrValue matches string values (integer items never match).
	StrValue
)

func (t Target) subject(k string, it *item) (string, bool) {
	if t == Name {
		return k, true
	}
	return it.v.S, it.v.IsStr
}

// Match reports whether any live item's name or string value matches.
func (t *Table) Match(target Target, m Matcher) bool {
	now := t.now()
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		for k, it := range s.m {
			if it.expired(now) {
				continue
			}
			if subj, ok := target.subject(k, &it); ok && m(subj) {
				s.mu.RUnlock()
				return true
			}
		}
		s.mu.RUnlock()
	}
	return false
}

// DeleteMatching removes the items whose name or string value matches and
// returns how many it removed.
func (t *Table) DeleteMatching(target Target, m Matcher) int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, it := range s.m {
			if subj, ok := target.subject(k, &it); ok && m(subj) {
				delete(s.m, k)
				n++
			}
		}
		s.mu.Unlock()
	}
	t.count.Add(-int64(n))
	return n
}

// regexCache keeps compiled expressions that scripts pass as strings, so
// a pattern in a hot route compiles once. It is bounded: when full it is
// emptied.
type regexCache struct {
	mu sync.Mutex
	m  map[string]*regexp.Regexp
}

const regexCacheSize = 256

func (c *regexCache) compile(expr string) (*regexp.Regexp, error) {
	c.mu.Lock()
	re, ok := c.m[expr]
	c.mu.Unlock()
	if ok {
		return re, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= regexCacheSize {
		c.m = map[string]*regexp.Regexp{}
	}
	c.m[expr] = re
	c.mu.Unlock()
	return re, nil
}
