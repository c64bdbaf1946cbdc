// Package sqlitestore is the sqlite: location store, locus's embedded
// default: bindings in one SQLite file (WAL mode, pure Go driver, no cgo),
// one row per binding.
//
// Write-through with group commit: one writer goroutine owns the write
// connection; concurrent Updates queue up while a commit is in progress and
// the next transaction applies them all, one after the other, then commits
// once. With synchronous=FULL (the default) Update returns nil only after
// the commit reached the disk (SQLite fsyncs the WAL inside the commit), so
// an acknowledged registration survives a crash of locus and a power loss
// alike.
//
// Checkpoints, which copy the WAL back into the database file, run on a
// goroutine of their own (the checkpointer), from a connection of their
// own, beside the writer instead of inside its commits. The writer
// checkpoints by itself only if the WAL grows past a backstop.
//
// Reads (Get, List) go through a separate pool of read-only connections:
// WAL lets them run beside the writer, seeing the last commit.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/locus-sip/locus/modules/usrloc"
)

func init() {
	usrloc.RegisterStore("sqlite", open)
}

// ErrClosed is returned by every method of a closed store.
var ErrClosed = errors.New("sqlitestore: store closed")

// Options are the settings a DSN's query string carries.
type Options struct {
	// Synchronous is SQLite's synchronous setting for the writer: "full"
	// (the default: every commit is fsynced, nothing acknowledged is lost
	// even on power loss) or "normal" (the WAL is fsynced at checkpoints
	// only, which the checkpointer runs every 10 ms or so while commits
	// come in: safe against a crash of locus, but a power loss or kernel
	// crash may lose the commits since the last one), or "extra".
	Synchronous string
	// BusyTimeout bounds how long a transaction waits for the write lock
	// another process holds on the same file (default 5 s).
	BusyTimeout time.Duration
	// Readers is the size of the read connection pool (default
	// max(4, GOMAXPROCS)).
	Readers int
	// MaxBatch is the most requests one transaction applies (default 256).
	MaxBatch int
}

// DefaultOptions returns the options a DSN without a query string gets.
func DefaultOptions() Options {
	return Options{
		Synchronous: "full",
		BusyTimeout: 5 * time.Second,
		Readers:     max(4, runtime.GOMAXPROCS(0)),
		MaxBatch:    256,
	}
}

// ParseDSN splits "sqlite:PATH[?options]" into the file's path and options.
// "sqlite://PATH" is accepted too (so "sqlite:///var/lib/locus/location.db"
// is an absolute path).
func ParseDSN(dsn string) (string, Options, error) {
	opts := DefaultOptions()
	scheme, rest, ok := strings.Cut(dsn, ":")
	if !ok || scheme != "sqlite" {
		return "", opts, fmt.Errorf("sqlitestore: DSN %q: want sqlite:PATH", dsn)
	}
	rest = strings.TrimPrefix(rest, "//")
	path, query, _ := strings.Cut(rest, "?")
	if path == "" {
		return "", opts, fmt.Errorf("sqlitestore: DSN %q: no file path, want e.g. sqlite:/var/lib/locus/location.db", dsn)
	}
	if path == ":memory:" || strings.HasPrefix(path, "file:") {
		return "", opts, fmt.Errorf("sqlitestore: DSN %q: want a plain file path (use memory: for a store in memory)", dsn)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", opts, fmt.Errorf("sqlitestore: DSN %q: %w", dsn, err)
	}
	for key, vals := range q {
		v := vals[len(vals)-1]
		switch key {
		case "synchronous":
			switch s := strings.ToLower(v); s {
			case "full", "normal", "extra":
				opts.Synchronous = s
			default:
				return "", opts, fmt.Errorf("sqlitestore: DSN %q: synchronous=%q: want full, normal or extra", dsn, v)
			}
		case "busy_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return "", opts, fmt.Errorf("sqlitestore: DSN %q: busy_timeout=%q: want a duration such as 5s", dsn, v)
			}
			opts.BusyTimeout = d
		case "readers", "max_batch":
			var n int
			if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n < 1 || fmt.Sprint(n) != v {
				return "", opts, fmt.Errorf("sqlitestore: DSN %q: %s=%q: want a positive integer", dsn, key, v)
			}
			if key == "readers" {
				opts.Readers = n
			} else {
				opts.MaxBatch = n
			}
		default:
			return "", opts, fmt.Errorf("sqlitestore: DSN %q: unknown option %q (known: synchronous, busy_timeout, readers, max_batch)", dsn, key)
		}
	}
	return path, opts, nil
}

