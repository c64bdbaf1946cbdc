// Package redisstore is the redis:// (and rediss://) location store: the
// bindings live in a Redis server that several locus nodes can share.
//
// Keys, with the default prefix "locus:" and the table in a hash tag:
//
//	locus:loc:{location}:sip:alice@example.com   string: the AoR's bindings (codec.go),
//	                                              expiring at the latest binding expiry + ttl_margin
//	locus:aors:{location}                         sorted set, every score 0: the table's AoRs, for List (ZRANGE BYLEX)
//	locus:exp:{location}                          sorted set: AoR → its earliest binding expiry (Unix ms), for Expire
//	locus:tables                                  set: the tables that have had bindings
//	locus:changes                                 pub/sub channel: the change feed
//
// Update is optimistic: GET the AoR's record (one round trip), run fn in
// Go, then write the result with a Lua script (one round trip) that checks
// the key still holds the record fn saw (each record carries a random
// generation) and, in the same atomic step, sets the key with its TTL,
// updates both indexes and publishes the change. If another writer got in
// between, the script writes nothing and Update runs fn again on the new
// record. fn cannot run on the server: it is the registrar's logic, in Go.
// The script, rather than WATCH/MULTI/EXEC, leaves no state on the pooled
// connection, needs no dedicated connection per transaction, and lets
// Expire commit a batch of AoRs of which some lost a race.
//
// The index sets may name AoRs whose key Redis already expired (nobody swept
// them in time): List and Expire skip such members and remove them.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/locus-sip/locus/modules/usrloc"
)

func init() {
	usrloc.RegisterStore("redis", open)
	usrloc.RegisterStore("rediss", open)
}

func open(ctx context.Context, dsn string) (usrloc.Store, error) {
	return Open(ctx, dsn)
}

// ErrClosed is returned by every method of a closed store.
var ErrClosed = errors.New("redisstore: store closed")

const (
	defaultPrefix    = "locus:"
	defaultTTLMargin = time.Hour

	// Defaults for go-redis options the DSN does not set: short enough that
	// a dead server fails a REGISTER quickly even without a ctx deadline.
	defaultDialTimeout = 2 * time.Second
	defaultIOTimeout   = 3 * time.Second

	// openTimeout bounds Open when ctx has no deadline.
	openTimeout = 10 * time.Second

	// maxConflicts is how many times Update runs fn again after another
	// writer won the race for the same AoR, before it gives up.
	maxConflicts = 100

	listBatch   = 256 // AoRs per List round trip
	expireBatch = 256 // AoRs per Expire script call
	feedBuffer  = 1024
)

// Config is a parsed DSN.
type Config struct {
	// Redis is go-redis's client configuration.
	Redis *redis.Options
	// Prefix starts every key and the channel name.
	Prefix string
	// TTLMargin is how long an AoR's key outlives its latest binding, so a
	// sweeper can still report the expiry.
	TTLMargin time.Duration
}

// ParseDSN parses redis://[user:password@]host:port[/db][?options] (or
// rediss:// for TLS). The options are prefix and ttl_margin (this store's)
// and go-redis's own (dial_timeout, read_timeout, write_timeout,
// pool_size, pool_timeout, min_idle_conns, client_name, skip_verify, ...),
// except max_retries: the store never resends a command whose fate is
// unknown.
func ParseDSN(dsn string) (*Config, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL: it may hold a password
		}
		return nil, fmt.Errorf("redisstore: bad DSN: %w", err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("redisstore: DSN %s: want redis:// or rediss://", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("redisstore: DSN %s: no host, want %s://HOST:PORT/DB", u.Redacted(), u.Scheme)
	}
	cfg := &Config{Prefix: defaultPrefix, TTLMargin: defaultTTLMargin}
	q := u.Query()
	if q.Has("prefix") {
		cfg.Prefix = q.Get("prefix")
		if strings.ContainsAny(cfg.Prefix, "{}") {
			return nil, fmt.Errorf("redisstore: DSN %s: prefix %q: braces are reserved for the table's hash tag", u.Redacted(), cfg.Prefix)
		}
		q.Del("prefix")
	}
	if q.Has("ttl_margin") {
		d, err := time.ParseDuration(q.Get("ttl_margin"))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("redisstore: DSN %s: ttl_margin %q: want a duration such as 1h", u.Redacted(), q.Get("ttl_margin"))
		}
		cfg.TTLMargin = d
		q.Del("ttl_margin")
	}
	if q.Has("max_retries") {
		return nil, fmt.Errorf("redisstore: DSN %s: max_retries is not supported: the store never resends a command that may have been applied", u.Redacted())
	}
	u.RawQuery = q.Encode()
	opt, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("redisstore: DSN %s: %w", u.Redacted(), err)
	}
	if !q.Has("dial_timeout") {
		opt.DialTimeout = defaultDialTimeout
	}
	if !q.Has("read_timeout") {
		opt.ReadTimeout = defaultIOTimeout
	}
	if !q.Has("write_timeout") {
		opt.WriteTimeout = defaultIOTimeout
	}
	// A command that failed on the wire may have been applied: had go-redis
	// resent an applied update script, Update would take its own write for
	// a concurrent one and run fn on top of it. Callers get
	// ErrStoreUnavailable instead (the registrar answers 500 Retry-After).
	// One dial per call, no retry loop: a dead server fails fast.
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	opt.ContextTimeoutEnabled = true
	opt.DisableIdentity = true // CLIENT SETINFO: Redis ≥ 7.2, a wasted round trip before
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	cfg.Redis = opt
	return cfg, nil
}

