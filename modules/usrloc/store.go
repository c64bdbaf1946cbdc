package usrloc

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Store is the authoritative home of bindings, pluggable by DSN scheme
// (memory:, sqlite:, redis://, postgres://). Bindings are grouped by table
// (the location table a script names, "location" by default) and AoR.
// Implementations must be safe for concurrent use.
type Store interface {
	// Get returns the AoR's bindings, expired ones included (callers
	// filter). A missing AoR is an empty slice, not an error.
	Get(ctx context.Context, table, aor string) ([]Binding, error)
	// Update atomically replaces the AoR's bindings with what fn returns
	// for the current ones: no other update of that AoR interleaves. fn
	// gets its own copy of the current bindings and may be called more
	// than once (optimistic stores retry). An error from fn aborts the
	// update and is returned as is. When Update returns nil the result is
	// durable (write-through) and returned as Get would return it. An
	// empty result deletes the AoR. Stores keep times to at least the
	// millisecond, every other field exactly, and the order of an AoR's
	// bindings. The result may be written into the slice fn returned
	// (the memory store does so, saving an allocation): fn must not use
	// that slice once it has returned it.
	Update(ctx context.Context, table, aor string, fn func(cur []Binding) ([]Binding, error)) ([]Binding, error)
	// Expire removes every binding that expired at or before now and
	// returns them with their table and AOR.
	Expire(ctx context.Context, now time.Time) ([]Expired, error)
	// List calls fn for each AoR of table in ascending AoR order, starting
	// after the AoR after ("" for the start) and only AoRs with the given
	// prefix, until fn returns false or an error.
	List(ctx context.Context, table, prefix, after string, fn func(aor string, bs []Binding) bool) error
	// Changes delivers the AoRs that other nodes changed, for cache
	// invalidation; nil for a store no other node writes to.
	Changes() <-chan Change
	// Close releases the store.
	Close() error
}

// Counter is a Store that can count what it holds cheaply enough for a
// metrics scrape.
type Counter interface {
	Count(ctx context.Context) (aors, bindings int, err error)
}

// Expired is a binding removed by Expire, with its table.
type Expired struct {
	Table string
	Binding
}

// Change names an AoR that another node changed. An empty AOR means the
// feed may have missed changes (a reconnect): every cached AoR is dropped.
type Change struct {
	Table string
	AOR   string
}

// ErrStoreUnavailable wraps backend outages: the registrar answers them
// with 500 and Retry-After.
var ErrStoreUnavailable = errors.New("usrloc: store unavailable")

// Opener opens a store from a DSN.
type Opener func(ctx context.Context, dsn string) (Store, error)

var (
	openersMu sync.RWMutex
	openers   = map[string]Opener{}
)

// RegisterStore makes a store backend available under a DSN scheme ("memory",
// "sqlite", "redis", ...). It is meant for init and panics on duplicates.
func RegisterStore(scheme string, open Opener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	if scheme == "" || open == nil {
		panic("usrloc: RegisterStore with empty scheme or nil opener")
	}
	if _, dup := openers[scheme]; dup {
		panic(fmt.Sprintf("usrloc: store scheme %q registered twice", scheme))
	}
	openers[scheme] = open
}

// Open opens the store a DSN names: "scheme:rest" or "scheme://rest".
func Open(ctx context.Context, dsn string) (Store, error) {
	scheme, _, ok := strings.Cut(dsn, ":")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("usrloc: store DSN %q: want scheme:..., e.g. memory:", dsn)
	}
	openersMu.RLock()
	open, ok := openers[scheme]
	var known []string
	for s := range openers {
		known = append(known, s)
	}
	openersMu.RUnlock()
	if !ok {
		sort.Strings(known)
		return nil, fmt.Errorf("usrloc: store DSN %q: unknown scheme %q (compiled in: %s)", dsn, scheme, strings.Join(known, ", "))
	}
	st, err := open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("usrloc: open %s: %w", scheme, err)
	}
	return st, nil
}
