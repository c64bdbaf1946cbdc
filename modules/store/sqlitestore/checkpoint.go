package sqlitestore

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
)

// checkpointer copies the WAL back into the database file from its own
// connection, so that the writer does not. SQLite's automatic checkpoint
// runs inside the COMMIT that takes the WAL past its threshold (1,000
// pages by default): every 1,000 pages the writer stopped for 8–14 ms to
// copy the pages and fsync the WAL and the database file, and every
// request queued behind it waited as long. A PASSIVE checkpoint from
// another connection takes no lock the writer needs and runs beside it.
//
// SQLite fsyncs the database file, and lets the next write restart the WAL
// from its start, only after a checkpoint that copied every frame: one no
// commit overtook. Under a steady load a long checkpoint is always
// overtaken, so after it the checkpointer runs a short one for the few
// frames added meanwhile, which may finish between two commits. If it did
// not and the WAL has grown past restartFrames, it holds the writer back
// (gate) for one more, which then cannot be overtaken. The writer's own
// automatic checkpoint stays as a backstop, at backstopFrames.
//
// Rounds run only after commits, and at most every checkpointEvery: each
// copies, and syncs into the database file, only what the last few
// milliseconds wrote. Both fsyncs a checkpoint makes (of the WAL before it
// copies, of the database file once it copied everything) run on this
// goroutine, not the writer's, but they share the disk with the writer's:
// with synchronous=full each COMMIT fsyncs the WAL, and that fsync waits
// behind the database file's. Small checkpoints make small fsyncs of the
// database file. End to end at 2,000 REGISTER/s on the development
// machine, moving the checkpoints here took the p99 from 4 ms to under
// 1 ms with synchronous=normal, and left it at 4 ms with full (see the
// README). The 10 ms were chosen with an earlier design in which the
// WAL's fsync ran on a goroutine of its own: there, re-REGISTERs of random
// AoRs at 2,000/s had a p99 of 3.3 ms with rounds every 10 ms, 4.3 ms
// every 20 ms and 5.3 ms every 50 ms.
type checkpointer struct {
	db      *sql.DB        // one connection
	gate    *sync.Mutex    // held by the writer from BEGIN to COMMIT
	txSeq   *atomic.Uint64 // odd while the writer is in a transaction
	every   time.Duration
	restart int64         // restartFrames
	kick    chan struct{} // buffered (1): the writer committed
	stop    chan struct{}
	done    chan struct{}
	hook    func(gated bool) // hooks.checkpointed

	// For tests and benchmarks: checkpoints run, gated ones among them,
	// the WAL's frames the last one found, and the last error.
	runs      atomic.Uint64
	gated     atomic.Uint64
	walFrames atomic.Int64
	err       atomic.Pointer[error]
}

const (
	// checkpointEvery is the least time between two rounds of checkpoints.
	checkpointEvery = 10 * time.Millisecond
	// ckptRetries is how many short checkpoints follow one that a commit
	// overtook. Each fsyncs the WAL (SQLite does before it copies) and, at
	// 2,000 commits/s, most are overtaken too: with the earlier design
	// (see checkpointer), three made the p99 worse than one (3.3 against
	// 2.6 ms for new AoRs, 5.5 against 2.2 ms for random refreshes) and
	// took more CPU.
	ckptRetries = 1
	// restartFrames is the WAL's size (in frames of a 4 KiB page) past
	// which the checkpointer holds the writer back to restart it.
	restartFrames = 4000
	// backstopFrames is where the writer checkpoints by itself
	// (wal_autocheckpoint), in case the checkpointer falls behind.
	backstopFrames = 10000
)

func newCheckpointer(db *sql.DB, gate *sync.Mutex, txSeq *atomic.Uint64, every time.Duration, restart int64, hook func(gated bool)) *checkpointer {
	return &checkpointer{
		db:      db,
		gate:    gate,
		txSeq:   txSeq,
		every:   every,
		restart: restart,
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		hook:    hook,
	}
}

// committed tells the checkpointer that the WAL grew.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	var last time.Time
	for {
		select {
		case <-c.kick:
		case <-c.stop:
			return
		}
		if d := time.Until(last.Add(c.every)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-c.stop:
				t.Stop()
				return
			}
		}
		c.round()
		last = time.Now()
	}
}

// round checkpoints what the WAL holds, and makes sure that the WAL restarts
// before it grows much past restartFrames.
func (c *checkpointer) round() {
	var frames int64
	for range 1 + ckptRetries {
		before := c.txSeq.Load()
		n, err := c.checkpoint(false)
		if err != nil {
			return
		}
		frames = n
		if before%2 == 0 && c.txSeq.Load() == before {
			return // no transaction overlapped it: complete
		}
	}
	if frames < c.restart {
		return
	}
	c.gate.Lock()
	c.checkpoint(true) //nolint:errcheck // kept by checkpoint
	c.gate.Unlock()
}

// checkpoint runs one PASSIVE checkpoint and returns the WAL's frames. Its
// errors (an I/O error, the database closed under it) are kept for tests
// only: the WAL just grows until a later checkpoint succeeds, and the
// writer's backstop bounds it. A checkpoint that another connection's
// checkpoint keeps out is no error: that one does the work.
func (c *checkpointer) checkpoint(gated bool) (int64, error) {
	var busy, frames, copied int64
	err := c.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
	c.runs.Add(1)
	if gated {
		c.gated.Add(1)
	}
	if c.hook != nil {
		c.hook(gated)
	}
	if err != nil {
		c.err.Store(&err)
		return 0, err
	}
	c.walFrames.Store(frames)
	return frames, nil
}
