package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/locus-sip/locus/modules/usrloc"
)

// applyScript writes the new records of AoRs of one table, each only if
// its key still holds the record it was computed from (same header: format
// and generation; absent if it was absent), together with both indexes, the
// tables set and the change message: one atomic step per AoR.
//
// KEYS: the table's index, its expiry index, the tables set, then the key
// of each AoR. ARGV: the table, the channel, then six values per AoR: the
// AoR, the header it expects ("" for an absent key), the new record ("" to
// delete), the key's expiry (PXAT), the AoR's earliest binding expiry (its
// expiry index score) and the change message ("" for none).
//
// It returns, per AoR, 1 if written and 0 if the key had changed.
var applyScript = redis.NewScript(`
local out = {}
for i = 1, (#ARGV - 2) / 6 do
  local a = 2 + (i - 1) * 6
  local key, aor = KEYS[3 + i], ARGV[a + 1]
  local cur = redis.call('GET', key)
  local header = ''
  if cur then header = string.sub(cur, 1, 9) end
  if header ~= ARGV[a + 2] then
    out[i] = 0
  else
    if ARGV[a + 3] == '' then
      redis.call('DEL', key)
      redis.call('ZREM', KEYS[1], aor)
      redis.call('ZREM', KEYS[2], aor)
    else
      redis.call('SET', key, ARGV[a + 3], 'PXAT', ARGV[a + 4])
      redis.call('ZADD', KEYS[1], 0, aor)
      redis.call('ZADD', KEYS[2], ARGV[a + 5], aor)
      redis.call('SADD', KEYS[3], ARGV[1])
    end
    if ARGV[a + 6] ~= '' then
      redis.call('PUBLISH', ARGV[2], ARGV[a + 6])
    end
    out[i] = 1
  end
end
return out`)

// write is one AoR's part of an applyScript call.
type write struct {
	aor     string
	expect  string // header of the record it replaces, "" if the key was absent
	rec     []byte // nil: delete the AoR
	minExp  int64
	maxExp  int64
	publish bool
}

// apply runs applyScript for ws and reports which writes were applied.
func (s *Store) apply(ctx context.Context, table string, ws []write) ([]bool, error) {
	keys := make([]string, 3, 3+len(ws))
	keys[0], keys[1], keys[2] = s.indexKey(table), s.expiryKey(table), s.tablesKey
	args := make([]any, 2, 2+6*len(ws))
	args[0], args[1] = table, s.channel
	now := time.Now().UnixMilli()
	margin := s.margin.Milliseconds()
	for i := range ws {
		w := &ws[i]
		keys = append(keys, s.aorKey(table, w.aor))
		var msg string
		if w.publish {
			msg = s.message(table, w.aor)
		}
		if w.rec == nil {
			args = append(args, w.aor, w.expect, "", 0, 0, msg)
			continue
		}
		// Redis forgets the AoR by itself a margin after its last binding
		// expires, even if no locus is left to sweep it. Expired bindings
		// are still stored (Get returns them), so the key never expires in
		// the past.
		pxat := min(max(w.maxExp, now), maxPXAT) + margin
		args = append(args, w.aor, w.expect, w.rec, pxat, w.minExp, msg)
	}
	res, err := applyScript.Run(ctx, s.rdb, keys, args...).Int64Slice()
	if err != nil {
		return nil, err
	}
	if len(res) != len(ws) {
		return nil, fmt.Errorf("redisstore: update script answered %d results for %d writes", len(res), len(ws))
	}
	applied := make([]bool, len(res))
	for i, r := range res {
		applied[i] = r == 1
	}
	return applied, nil
}

// maxPXAT caps a key's expiry (year 9999) so that adding the margin
// cannot overflow.
const maxPXAT = 253402300799999

var errNothingExpired = errors.New("redisstore: nothing expired")

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Update reads the AoR's record, runs fn, and writes the result with
// applyScript if nobody wrote the record meanwhile; otherwise it runs fn
// again on the new record. It returns once Redis acknowledged the write:
// durable when the server fsyncs its append-only file on every write
// (appendfsync always).
//
// fn must not update the same AoR through this Store: Updates of one AoR
// take turns.
func (s *Store) Update(ctx context.Context, table, aor string, fn func(cur []usrloc.Binding) ([]usrloc.Binding, error)) ([]usrloc.Binding, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkTable(table); err != nil {
		return nil, err
	}
	if aor == "" {
		return nil, fmt.Errorf("redisstore: update of table %s: empty AoR", table)
	}
	key := s.aorKey(table, aor)
	// Writers of one AoR in this process take turns: the generation check
	// then only loses to other nodes, instead of burning round trips (and
	// fn runs) on collisions with each other.
	unlock := s.locks.lock(key)
	defer unlock()
	for attempt := 1; ; attempt++ {
		out, ok, err := s.tryUpdate(ctx, table, aor, key, fn)
		if err != nil || ok {
			return out, err
		}
		if attempt >= maxConflicts {
			return nil, fmt.Errorf("redisstore: update %s: gave up after %d conflicting writes", aor, attempt)
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, s.fail("update "+aor, err)
		}
	}
}