func open(ctx context.Context, dsn string) (usrloc.Store, error) {
	path, opts, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	return Open(ctx, path, opts)
}

// Store is the SQLite store. Open it with Open or usrloc.Open.
//
// Update calls fn on the writer goroutine, inside the transaction, one
// request after another: fn must be quick and must not call the store
// (it would wait for itself). fn gets a fresh copy of the current bindings.
type Store struct {
	path       string
	opts       Options
	hooks      hooks
	wdb        *sql.DB // one connection, held by the writer (w.conn)
	w          *writer // its connection serves tests that read the writer's pragmas
	rdb        *sql.DB // read-only pool
	cdb        *sql.DB // one connection, the checkpointer's
	ckpt       *checkpointer
	gate       sync.Mutex    // the writer holds it from BEGIN to COMMIT
	txSeq      atomic.Uint64 // the writer adds 1 at BEGIN and at the end: odd while in a transaction
	get        *sql.Stmt
	list       *sql.Stmt
	listPrefix *sql.Stmt
	reqs       chan *request
	quit       chan struct{} // closed by Close: the writer finishes and exits
	done       chan struct{} // closed by the writer when it has exited
	once       sync.Once
	closed     atomic.Bool

	// Counters, for tests and future metrics.
	batches  atomic.Uint64
	requests atomic.Uint64
}

// hooks let tests and benchmarks watch the store's work and shrink its
// thresholds; all zero in production.
type hooks struct {
	// batch is called after each commit with the batch's size and when
	// it began (before the gate), finished its statements, and committed.
	batch func(n int, begin, applied, committed time.Time)
	// checkpointed is called after each of the checkpointer's
	// checkpoints, on its goroutine; gated tells that it holds the writer
	// back meanwhile.
	checkpointed func(gated bool)
	// checkpointEvery, restartFrames and backstopFrames replace the
	// defaults of the same names.
	checkpointEvery time.Duration
	restartFrames   int64
	backstopFrames  int
}

// Open opens (creating it and its directory if need be) the database at
// path, brings its schema up to date and starts the writer and the
// checkpointer.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	return openHooked(ctx, path, opts, hooks{})
}

func openHooked(ctx context.Context, path string, opts Options, h hooks) (*Store, error) {
	def := DefaultOptions()
	if opts.Synchronous == "" {
		opts.Synchronous = def.Synchronous
	}
	if opts.Readers <= 0 {
		opts.Readers = def.Readers
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = def.MaxBatch
	}
	if path == "" || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("sqlitestore: open %q: want a file path without '?'", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlitestore: %w", err)
		}
	}
	s := &Store{
		path:  path,
		opts:  opts,
		hooks: h,
		reqs:  make(chan *request, opts.MaxBatch),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	if err := s.open(ctx); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	w, err := newWriter(ctx, s)
	if err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	s.w = w
	go s.ckpt.run()
	go w.run()
	return s, nil
}

