package sqlitestore

import (
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/locus-sip/locus/modules/usrloc"
)

type opKind uint8

const (
	opUpdate opKind = iota
	opExpire
)

// request is one Update or Expire waiting for the writer.
type request struct {
	ctx   context.Context
	kind  opKind
	table string
	aor   string
	fn    func(cur []usrloc.Binding) ([]usrloc.Binding, error)
	now   time.Time   // opExpire
	reply chan result // buffered: the writer never waits for a caller
}

func (r *request) what() string {
	if r.kind == opExpire {
		return "expire"
	}
	return "update " + r.aor
}

type result struct {
	bs       []usrloc.Binding
	expired  []usrloc.Expired
	err      error
	panicked bool
	panicVal any
}

// writer is the goroutine that owns the write connection. It takes every
// queued request (up to MaxBatch), applies them one after the other in one
// IMMEDIATE transaction and commits once: group commit. While it commits,
// the next requests queue up, so the batch grows with the load and a lone
// request waits for nothing. It holds the store's gate from BEGIN to the
// end of the transaction, so that the checkpointer can tell a checkpoint
// no commit overtook, or hold the writer back for one, and tells the
// checkpointer after each commit.
type writer struct {
	s *Store
	// conn is the write connection, held for the writer's life. The
	// writer runs BEGIN IMMEDIATE and COMMIT on it itself, with statements
	// prepared once: a database/sql transaction would start a goroutine
	// per batch to watch its context, and re-bind each statement to it.
	conn                    *sql.Conn
	begin, commit, rollback *sql.Stmt
	sel, ins, del, expr     *sql.Stmt
	batch, live             []*request
	results                 []result
	// seen holds the AoRs this batch wrote, as written: a later request
	// for one of them starts from there instead of reading it back.
	seen map[aorKey]aorState
}

type aorKey struct{ table, aor string }

type aorState struct {
	bs  []usrloc.Binding // as stored; never given out
	pos []int64
}

func newWriter(ctx context.Context, s *Store) (*writer, error) {
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return nil, err
	}
	w := &writer{s: s, conn: conn, seen: map[aorKey]aorState{}}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&w.begin, "BEGIN IMMEDIATE"}, {&w.commit, "COMMIT"}, {&w.rollback, "ROLLBACK"},
		{&w.sel, sqlSelect}, {&w.ins, sqlInsert}, {&w.del, sqlDeleteFrom}, {&w.expr, sqlExpire},
	} {
		st, err := conn.PrepareContext(ctx, p.sql)
		if err != nil {
			w.close()
			return nil, err
		}
		*p.stmt = st
	}
	return w, nil
}

// close closes the statements and hands the connection back to its pool.
func (w *writer) close() {
	for _, st := range []*sql.Stmt{w.begin, w.commit, w.rollback, w.sel, w.ins, w.del, w.expr} {
		if st != nil {
			st.Close()
		}
	}
	w.conn.Close()
}

func (w *writer) run() {
	defer close(w.s.done)
	defer w.close()
	maxBatch := w.s.opts.MaxBatch
	for {
		select {
		case <-w.s.quit: // before any queued request
			w.drain()
			return
		default:
		}
		select {
		case r := <-w.s.reqs:
			w.batch = append(w.batch[:0], r)
		case <-w.s.quit:
			w.drain()
			return
		}
	fill:
		for len(w.batch) < maxBatch {
			select {
			case r := <-w.s.reqs:
				w.batch = append(w.batch, r)
			default:
				break fill
			}
		}
		w.apply(w.batch)
		clear(w.batch) // drop the references to requests and their fns
	}
}

// drain answers the requests still queued at Close.
func (w *writer) drain() {
	for {
		select {
		case r := <-w.s.reqs:
			r.reply <- result{err: ErrClosed}
		default:
			return
		}
	}
}

// apply runs one batch in one transaction and answers every request.
func (w *writer) apply(batch []*request) {
	w.live = w.live[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.reply <- result{err: ctxError(r.what(), err)} // gone before its batch started: not applied
			continue
		}
		w.live = append(w.live, r)
	}
	live := w.live
	defer clear(live)
	defer clear(w.seen)
	if len(live) == 0 {
		return
	}
	w.s.batches.Add(1)
	w.s.requests.Add(uint64(len(live)))
	ctx, cancel := batchContext(live)
	defer cancel()
	fail := func(stage string, err error) {
		if e := ctx.Err(); e != nil {
			err = e
		}
		for _, r := range live {
			r.reply <- result{err: unavailable(r.what()+": "+stage, err)}
		}
	}
	begin := time.Now()
	w.s.gate.Lock()
	w.s.txSeq.Add(1) // odd: in a transaction
	defer func() {
		w.s.txSeq.Add(1)
		w.s.gate.Unlock()
	}()
	if _, err := w.begin.ExecContext(ctx); err != nil {
		fail("begin", err)
		return
	}
	w.results = slices.Grow(w.results[:0], len(live))[:len(live)]
	defer clear(w.results)
	for i, r := range live {
		var err error
		switch r.kind {
		case opUpdate:
			w.results[i], err = w.update(ctx, r)
		case opExpire:
			w.results[i], err = w.expire(ctx, r)
			clear(w.seen) // it may have removed rows of AoRs seen
		}
		if err != nil {
			w.abort()
			fail("write", err)
			return
		}
	}
	applied := time.Now()
	if _, err := w.commit.ExecContext(ctx); err != nil {
		w.abort() // a failed COMMIT (SQLITE_BUSY, say) leaves the transaction open
		fail("commit", err)
		return
	}
	w.s.ckpt.committed()
	if h := w.s.hooks.batch; h != nil {
		h(len(live), begin, applied, time.Now())
	}
	for i, r := range live {
		r.reply <- w.results[i]
	}
}