// tryUpdate is one round of Update; ok is false when another writer got
// in between.
func (s *Store) tryUpdate(ctx context.Context, table, aor, key string, fn func(cur []usrloc.Binding) ([]usrloc.Binding, error)) (out []usrloc.Binding, ok bool, err error) {
	v, err := s.rdb.Get(ctx, key).Result()
	var cur []usrloc.Binding
	var expect string
	switch {
	case err == redis.Nil:
	case err != nil:
		return nil, false, s.fail("update "+aor, err)
	default:
		if cur, err = decodeRecord(v, aor); err != nil {
			return nil, false, s.corrupt(table, aor)
		}
		expect = v[:headerLen]
	}
	next, err := fn(cur)
	if err != nil {
		return nil, false, err // fn's, as is
	}
	if expect == "" && len(next) == 0 {
		return nil, true, nil // nothing was there, nothing is
	}
	w := write{aor: aor, expect: expect, publish: true}
	if len(next) > 0 {
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		w.rec, w.minExp, w.maxExp = appendRecord((*bp)[:0], rand.Uint64(), aor, next)
		*bp = w.rec
	}
	applied, err := s.apply(ctx, table, []write{w})
	if err != nil {
		return nil, false, s.fail("update "+aor, err)
	}
	if !applied[0] {
		return nil, false, nil
	}
	if w.rec != nil {
		out, _ = decodeRecord(string(w.rec), aor)
	}
	return out, true, nil
}

// aorLocks serializes the Updates of an AoR within one Store.
type aorLocks struct {
	mu sync.Mutex
	m  map[string]*aorLock
}

type aorLock struct {
	mu   sync.Mutex
	refs int
}

// lock locks key and returns the function that unlocks it.
func (l *aorLocks) lock(key string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*aorLock{}
	}
	e := l.m[key]
	if e == nil {
		e = &aorLock{}
		l.m[key] = e
	}
	e.refs++
	l.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}

// backoff waits before another try after a conflict: a random pause that
// grows with the attempts, so that the writers of one hot AoR on several
// nodes spread out instead of colliding again.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(min(attempt, 20)) * int64(100*time.Microsecond)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Expire removes the bindings expired at now from every table. Several
// nodes may sweep at once: each expired binding is removed, and returned,
// by one of them.
func (s *Store) Expire(ctx context.Context, now time.Time) ([]usrloc.Expired, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	tables, err := s.rdb.SMembers(ctx, s.tablesKey).Result()
	if err != nil {
		return nil, s.fail("expire", err)
	}
	slices.Sort(tables)
	nowMs := now.UnixMilli() // floor, as the index scores
	var out []usrloc.Expired
	for _, table := range tables {
		if checkTable(table) != nil {
			continue
		}
		for {
			aors, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
				Key: s.expiryKey(table), Start: "-inf", Stop: nowMs, ByScore: true, Count: expireBatch,
			}).Result()
			if err != nil {
				return out, s.fail("expire", err)
			}
			if len(aors) == 0 {
				break
			}
			gone, err := s.expireBatch(ctx, table, aors, now)
			out = append(out, gone...)
			if err != nil {
				return out, err
			}
			// Every AoR of the batch has left the range: its expired
			// bindings were removed, or its vanished key unindexed.
			if len(aors) < expireBatch {
				break
			}
		}
	}
	return out, nil
}

// expireBatch removes the expired bindings of the given AoRs of table:
// one MGET and one applyScript call for the batch, then one Update per AoR
// that another writer changed in between.
func (s *Store) expireBatch(ctx context.Context, table string, aors []string, now time.Time) ([]usrloc.Expired, error) {
	keys := make([]string, len(aors))
	for i, aor := range aors {
		keys[i] = s.aorKey(table, aor)
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, s.fail("expire", err)
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := (*bp)[:0]
	ws := make([]write, len(aors))
	gone := make([][]usrloc.Expired, len(aors))
	for i, aor := range aors {
		ws[i].aor = aor
		v, ok := vals[i].(string)
		if !ok {
			continue // the key vanished: unindex the AoR
		}
		bs, err := decodeRecord(v, aor)
		if err != nil {
			return nil, s.corrupt(table, aor)
		}
		var keep []usrloc.Binding
		keep, gone[i] = usrloc.SplitExpired(nil, table, aor, bs, now)
		ws[i].expect = v[:headerLen]
		ws[i].publish = len(gone[i]) > 0
		if len(keep) > 0 { // also rewrites a stale expiry score
			start := len(buf)
			buf, ws[i].minExp, ws[i].maxExp = appendRecord(buf, rand.Uint64(), aor, keep)
			ws[i].rec = buf[start:len(buf):len(buf)]
		}
	}
	*bp = buf
	if s.beforeExpireApply != nil {
		s.beforeExpireApply()
	}
	applied, err := s.apply(ctx, table, ws)
	if err != nil {
		return nil, s.fail("expire", err)
	}
	var out []usrloc.Expired
	for i, ok := range applied {
		if ok {
			out = append(out, gone[i]...)
			continue
		}
		// A writer got in between: this AoR alone, as an Update.
		aor := aors[i]
		var removed []usrloc.Expired
		_, err := s.Update(ctx, table, aor, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
			var keep []usrloc.Binding
			keep, removed = usrloc.SplitExpired(nil, table, aor, cur, now)
			if len(removed) == 0 && len(cur) > 0 {
				return nil, errNothingExpired // the writer refreshed it
			}
			return keep, nil
		})
		if err != nil && err != errNothingExpired {
			return out, err
		}
		out = append(out, removed...)
	}
	return out, nil
}
