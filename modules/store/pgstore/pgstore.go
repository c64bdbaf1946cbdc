// Package pgstore is the postgres:// location store: bindings in a
// PostgreSQL database, one row per binding, shared by any number of locus
// nodes.
//
// Each Update is one transaction: it takes a transaction-scoped advisory
// lock on the AoR (which, unlike SELECT ... FOR UPDATE, also covers an AoR
// with no rows yet), reads and row-locks the AoR's bindings, calls fn,
// writes the rows that changed and commits. The reads and the writes each
// go to the server as one pipelined batch, so an Update costs two round
// trips and one WAL flush. Update returns only after COMMIT, so a nil
// error means the bindings are durable (as durable as the server's fsync
// and synchronous_commit settings make a commit).
//
// Other nodes learn about changes through LISTEN/NOTIFY on the channel
// locus_changes: the notification follows the COMMIT in the same round
// trip, as a transaction of its own (see Store.finish).
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/locus-sip/locus/modules/usrloc"
)

func init() {
	usrloc.RegisterStore("postgres", open)
	usrloc.RegisterStore("postgresql", open)
}

func open(ctx context.Context, dsn string) (usrloc.Store, error) { return Open(ctx, dsn) }

// ErrClosed is returned by every method of a closed store.
var ErrClosed = errors.New("pgstore: store closed")

const (
	// defaultTimeout bounds one operation whose context has no deadline:
	// a hung server must not hang its callers.
	defaultTimeout = 10 * time.Second
	// defaultConnectTimeout is used unless the DSN sets connect_timeout.
	defaultConnectTimeout = 5 * time.Second
	// channel is the LISTEN/NOTIFY channel of the change feed.
	channel = "locus_changes"
	// lockClass is the first key of the per-AoR advisory locks ("locu").
	lockClass int32 = 0x6c6f6375
	// maxAttempts bounds the tries of one operation: retried are deadlocks,
	// serialization failures, and connection failures that happened
	// before anything was written (a pooled connection the server dropped).
	maxAttempts = 3
	// listBatch is how many AoRs one List query reads.
	listBatch = 256
)