// abort rolls back the batch's transaction, if SQLite has not already.
// Its error is not reported: the batch fails either way, and with no
// transaction open ROLLBACK only says so.
func (w *writer) abort() {
	_, _ = w.rollback.ExecContext(context.Background())
}

// batchContext bounds the batch's waits (for another process's write lock,
// mostly) by the latest deadline among its requests: once every caller has
// given up there is no one left to answer. Without deadlines, busy_timeout
// bounds them, and the batch runs under a context that cannot end: with
// one that can, the driver starts a goroutine per statement to watch it.
func batchContext(live []*request) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, r := range live {
		d, ok := r.ctx.Deadline()
		if !ok {
			return context.Background(), func() {}
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.Background(), latest)
}

// update reads the AoR's current bindings inside the transaction (so it
// sees earlier requests of the same batch), calls fn and writes its result.
// An fn error or panic becomes the request's result and writes nothing; a
// database error is returned and fails the batch.
func (w *writer) update(ctx context.Context, r *request) (result, error) {
	key := aorKey{r.table, r.aor}
	var cur, stored []usrloc.Binding
	st, ok := w.seen[key]
	if ok {
		stored = st.bs
		cur = snapshot(stored)
	} else {
		rows, err := w.sel.QueryContext(ctx, r.table, r.aor)
		if err != nil {
			return result{}, err
		}
		cur, st.pos, err = scanAoR(rows, r.aor)
		rows.Close()
		if err != nil {
			return result{}, err
		}
		// fn gets cur and may modify it: keep what is stored to compare with.
		stored = snapshot(cur)
	}
	pos := st.pos
	next, res := callFn(r.fn, cur)
	if res.err != nil || res.panicked {
		return res, nil
	}
	// Write the rows that changed: position i holds next[i]. A re-REGISTER
	// or an append to a long list writes one row.
	for i := range next {
		if i < len(stored) && pos[i] == int64(i) && sameRow(&next[i], &stored[i]) {
			continue
		}
		args, err := insertArgs(r.table, r.aor, i, &next[i])
		if err != nil {
			return result{}, err // after earlier rows were written: fail the batch
		}
		if _, err := w.ins.ExecContext(ctx, args...); err != nil {
			return result{}, err
		}
	}
	if len(pos) > 0 && pos[len(pos)-1] >= int64(len(next)) { // rows beyond the new ones remain
		if _, err := w.del.ExecContext(ctx, r.table, r.aor, len(next)); err != nil {
			return result{}, err
		}
	}
	out := normalize(next)
	dense := make([]int64, len(out))
	for i := range dense {
		dense[i] = int64(i)
	}
	w.seen[key] = aorState{bs: snapshot(out), pos: dense}
	return result{bs: out}, nil
}

// callFn calls fn, turning a panic into a result the caller re-raises.
func callFn(fn func([]usrloc.Binding) ([]usrloc.Binding, error), cur []usrloc.Binding) (next []usrloc.Binding, res result) {
	defer func() {
		if v := recover(); v != nil {
			next, res = nil, result{panicked: true, panicVal: v}
		}
	}()
	next, err := fn(cur)
	return next, result{err: err}
}

func (w *writer) expire(ctx context.Context, r *request) (result, error) {
	rows, err := w.expr.QueryContext(ctx, toMillis(r.now))
	if err != nil {
		return result{}, err
	}
	defer rows.Close()
	var (
		out []usrloc.Expired
		rw  row
	)
	dest := rw.dest(&rw.tbl, &rw.aor, &rw.pos)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return result{}, err
		}
		b, err := rw.binding(rw.aor)
		if err != nil {
			return result{}, err
		}
		if b.AOR == "" {
			b.AOR = rw.aor
		}
		out = append(out, usrloc.Expired{Table: rw.tbl, Binding: b})
	}
	return result{expired: out}, rows.Err()
}
