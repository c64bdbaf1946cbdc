package tm

import (
	"sync"
	"time"
)

// waitGrain is how late a finished transaction may be removed: removals
// due within one grain share a wake-up.
const waitGrain = 100 * time.Millisecond

// waitQueue removes finished transactions once their wait time is over
// (wait_timer, or Timer H), with one timer for all of them. A timer per
// transaction, and the goroutine each started when it fired, woke an
// idle thread for every transaction.
type waitQueue struct {
	mu    sync.Mutex
	fifos map[time.Duration]*waitFIFO // one per wait time: deadlines in order
	timer *time.Timer
	at    time.Time // when the timer fires; zero when it is not armed
	stop  bool
}

type waitFIFO struct {
	head    int
	entries []waitEntry
}

type waitEntry struct {
	at time.Time
	x  *txn
}

// add removes x after d.
func (q *waitQueue) add(x *txn, d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stop {
		return
	}
	if q.fifos == nil {
		q.fifos = map[time.Duration]*waitFIFO{}
	}
	f := q.fifos[d]
	if f == nil {
		f = &waitFIFO{}
		q.fifos[d] = f
	}
	at := time.Now().Add(d)
	f.entries = append(f.entries, waitEntry{at: at, x: x})
	if q.at.IsZero() || at.Add(waitGrain).Before(q.at) {
		q.arm(at.Add(waitGrain))
	}
}

// arm sets the timer to fire at at; q.mu is held.
func (q *waitQueue) arm(at time.Time) {
	q.at = at
	if q.timer == nil {
		q.timer = time.AfterFunc(time.Until(at), q.fire)
		return
	}
	q.timer.Reset(time.Until(at))
}

// fire removes every transaction whose wait is over and arms the timer
// for the next.
func (q *waitQueue) fire() {
	q.mu.Lock()
	if q.stop {
		q.mu.Unlock()
		return
	}
	now := time.Now()
	var due []*txn
	var next time.Time
	for _, f := range q.fifos {
		for f.head < len(f.entries) && !f.entries[f.head].at.After(now) {
			due = append(due, f.entries[f.head].x)
			f.entries[f.head] = waitEntry{}
			f.head++
		}
		switch {
		case f.head == len(f.entries):
			f.head, f.entries = 0, f.entries[:0]
		case f.head > 1024 && f.head > len(f.entries)/2:
			n := copy(f.entries, f.entries[f.head:])
			clear(f.entries[n:])
			f.head, f.entries = 0, f.entries[:n]
		}
		if f.head < len(f.entries) {
			if at := f.entries[f.head].at; next.IsZero() || at.Before(next) {
				next = at
			}
		}
	}
	q.at = time.Time{}
	if !next.IsZero() {
		q.arm(next.Add(waitGrain))
	}
	q.mu.Unlock()
	for _, x := range due {
		x.remove()
	}
}

// close stops the timer; what is queued stays.
func (q *waitQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stop = true
	if q.timer != nil {
		q.timer.Stop()
	}
}