// Store is the Redis store. It is safe for concurrent use.
type Store struct {
	rdb       *redis.Client
	prefix    string
	margin    time.Duration
	node      string // random id of this Store, in its change messages
	channel   string
	tablesKey string
	addr      string

	locks aorLocks
	// beforeExpireApply, for tests, runs between Expire's read and write.
	beforeExpireApply func()

	ps       *redis.PubSub
	changes  chan usrloc.Change
	feedDone chan struct{}
	closed   atomic.Bool
}

// Open connects to the server the DSN names, checks it answers and
// subscribes to the change feed.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg)
}

// New opens a store with a parsed configuration.
func New(ctx context.Context, cfg *Config) (*Store, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, openTimeout)
		defer cancel()
	}
	s := &Store{
		rdb:       redis.NewClient(cfg.Redis),
		prefix:    cfg.Prefix,
		margin:    cfg.TTLMargin,
		node:      fmt.Sprintf("%016x", rand.Uint64()),
		channel:   cfg.Prefix + "changes",
		tablesKey: cfg.Prefix + "tables",
		addr:      cfg.Redis.Addr,
		changes:   make(chan usrloc.Change, feedBuffer),
		feedDone:  make(chan struct{}),
	}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		_ = s.rdb.Close()
		return nil, fmt.Errorf("redisstore: connect to %s: %w: %w", s.addr, usrloc.ErrStoreUnavailable, err)
	}
	// Subscribe before returning, so that no change written after Open is
	// missed: wait for the server's confirmation.
	s.ps = s.rdb.Subscribe(ctx, s.channel)
	if err := s.awaitSubscription(ctx); err != nil {
		_ = s.ps.Close()
		_ = s.rdb.Close()
		return nil, fmt.Errorf("redisstore: subscribe to %s on %s: %w: %w", s.channel, s.addr, usrloc.ErrStoreUnavailable, err)
	}
	in := s.ps.ChannelWithSubscriptions(
		redis.WithChannelSize(feedBuffer),
		redis.WithChannelHealthCheckInterval(time.Second),
		redis.WithChannelPingTimeout(defaultIOTimeout),
	)
	go s.feed(in)
	return s, nil
}

func (s *Store) awaitSubscription(ctx context.Context) error {
	timeout := defaultIOTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	msg, err := s.ps.ReceiveTimeout(ctx, timeout)
	if err != nil {
		return err
	}
	if _, ok := msg.(*redis.Subscription); !ok {
		return fmt.Errorf("unexpected %T instead of the subscription", msg)
	}
	return nil
}

// Keys. The table goes in a hash tag, which also delimits it: an AoR's key
// and its table's indexes hash to one Redis Cluster slot, as a script
// touching them all would need there (the store talks to one server).

func (s *Store) aorKey(table, aor string) string {
	return s.prefix + "loc:{" + table + "}:" + aor
}

func (s *Store) indexKey(table string) string { return s.prefix + "aors:{" + table + "}" }

func (s *Store) expiryKey(table string) string { return s.prefix + "exp:{" + table + "}" }