// open opens the connection pools, migrates the schema, prepares the read
// statements and sets up the checkpointer.
func (s *Store) open(ctx context.Context) error {
	base := s.path + fmt.Sprintf("?_pragma=busy_timeout(%d)", s.opts.BusyTimeout.Milliseconds())
	pool := func(dsn string, n int) (*sql.DB, error) {
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(n)
		db.SetMaxIdleConns(n)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		return db, nil
	}
	var err error
	// The writer: IMMEDIATE transactions take the write lock at BEGIN, so a
	// batch never fails half-way on a lock (the writer says BEGIN IMMEDIATE
	// itself; _txlock makes the migrations' transactions immediate too).
	// The checkpointer copies the WAL
	// into the database file; the writer checkpoints by itself only if the
	// WAL grows past the backstop.
	backstop := backstopFrames
	if s.hooks.backstopFrames > 0 {
		backstop = s.hooks.backstopFrames
	}
	if s.wdb, err = pool(base+"&_txlock=immediate&_pragma=journal_mode(WAL)"+
		"&_pragma=synchronous("+s.opts.Synchronous+")"+
		fmt.Sprintf("&_pragma=wal_autocheckpoint(%d)", backstop), 1); err != nil {
		return err
	}
	if err := s.wdb.PingContext(ctx); err != nil {
		return err
	}
	if err := migrate(ctx, s.wdb); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	// The checkpointer's connection. A checkpoint fsyncs the WAL before it
	// copies, and the database file once it copied every frame, with
	// NORMAL as with FULL: the writer's setting decides only whether each
	// commit fsyncs the WAL.
	if s.cdb, err = pool(base+"&_pragma=synchronous(normal)", 1); err != nil {
		return err
	}
	every, restart := checkpointEvery, int64(restartFrames)
	if s.hooks.checkpointEvery > 0 {
		every = s.hooks.checkpointEvery
	}
	if s.hooks.restartFrames > 0 {
		restart = s.hooks.restartFrames
	}
	s.ckpt = newCheckpointer(s.cdb, &s.gate, &s.txSeq, every, restart, s.hooks.checkpointed)
	if s.rdb, err = pool(base+"&_pragma=query_only(1)", s.opts.Readers); err != nil {
		return err
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{{&s.get, sqlSelect}, {&s.list, sqlList}, {&s.listPrefix, sqlListPrefix}} {
		if *p.stmt, err = s.rdb.PrepareContext(ctx, p.sql); err != nil {
			return err
		}
	}
	return nil
}

// closeDBs closes what open opened.
func (s *Store) closeDBs() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.get, s.list, s.listPrefix} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	for _, db := range []*sql.DB{s.rdb, s.cdb, s.wdb} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

// unavailable wraps a database error as an outage.
func unavailable(what string, err error) error {
	return fmt.Errorf("sqlitestore: %s: %w: %w", what, usrloc.ErrStoreUnavailable, err)
}

// ctxError wraps a context's error; a deadline that passed while waiting
// for the database is an outage, a cancellation is the caller's doing.
func ctxError(what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return unavailable(what, err)
	}
	return fmt.Errorf("sqlitestore: %s: %w", what, err)
}

func checkNames(what, table, aor string) error {
	if table == "" || aor == "" {
		return fmt.Errorf("sqlitestore: %s of table %q AoR %q: empty name", what, table, aor)
	}
	return nil
}

// Get returns the AoR's bindings, read from the last commit.
func (s *Store) Get(ctx context.Context, table, aor string) ([]usrloc.Binding, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	rows, err := s.get.QueryContext(ctx, table, aor)
	if err != nil {
		return nil, s.readError("get "+aor, ctx, err)
	}
	defer rows.Close()
	bs, _, err := scanAoR(rows, aor)
	if err != nil {
		return nil, s.readError("get "+aor, ctx, err)
	}
	return bs, nil
}

func (s *Store) readError(what string, ctx context.Context, err error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if ctx.Err() != nil {
		return ctxError(what, ctx.Err())
	}
	return unavailable(what, err)
}

// Update applies fn to the AoR's current bindings in the writer's next
// transaction and returns once that transaction committed.
func (s *Store) Update(ctx context.Context, table, aor string, fn func(cur []usrloc.Binding) ([]usrloc.Binding, error)) ([]usrloc.Binding, error) {
	if err := checkNames("update", table, aor); err != nil {
		return nil, err
	}
	res, err := s.do(ctx, &request{ctx: ctx, kind: opUpdate, table: table, aor: aor, fn: fn}, "update "+aor)
	if err != nil {
		return nil, err
	}
	return res.bs, nil
}

// Expire deletes the bindings that expired at or before now, in every
// table, and returns them.
func (s *Store) Expire(ctx context.Context, now time.Time) ([]usrloc.Expired, error) {
	res, err := s.do(ctx, &request{ctx: ctx, kind: opExpire, now: now}, "expire")
	if err != nil {
		return nil, err
	}
	return res.expired, nil
}