const (
	cols = `pos, binding_aor, contact, expires, q, call_id, cseq, received, socket, conn_id,
		path, instance, reg_id, user_agent, methods, flags, modified, ruid`
	sqlGet          = `SELECT ` + cols + ` FROM locus_bindings WHERE tbl = $1 AND aor = $2 ORDER BY pos`
	sqlGetForUpdate = sqlGet + ` FOR UPDATE`
	sqlLock         = `SELECT pg_advisory_xact_lock($1, $2)`
	sqlDeleteFrom   = `DELETE FROM locus_bindings WHERE tbl = $1 AND aor = $2 AND pos >= $3`
	sqlUpsert       = `INSERT INTO locus_bindings (tbl, aor, ` + cols + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
		ON CONFLICT (tbl, aor, pos) DO UPDATE SET binding_aor = EXCLUDED.binding_aor,
			contact = EXCLUDED.contact, expires = EXCLUDED.expires, q = EXCLUDED.q,
			call_id = EXCLUDED.call_id, cseq = EXCLUDED.cseq, received = EXCLUDED.received,
			socket = EXCLUDED.socket, conn_id = EXCLUDED.conn_id, path = EXCLUDED.path,
			instance = EXCLUDED.instance, reg_id = EXCLUDED.reg_id, user_agent = EXCLUDED.user_agent,
			methods = EXCLUDED.methods, flags = EXCLUDED.flags, modified = EXCLUDED.modified,
			ruid = EXCLUDED.ruid`
	sqlNotify = `SELECT pg_notify($1, $2)`
	// Expire skips rows an Update holds locked: that Update sees them and
	// the next sweep takes what it keeps. Never waiting means a sweep and
	// an Update cannot deadlock.
	sqlExpire = `DELETE FROM locus_bindings WHERE (tbl, aor, pos) IN (
		SELECT tbl, aor, pos FROM locus_bindings WHERE expires <= $1 FOR UPDATE SKIP LOCKED)
		RETURNING tbl, aor, ` + cols
	sqlNotifyMany = `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`
	sqlListWhere  = `tbl = $1 AND aor > $2 AND aor >= $3 AND starts_with(aor, $3)`
	sqlList       = `SELECT aor, ` + cols + ` FROM locus_bindings WHERE tbl = $1 AND aor IN (
		SELECT DISTINCT aor FROM locus_bindings WHERE ` + sqlListWhere + ` ORDER BY aor LIMIT $4)
		ORDER BY aor, pos`
	// sqlListUpper adds an upper bound to the prefix range, so the last
	// page does not scan the rest of the table.
	sqlListUpper = `SELECT aor, ` + cols + ` FROM locus_bindings WHERE tbl = $1 AND aor IN (
		SELECT DISTINCT aor FROM locus_bindings WHERE ` + sqlListWhere + ` AND aor < $5 ORDER BY aor LIMIT $4)
		ORDER BY aor, pos`
)

// Store is the PostgreSQL store. Open it with Open or usrloc.Open.
//
// Update calls fn inside the AoR's transaction, holding its lock and a
// pooled connection: fn must be quick and must not call the store. fn gets
// its own copy of the current bindings and may be called again if the
// transaction is retried.
//
// Times are kept to the microsecond (PostgreSQL's timestamptz) and come
// back in the local time zone. Strings must be valid UTF-8 without NUL
// bytes: PostgreSQL's text type cannot hold anything else.
type Store struct {
	pool   *pgxpool.Pool
	node   string // this store's id in change notifications
	closed atomic.Bool
	feed   *feed
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open connects to the database a DSN names, creates or migrates the
// schema, and starts listening for other nodes' changes. The DSN is pgx's
// connection string: postgres://user:pass@host:port/db?sslmode=disable,
// with libpq's options (connect_timeout, sslmode, search_path...) and
// pgxpool's (pool_max_conns...).
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn) // its errors hide the password
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if !hasOption(dsn, "connect_timeout") {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	if !hasOption(dsn, "pool_max_conns") {
		// Updates hold a connection across two round trips and a WAL
		// flush; concurrent commits share flushes, so more connections
		// than cores pay off.
		cfg.MaxConns = int32(max(16, 4*runtime.GOMAXPROCS(0)))
	}
	where := fmt.Sprintf("%s/%s", net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))), cfg.ConnConfig.Database)
	if strings.HasPrefix(cfg.ConnConfig.Host, "/") {
		where = fmt.Sprintf("%s/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Database)
	}

	octx, cancel := withTimeout(ctx)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(octx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %s: %w", where, err)
	}
	if err := pool.Ping(octx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect %s: %w", where, err)
	}
	if err := migrate(octx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %s: schema: %w", where, err)
	}
	s := &Store{pool: pool, node: newNodeID()}
	lctx, lcancel := context.WithCancel(context.Background())
	s.cancel = lcancel
	s.feed = newFeed()
	lconn, err := s.listenConn(octx, cfg.ConnConfig)
	if err != nil {
		lcancel()
		pool.Close()
		return nil, fmt.Errorf("pgstore: %s: listen: %w", where, err)
	}
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.listen(lctx, cfg.ConnConfig, lconn) }()
	go func() { defer s.wg.Done(); s.feed.forward(lctx) }()
	return s, nil
}

// hasOption reports whether a URL or key=value DSN sets option.
func hasOption(dsn, option string) bool {
	return strings.Contains(dsn, "?"+option+"=") || strings.Contains(dsn, "&"+option+"=") ||
		strings.HasPrefix(dsn, option+"=") || strings.Contains(dsn, " "+option+"=")
}

// withTimeout applies defaultTimeout to a context without a deadline.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, defaultTimeout)
}

// lockKey is the second key of an AoR's advisory lock. Two AoRs sharing a
// key only serialise their updates.
func lockKey(table, aor string) int32 {
	h := fnv.New32a()
	h.Write([]byte(table))
	h.Write([]byte{0})
	h.Write([]byte(aor))
	return int32(h.Sum32())
}

// Get returns the AoR's bindings in order.
func (s *Store) Get(ctx context.Context, table, aor string) ([]usrloc.Binding, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var bs []usrloc.Binding
	var err error
	for attempt := 1; ; attempt++ {
		var rows pgx.Rows
		rows, err = s.pool.Query(ctx, sqlGet, table, aor)
		if err == nil {
			bs, err = scanBindings(rows, aor)
		}
		if err == nil {
			return bs, nil
		}
		if !s.retry(ctx, err, attempt, true) {
			return nil, s.wrap("get", aor, err)
		}
	}
}

// Update replaces the AoR's bindings with what fn returns, in one
// transaction holding the AoR's lock, and returns what it stored.
func (s *Store) Update(ctx context.Context, table, aor string, fn func(cur []usrloc.Binding) ([]usrloc.Binding, error)) ([]usrloc.Binding, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if table == "" || aor == "" {
		return nil, fmt.Errorf("pgstore: update of table %q AoR %q: empty name", table, aor)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	for attempt := 1; ; attempt++ {
		out, written, err := s.update(ctx, table, aor, fn)
		if err == nil {
			return out, nil
		}
		var fe fnError
		if errors.As(err, &fe) {
			return nil, fe.err
		}
		if !s.retry(ctx, err, attempt, !written) {
			return nil, s.wrap("update", aor, err)
		}
	}
}

// fnError carries an error of fn, or of what fn returned, out of update
// unchanged and unretried.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// update is one attempt of Update. written reports whether the writes may
// have reached the server: after that, only an error the server reported
// (the transaction is then rolled back) is safe to retry.
func (s *Store) update(ctx context.Context, table, aor string, fn func(cur []usrloc.Binding) ([]usrloc.Binding, error)) (out []usrloc.Binding, written bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	defer conn.Release() // the pool drops a connection left in a transaction or broken
	inTx := false
	defer func() {
		if err != nil && inTx {
			rollback(conn)
		}
	}()

	var read pgx.Batch
	read.Queue("BEGIN")
	read.Queue(sqlLock, lockClass, lockKey(table, aor))
	read.Queue(sqlGetForUpdate, table, aor)
	br := conn.SendBatch(ctx, &read)
	inTx = true
	var cur []usrloc.Binding
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			cur, err = scanBindings(rows, aor)
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, err
	}

	next, err := fn(cloneBindings(cur))
	if err != nil {
		return nil, false, fnError{err}
	}
	out, err = normalize(next)
	if err != nil {
		return nil, false, fnError{fmt.Errorf("pgstore: update %s: %w", aor, err)}
	}

	// Write only what changed: a re-REGISTER rewrites one row, an added
	// contact inserts one.
	var write pgx.Batch
	if len(cur) > len(out) {
		write.Queue(sqlDeleteFrom, table, aor, int32(len(out)))
	}
	for i := range out {
		if i < len(cur) && equalBinding(&cur[i], &out[i]) {
			continue
		}
		b := &out[i]
		var bAOR *string
		if b.AOR != aor {
			bAOR = &b.AOR
		}
		write.Queue(sqlUpsert, table, aor, int32(i), bAOR, b.Contact, b.Expires, int64(b.Q), b.CallID,
			int64(b.CSeq), b.Received, b.Socket, b.ConnID, b.Path, b.Instance, int64(b.RegID),
			b.UserAgent, b.Methods, int64(b.Flags), b.Modified, b.RUID)
	}
	notify := write.Len() > 0
	write.Queue("COMMIT")
	if notify {
		// After COMMIT, in the same round trip, as a transaction of its
		// own: PostgreSQL serialises notifying transactions until their
		// commit is flushed, so a NOTIFY inside the update transaction
		// would serialise every node's updates on the WAL flush.
		write.Queue(sqlNotify, channel, s.payload(table, aor))
	}
	if err = s.finish(ctx, conn, &write, notify); err != nil {
		return nil, true, err
	}
	inTx = false
	return out, true, nil
}

// finish sends a batch whose last statement is COMMIT, or COMMIT and
// then a notification, and reports whether the commit succeeded. A failed
// notification is not an error: the data is committed, and a listener
// that missed it only keeps a stale cache entry until its TTL.
func (s *Store) finish(ctx context.Context, conn *pgxpool.Conn, b *pgx.Batch, notify bool) error {
	n := b.Len()
	if notify {
		n--
	}
	br := conn.SendBatch(ctx, b)
	var err error
	for range n {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	cerr := br.Close()
	if err == nil && !notify {
		err = cerr
	}
	return err
}

// rollback ends a failed transaction so the connection can be reused; if
// it cannot, the pool drops the connection on release.
func rollback(conn *pgxpool.Conn) {
	if conn.Conn().IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = conn.Exec(ctx, "ROLLBACK")
}

// Expire deletes the bindings that expired at or before now and returns
// them, notifying other nodes of the AoRs it changed. Bindings an Update
// holds at that moment are left to the next call.
func (s *Store) Expire(ctx context.Context, now time.Time) ([]usrloc.Expired, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	for attempt := 1; ; attempt++ {
		out, written, err := s.expire(ctx, now)
		if err == nil {
			return out, nil
		}
		if !s.retry(ctx, err, attempt, !written) {
			return nil, s.wrap("expire", "", err)
		}
	}
}

func (s *Store) expire(ctx context.Context, now time.Time) (out []usrloc.Expired, written bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	defer conn.Release()
	inTx := false
	defer func() {
		if err != nil && inTx {
			rollback(conn)
		}
	}()
	var del pgx.Batch
	del.Queue("BEGIN")
	del.Queue(sqlExpire, now)
	br := conn.SendBatch(ctx, &del)
	inTx = true
	var keys [][2]string
	_, err = br.Exec()
	if err == nil {
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			out, keys, err = scanExpired(rows)
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, err
	}
	var done pgx.Batch
	done.Queue("COMMIT")
	if len(keys) > maxPending {
		// More than a listener would queue: one "drop everything".
		done.Queue(sqlNotify, channel, s.payload("", ""))
	} else if len(keys) > 0 {
		payloads := make([]string, len(keys))
		for i, k := range keys {
			payloads[i] = s.payload(k[0], k[1])
		}
		done.Queue(sqlNotifyMany, channel, payloads)
	}
	if err = s.finish(ctx, conn, &done, len(keys) > 0); err != nil {
		return nil, true, err
	}
	inTx = false
	return out, true, nil
}

// List calls fn for each AoR of table after after with the given prefix,
// in ascending byte order, reading listBatch AoRs per query. fn runs with
// no connection held, so it may call the store.
func (s *Store) List(ctx context.Context, table, prefix, after string, fn func(aor string, bs []usrloc.Binding) bool) error {
	upper, bounded := prefixEnd(prefix)
	for {
		if s.closed.Load() {
			return ErrClosed
		}
		page, err := s.listPage(ctx, table, prefix, after, upper, bounded)
		if err != nil {
			return s.wrap("list", table, err)
		}
		for _, e := range page {
			if !fn(e.aor, e.bs) {
				return nil
			}
		}
		if len(page) < listBatch {
			return nil
		}
		after = page[len(page)-1].aor
	}
}

type listEntry struct {
	aor string
	bs  []usrloc.Binding
}

func (s *Store) listPage(ctx context.Context, table, prefix, after, upper string, bounded bool) ([]listEntry, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	for attempt := 1; ; attempt++ {
		var rows pgx.Rows
		var err error
		if bounded {
			rows, err = s.pool.Query(ctx, sqlListUpper, table, after, prefix, listBatch, upper)
		} else {
			rows, err = s.pool.Query(ctx, sqlList, table, after, prefix, listBatch)
		}
		var page []listEntry
		if err == nil {
			page, err = scanList(rows)
		}
		if err == nil {
			return page, nil
		}
		if !s.retry(ctx, err, attempt, true) {
			return nil, err
		}
	}
}

// prefixEnd returns the smallest string greater than every string that
// starts with prefix, when there is one: prefix with its last code point
// incremented (UTF-8's byte order is code point order).
func prefixEnd(prefix string) (string, bool) {
	for prefix != "" {
		r, size := utf8.DecodeLastRuneInString(prefix)
		prefix = prefix[:len(prefix)-size]
		if r == utf8.RuneError && size <= 1 {
			return "", false // not UTF-8: no bound, the filter still applies
		}
		for r++; r <= utf8.MaxRune; r++ {
			if utf8.ValidRune(r) {
				return prefix + string(r), true
			}
		}
	}
	return "", false
}

// Changes delivers the AoRs other nodes changed, and a Change with an
// empty AOR after the feed may have missed some (a reconnect or an
// overflow). It is never nil; Close closes it.
func (s *Store) Changes() <-chan usrloc.Change { return s.feed.out }

// Close stops the change feed, closes its channel and the connections.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	close(s.feed.out)
	s.pool.Close()
	return nil
}

// retry reports whether an operation that failed with err on attempt
// should be tried again. safe says nothing was written yet, so a lost
// connection cannot have committed anything.
func (s *Store) retry(ctx context.Context, err error, attempt int, safe bool) bool {
	if attempt >= maxAttempts || ctx.Err() != nil || s.closed.Load() {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01": // serialization failure, deadlock: rolled back
			return true
		}
		if !safe || !unavailable(err) {
			return false
		}
	} else if !safe {
		return false
	}
	if unavailable(err) {
		// The server dropped the connection (a restart, a failover): drop
		// every pooled connection rather than find each dead one by a
		// failed call.
		s.pool.Reset()
		return true
	}
	return false
}

// wrap prefixes err, marking outages with usrloc.ErrStoreUnavailable.
func (s *Store) wrap(op, what string, err error) error {
	if errors.Is(err, ErrClosed) {
		return err
	}
	if what != "" {
		op += " " + what
	}
	if unavailable(err) {
		return fmt.Errorf("pgstore: %s: %w: %w", op, usrloc.ErrStoreUnavailable, err)
	}
	return fmt.Errorf("pgstore: %s: %w", op, err)
}

// unavailable reports whether err means the database cannot be reached or
// cannot work now, rather than that it refused this request.
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources (too many connections, disk full)
			"57", // operator intervention: shutdown, crash recovery, query canceled
			"58": // system error
			return true
		}
		return pgErr.Code == "25006" // read-only transaction: a standby after a failover
	}
	// Everything else pgx returns without a server error is about the
	// connection: dial, I/O, timeouts and cancellation.
	return true
}

// payload is a change notification: node, table and AoR. One longer than
// PostgreSQL's limit (8000 bytes) names no AoR: receivers drop everything.
func (s *Store) payload(table, aor string) string {
	p := encodePayload(s.node, table, aor)
	if len(p) > maxPayload {
		p = encodePayload(s.node, table, "")
	}
	return p
}

// normalize returns a copy of bs as the store keeps it: times truncated
// to the microsecond, empty Paths nil. It refuses strings text columns
// cannot hold.
func normalize(bs []usrloc.Binding) ([]usrloc.Binding, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	out := make([]usrloc.Binding, len(bs))
	for i, b := range bs {
		b.Expires = b.Expires.Truncate(time.Microsecond)
		b.Modified = b.Modified.Truncate(time.Microsecond)
		if len(b.Path) == 0 {
			b.Path = nil
		} else {
			b.Path = slices.Clone(b.Path)
		}
		if err := checkText(&b); err != nil {
			return nil, fmt.Errorf("binding %d: %w", i, err)
		}
		out[i] = b
	}
	return out, nil
}

func checkText(b *usrloc.Binding) error {
	for _, f := range [...]struct{ name, v string }{
		{"AOR", b.AOR}, {"Contact", b.Contact}, {"CallID", b.CallID}, {"Received", b.Received},
		{"Socket", b.Socket}, {"ConnID", b.ConnID}, {"Instance", b.Instance},
		{"UserAgent", b.UserAgent}, {"Methods", b.Methods}, {"RUID", b.RUID},
	} {
		if !validText(f.v) {
			return fmt.Errorf("%s %q is not UTF-8 text without NUL bytes, which PostgreSQL cannot store", f.name, f.v)
		}
	}
	for _, p := range b.Path {
		if !validText(p) {
			return fmt.Errorf("Path %q is not UTF-8 text without NUL bytes, which PostgreSQL cannot store", p)
		}
	}
	return nil
}

func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

func cloneBindings(bs []usrloc.Binding) []usrloc.Binding {
	out := slices.Clone(bs)
	for i := range out {
		out[i].Path = slices.Clone(out[i].Path)
	}
	return out
}

// equalBinding reports whether x and y store the same row.
func equalBinding(x, y *usrloc.Binding) bool {
	return x.AOR == y.AOR && x.Contact == y.Contact && x.Expires.Equal(y.Expires) && x.Q == y.Q &&
		x.CallID == y.CallID && x.CSeq == y.CSeq && x.Received == y.Received && x.Socket == y.Socket &&
		x.ConnID == y.ConnID && slices.Equal(x.Path, y.Path) && x.Instance == y.Instance &&
		x.RegID == y.RegID && x.UserAgent == y.UserAgent && x.Methods == y.Methods &&
		x.Flags == y.Flags && x.Modified.Equal(y.Modified) && x.RUID == y.RUID
}

// row holds the scan targets of one binding row.
type row struct {
	b                     usrloc.Binding
	pos                   int32
	bAOR                  pgtype.Text
	q, cseq, regID, flags int64
}

func (r *row) targets() []any {
	return []any{&r.pos, &r.bAOR, &r.b.Contact, &r.b.Expires, &r.q, &r.b.CallID, &r.cseq,
		&r.b.Received, &r.b.Socket, &r.b.ConnID, &r.b.Path, &r.b.Instance, &r.regID,
		&r.b.UserAgent, &r.b.Methods, &r.flags, &r.b.Modified, &r.b.RUID}
}

// binding completes the scanned binding of AoR aor.
func (r *row) binding(aor string) usrloc.Binding {
	b := r.b
	b.AOR = aor
	if r.bAOR.Valid {
		b.AOR = r.bAOR.String
	}
	b.Q, b.CSeq, b.RegID, b.Flags = int(r.q), uint32(r.cseq), int(r.regID), uint32(r.flags)
	return b
}

func scanBindings(rows pgx.Rows, aor string) ([]usrloc.Binding, error) {
	defer rows.Close()
	var bs []usrloc.Binding
	var r row
	t := r.targets()
	for rows.Next() {
		r.b = usrloc.Binding{}
		if err := rows.Scan(t...); err != nil {
			return nil, err
		}
		bs = append(bs, r.binding(aor))
	}
	return bs, rows.Err()
}

// scanExpired reads the rows Expire deleted, and the distinct (table,
// AoR) keys they were stored under. A binding stored with an empty AOR
// gets the AoR it was stored under.
func scanExpired(rows pgx.Rows) ([]usrloc.Expired, [][2]string, error) {
	defer rows.Close()
	var out []usrloc.Expired
	var keys [][2]string
	seen := map[[2]string]bool{}
	var r row
	var tbl, aor string
	t := append([]any{&tbl, &aor}, r.targets()...)
	for rows.Next() {
		r.b = usrloc.Binding{}
		if err := rows.Scan(t...); err != nil {
			return nil, nil, err
		}
		b := r.binding(aor)
		if b.AOR == "" {
			b.AOR = aor
		}
		out = append(out, usrloc.Expired{Table: tbl, Binding: b})
		if k := [2]string{tbl, aor}; !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return out, keys, rows.Err()
}

func scanList(rows pgx.Rows) ([]listEntry, error) {
	defer rows.Close()
	var page []listEntry
	var r row
	var aor string
	t := append([]any{&aor}, r.targets()...)
	for rows.Next() {
		r.b = usrloc.Binding{}
		if err := rows.Scan(t...); err != nil {
			return nil, err
		}
		if n := len(page); n == 0 || page[n-1].aor != aor {
			page = append(page, listEntry{aor: aor})
		}
		e := &page[len(page)-1]
		e.bs = append(e.bs, r.binding(e.aor))
	}
	return page, rows.Err()
}

// Interface guard.
var _ usrloc.Store = (*Store)(nil)