func checkTable(table string) error {
	if table == "" || strings.ContainsAny(table, "{}") {
		return fmt.Errorf("redisstore: table %q: want a non-empty name without braces", table)
	}
	return nil
}

// fail wraps err from an operation: Redis error replies (a wrong type, a
// script error, out of memory) as they are, everything else (no connection,
// a timeout, a server loading its data or read-only) also as
// usrloc.ErrStoreUnavailable.
func (s *Store) fail(op string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("redisstore: %s: %w", op, ErrClosed)
	}
	var rerr redis.Error
	if errors.As(err, &rerr) && !redis.IsLoadingError(err) && !redis.IsReadOnlyError(err) &&
		!redis.IsMasterDownError(err) && !redis.IsMaxClientsError(err) && !redis.IsTryAgainError(err) &&
		!redis.IsClusterDownError(err) {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("redisstore: %s: %w", op, err) // the caller gave up: not an outage
	}
	return fmt.Errorf("redisstore: %s on %s: %w: %w", op, s.addr, usrloc.ErrStoreUnavailable, err)
}

func (s *Store) corrupt(table, aor string) error {
	return fmt.Errorf("redisstore: key %s: %w", s.aorKey(table, aor), errCorrupt)
}

// Get returns the AoR's bindings.
func (s *Store) Get(ctx context.Context, table, aor string) ([]usrloc.Binding, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkTable(table); err != nil {
		return nil, err
	}
	v, err := s.rdb.Get(ctx, s.aorKey(table, aor)).Result()
	if err == redis.Nil {
		return nil, nil
	}
	if err != nil {
		return nil, s.fail("get "+aor, err)
	}
	bs, err := decodeRecord(v, aor)
	if err != nil {
		return nil, s.corrupt(table, aor)
	}
	return bs, nil
}

// List reads the table's index a batch at a time and the batch's records
// with one MGET; it holds nothing while fn runs, so fn may call the store.
// An AoR changed meanwhile is seen as it is when its batch is read.
func (s *Store) List(ctx context.Context, table, prefix, after string, fn func(aor string, bs []usrloc.Binding) bool) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := checkTable(table); err != nil {
		return err
	}
	start, stop := lexRange(prefix, after)
	for {
		aors, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{
			Key: s.indexKey(table), Start: start, Stop: stop, ByLex: true, Count: listBatch,
		}).Result()
		if err != nil {
			return s.fail("list", err)
		}
		if len(aors) == 0 {
			return nil
		}
		keys := make([]string, len(aors))
		for i, aor := range aors {
			keys[i] = s.aorKey(table, aor)
		}
		vals, err := s.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return s.fail("list", err)
		}
		var vanished []string
		stopped := false
		for i, aor := range aors {
			v, ok := vals[i].(string)
			if !ok {
				vanished = append(vanished, aor)
				continue
			}
			bs, err := decodeRecord(v, aor)
			if err != nil {
				return s.corrupt(table, aor)
			}
			if !fn(aor, bs) {
				stopped = true
				break
			}
		}
		if len(vanished) > 0 {
			// Best effort: unindex the AoRs unless written meanwhile.
			ws := make([]write, len(vanished))
			for i, aor := range vanished {
				ws[i].aor = aor
			}
			_, _ = s.apply(ctx, table, ws)
		}
		if stopped || len(aors) < listBatch {
			return nil
		}
		start = "(" + aors[len(aors)-1]
	}
}

// lexRange returns the ZRANGE BYLEX bounds of the AoRs that start with
// prefix and sort after after.
func lexRange(prefix, after string) (start, stop string) {
	switch {
	case after != "" && after >= prefix:
		start = "(" + after
	case prefix != "":
		start = "[" + prefix
	default:
		start = "-"
	}
	stop = "+"
	// The smallest string greater than every string with the prefix: the
	// prefix without its trailing 0xff bytes, its last byte incremented.
	p := strings.TrimRight(prefix, "\xff")
	if p != "" {
		stop = "(" + p[:len(p)-1] + string([]byte{p[len(p)-1] + 1})
	}
	return start, stop
}

// Close stops the change feed (closing the Changes channel) and closes the
// connections.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	err := s.ps.Close()
	<-s.feedDone
	if err2 := s.rdb.Close(); err == nil {
		err = err2
	}
	if err != nil {
		return fmt.Errorf("redisstore: close: %w", err)
	}
	return nil
}

// Interface guard.
var _ usrloc.Store = (*Store)(nil)
