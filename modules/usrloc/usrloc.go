package usrloc

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Service is what other modules (the registrar, admin API) use of the
// location service.
type Service interface {
	// Lookup returns the AoR's live bindings (expired ones are never
	// returned). The slice is shared and must not be modified.
	Lookup(ctx context.Context, table, aor string) ([]Binding, error)
	// Update atomically replaces the AoR's bindings with fn's result, see
	// Store.Update. fn sees only live bindings, in its own copy: it may
	// modify them and return them (the registrar refreshes in place).
	Update(ctx context.Context, table, aor string, fn func(cur []Binding) ([]Binding, error)) ([]Binding, error)
	// OnExpired registers a callback for bindings removed by expiry.
	OnExpired(fn func(Expired))
}

// Usrloc is the location service: a Store with a read cache in front.
type Usrloc struct {
	// Config, decoded from modules.usrloc.
	Cache         string            `yaml:"cache"`           // auto, on or off
	CacheSize     int64             `yaml:"cache_size"`      // most AoRs cached
	CacheTTL      time.Duration     `yaml:"cache_ttl"`       // bound on a cached entry's age
	TimerInterval time.Duration     `yaml:"timer_interval"`  // expiry sweep period
	HandleLostTCP bool              `yaml:"handle_lost_tcp"` // remove bindings whose connection is gone
	Tables        map[string]string `yaml:"-"`

	store   Store
	log     *slog.Logger
	metrics *metrics
	cache   *ristretto.Cache[string, *cached]
	seed    maphash.Seed
	// epochs version the cache: every write to an AoR bumps the epoch of
	// its slot (and a lost change feed bumps gen), and a cached entry is
	// served only while both still equal what they were before the store
	// read that filled it. A fill that raced with a write can be stored,
	// but is never served.
	epochs   []atomic.Uint64
	gen      atomic.Uint64
	expired  atomic.Pointer[[]func(Expired)]
	now      func() time.Time
	clockSet bool // SetClock replaced now: time.Now readings are not its time
	cancel   context.CancelFunc
	done     chan struct{}
}

// New returns a Usrloc with defaults, before Provision.
func New() *Usrloc {
	return &Usrloc{
		Cache:         "auto",
		CacheSize:     1 << 20,
		CacheTTL:      5 * time.Minute,
		TimerInterval: 10 * time.Second,
		now:           time.Now,
		seed:          maphash.MakeSeed(),
	}
}

// NewWithStore returns a provisioned Usrloc over st with a read cache of
// cacheSize AoRs (0: no cache), for tests and tools.
func NewWithStore(st Store, cacheSize int64, log *slog.Logger) (*Usrloc, error) {
	u := New()
	u.Cache = "off"
	if cacheSize > 0 {
		u.Cache, u.CacheSize = "on", cacheSize
	}
	if err := u.init(st, log); err != nil {
		return nil, err
	}
	return u, nil
}

// cached is a cache entry: the bindings and the versions they were read at.
type cached struct {
	bs    []Binding
	epoch uint64
	gen   uint64
}

// epochSlots is the number of epoch slots: enough that writes to other
// AoRs rarely invalidate an entry (512 KiB).
const epochSlots = 1 << 16

func (u *Usrloc) init(st Store, log *slog.Logger) error {
	u.store, u.log = st, log
	_, inMemory := st.(interface{ InMemory() bool })
	useCache := u.Cache == "on" || (u.Cache == "auto" && !inMemory)
	if useCache {
		u.epochs = make([]atomic.Uint64, epochSlots)
		c, err := ristretto.NewCache(&ristretto.Config[string, *cached]{
			NumCounters:        10 * u.CacheSize,
			MaxCost:            u.CacheSize,
			BufferItems:        64,
			IgnoreInternalCost: true,
		})
		if err != nil {
			return fmt.Errorf("usrloc: cache: %w", err)
		}
		u.cache = c
	}
	return nil
}

// SetClock replaces the clock, for tests.
func (u *Usrloc) SetClock(now func() time.Time) { u.now, u.clockSet = now, true }

// Store returns the backing store.
func (u *Usrloc) Store() Store { return u.store }

// Immediate reports whether the store answers without waiting on I/O
// (memory:), so that a caller holding a UDP socket need not hand it on
// before a call (core.Msg.Blocking).
func (u *Usrloc) Immediate() bool {
	im, ok := u.store.(interface{ Immediate() bool })
	return ok && im.Immediate()
}

// Cached reports whether lookups go through the read cache.
func (u *Usrloc) Cached() bool { return u.cache != nil }

func cacheKey(table, aor string) string { return table + "\x00" + aor }

func (u *Usrloc) epoch(key string) *atomic.Uint64 {
	return &u.epochs[maphash.String(u.seed, key)%uint64(len(u.epochs))]
}