// do hands r to the writer and waits for its answer or ctx. A request
// abandoned because ctx ended may still be committed.
func (s *Store) do(ctx context.Context, r *request, what string) (result, error) {
	if s.closed.Load() {
		return result{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return result{}, ctxError(what, err)
	}
	r.reply = make(chan result, 1)
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		return result{}, ctxError(what, ctx.Err())
	case <-s.quit:
		return result{}, ErrClosed
	}
	var res result
	select {
	case res = <-r.reply:
	case <-ctx.Done():
		return result{}, ctxError(what, ctx.Err())
	case <-s.done:
		// The writer answers before it exits: look once more.
		select {
		case res = <-r.reply:
		default:
			return result{}, ErrClosed
		}
	}
	if res.panicked {
		panic(res.panicVal) // fn's panic, on the caller's goroutine
	}
	return res, res.err
}

// List reads listFirst rows first (an admin page is often short), then
// listNext at a time.
const (
	listFirst = 128
	listNext  = 1024
)

// List calls fn for the AoRs of table after after with the given prefix, in
// ascending order. It reads a batch of rows, then calls fn for their AoRs
// with no connection held, so fn may call the store; an AoR changed
// meanwhile may be seen as it was when its batch was read.
func (s *Store) List(ctx context.Context, table, prefix, after string, fn func(aor string, bs []usrloc.Binding) bool) error {
	stmt, upper := s.list, ""
	if u, ok := prefixEnd(prefix); ok {
		stmt, upper = s.listPrefix, u
	}
	n := listFirst
	for {
		if s.closed.Load() {
			return ErrClosed
		}
		from := max(after, prefix) // after itself is excluded
		page, more, err := s.listBatch(ctx, stmt, table, from, after, upper, n)
		if err != nil {
			return s.readError("list "+table, ctx, err)
		}
		for _, g := range page {
			if len(g.bs) == 0 {
				continue
			}
			if !fn(g.aor, g.bs) {
				return nil
			}
		}
		if !more {
			return nil
		}
		after = page[len(page)-1].aor
		n = listNext
	}
}

type aorBindings struct {
	aor string
	bs  []usrloc.Binding
}

// listBatch reads the next n rows of the listing and returns their
// complete AoRs, and whether more may follow. When the n rows are all one
// AoR's, it reads that AoR whole.
func (s *Store) listBatch(ctx context.Context, stmt *sql.Stmt, table, from, after, upper string, n int) ([]aorBindings, bool, error) {
	rows, err := stmt.QueryContext(ctx, table, from, after, upper, n)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var (
		page  []aorBindings
		r     row
		aor   string
		count int
	)
	dest := r.dest(&aor, &r.pos)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, false, err
		}
		count++
		b, err := r.binding(aor)
		if err != nil {
			return nil, false, err
		}
		if len(page) == 0 || page[len(page)-1].aor != aor {
			page = append(page, aorBindings{aor: aor})
		}
		g := &page[len(page)-1]
		g.bs = append(g.bs, b)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	rows.Close()
	if count < n {
		return page, false, nil
	}
	// The batch is full: its last AoR may go on in the next rows.
	if len(page) > 1 {
		return page[:len(page)-1], true, nil
	}
	last := page[0].aor
	rows, err = s.get.QueryContext(ctx, table, last)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	bs, _, err := scanAoR(rows, last)
	if err != nil {
		return nil, false, err
	}
	if len(bs) == 0 { // deleted meanwhile: go on after it
		return []aorBindings{{aor: last}}, true, nil
	}
	return []aorBindings{{aor: last, bs: bs}}, true, nil
}

// prefixEnd returns the smallest string greater than every string with the
// prefix, and false when there is none (no prefix, or only 0xff bytes).
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// Changes returns nil: a SQLite file is shared only by processes on one
// host, which read it directly (locus keeps no cache in front of a store
// without a change feed). Several nodes use Redis or PostgreSQL.
func (s *Store) Changes() <-chan usrloc.Change { return nil }

// Close stops the writer after it has answered every queued request (with
// ErrClosed for those not yet applied), then the checkpointer (after its
// round of checkpoints in progress), and closes the database.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.quit)
		<-s.done
		close(s.ckpt.stop)
		<-s.ckpt.done
		err = s.closeDBs()
	})
	return err
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Interface guard.
var _ usrloc.Store = (*Store)(nil)