// Lookup implements Service.
func (u *Usrloc) Lookup(ctx context.Context, table, aor string) ([]Binding, error) {
	now := u.now()
	if u.cache == nil {
		start := time.Now()
		bs, err := u.store.Get(ctx, table, aor)
		u.metrics.op("get", start, err)
		if err != nil {
			return nil, fmt.Errorf("usrloc: lookup %s: %w", aor, err)
		}
		return liveView(bs, now), nil
	}
	key := cacheKey(table, aor)
	ep := u.epoch(key)
	epoch, gen := ep.Load(), u.gen.Load()
	if c, ok := u.cache.Get(key); ok && c.epoch == epoch && c.gen == gen {
		u.metrics.cache(true)
		return liveView(c.bs, now), nil
	}
	u.metrics.cache(false)
	start := time.Now()
	bs, err := u.store.Get(ctx, table, aor)
	u.metrics.op("get", start, err)
	if err != nil {
		return nil, fmt.Errorf("usrloc: lookup %s: %w", aor, err)
	}
	u.cache.SetWithTTL(key, &cached{bs: bs, epoch: epoch, gen: gen}, 1, u.CacheTTL)
	return liveView(bs, now), nil
}

// Update implements Service. The cache is invalidated after the store
// committed, before Update returns: a lookup that follows sees the write.
func (u *Usrloc) Update(ctx context.Context, table, aor string, fn func(cur []Binding) ([]Binding, error)) ([]Binding, error) {
	start := time.Now()
	now := start // one clock read serves both unless a test set the clock
	if u.clockSet {
		now = u.now()
	}
	out, err := u.store.Update(ctx, table, aor, func(cur []Binding) ([]Binding, error) {
		bs, err := fn(liveView(cur, now))
		if err != nil {
			return nil, &refusal{err}
		}
		return bs, nil
	})
	if fnErr, ok := refused(err); ok {
		err = fnErr
		u.metrics.op("update", start, nil) // refused by the caller, not a store failure
	} else {
		u.metrics.op("update", start, err)
	}
	if u.cache != nil {
		// Invalidate even on error: the store may have committed before
		// the error surfaced (a lost reply from a remote store).
		u.drop(cacheKey(table, aor))
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// refusal carries an error of Update's fn through the store, which returns
// it as is: it tells a refusal from a store failure without a variable the
// closure would have to share (one allocation per update fewer).
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// refused returns fn's error if err carries one.
func refused(err error) (error, bool) {
	if err == nil {
		return nil, false
	}
	if r, ok := err.(*refusal); ok {
		return r.err, true
	}
	var r *refusal
	if errors.As(err, &r) { // a store that wrapped it after all
		return r.err, true
	}
	return err, false
}

// Invalidate drops a cached AoR; the change feed calls it for remote
// writes. An empty aor drops the whole cache.
func (u *Usrloc) Invalidate(table, aor string) {
	if u.cache == nil {
		return
	}
	if aor == "" {
		u.gen.Add(1)
		u.cache.Clear()
		return
	}
	u.drop(cacheKey(table, aor))
}

// drop invalidates a cached AoR. Bumping its epoch is what keeps a stale
// entry from being served, even one whose Set ristretto has yet to apply;
// Del only frees the entry's room. Del also hands the key to ristretto's
// policy goroutine, a channel send that wakes it, so it runs only for an
// AoR the cache holds: a REGISTER of an AoR no one looked up wakes nothing.
func (u *Usrloc) drop(key string) {
	u.epoch(key).Add(1)
	if _, ok := u.cache.GetTTL(key); ok {
		u.cache.Del(key)
	}
}

// OnExpired implements Service. Callbacks run on the sweeper goroutine.
func (u *Usrloc) OnExpired(fn func(Expired)) {
	for {
		old := u.expired.Load()
		var next []func(Expired)
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, fn)
		if u.expired.CompareAndSwap(old, &next) {
			return
		}
	}
}

// Sweep removes expired bindings now and runs the expiry callbacks.
func (u *Usrloc) Sweep(ctx context.Context) (int, error) {
	start := time.Now()
	gone, err := u.store.Expire(ctx, u.now())
	u.metrics.op("expire", start, err)
	if err != nil {
		return 0, fmt.Errorf("usrloc: expire: %w", err)
	}
	if u.metrics != nil {
		u.metrics.expired.Add(float64(len(gone)))
	}
	cbs := u.expired.Load()
	for _, x := range gone {
		u.Invalidate(x.Table, x.AOR)
		if cbs != nil {
			for _, cb := range *cbs {
				cb(x)
			}
		}
	}
	return len(gone), nil
}

// liveView returns bs without expired bindings, sharing bs when all are live.
func liveView(bs []Binding, now time.Time) []Binding {
	for i := range bs {
		if bs[i].Expired(now) {
			return Live(bs, now)
		}
	}
	return bs
}
