// Package watch runs a watchdog's check only while there is work to
// watch.
//
// A watchdog on a ticker wakes the process every period whether or not
// anything is running, and with it the Go runtime's monitor thread, which
// sleeps until the next timer: two thread wake-ups per tick, tens of
// microseconds each on a virtual machine. A Watch arms one timer when work
// starts and none is armed. When it fires, the check handles what overran
// and says when to look again; while work keeps starting, the timer fires
// once per the watch's delay, and one delay after the last start it is
// left unarmed until the next. An idle server sets no timer, and a busy
// one neither resets a timer per request (which would wake the runtime's
// network poller) nor fires more often than a ticker would.
package watch

import (
	"sync/atomic"
	"time"
)

// Watch calls a check within a delay of any Arm. The zero value is not
// usable: call New.
type Watch struct {
	armed atomic.Bool
	// seen is set by the first Arm after a firing: work started since.
	seen    atomic.Bool
	stopped atomic.Bool
	after   time.Duration
	check   func() time.Duration
	t       *time.Timer
}

// New returns an unarmed watch. Once armed, it calls check after at most
// after (and in its own goroutine); check returns how long until it should
// run again, the time left to the earliest work in flight, or 0 when no
// work is in flight. Calls of check may overlap if one takes longer than
// the delays involved.
func New(after time.Duration, check func() time.Duration) *Watch {
	w := &Watch{after: after, check: check}
	w.t = time.AfterFunc(time.Hour, w.fire)
	w.t.Stop()
	return w
}

// Arm makes check run within the watch's delay from now, unless the timer
// is armed already (and will then run check, which sees this work, no later
// than the delay after it was armed). Call it after recording the start of
// the work, where check reads it: a check that runs between the two is then
// followed by another. It costs one atomic load but once per firing.
func (w *Watch) Arm() {
	if w.seen.Load() {
		return // the timer is armed, or a firing is about to arm it
	}
	w.seen.Store(true)
	if !w.armed.Load() && w.armed.CompareAndSwap(false, true) {
		if w.stopped.Load() {
			return
		}
		w.t.Reset(w.after)
	}
}

// fire runs check and arms the timer again: for check's next deadline,
// or one delay on if work started since the last firing. armed and seen
// are cleared before check reads the work, so work recorded after that
// read finds both clear and arms the timer itself.
func (w *Watch) fire() {
	w.armed.Store(false)
	seen := w.seen.Swap(false)
	if w.stopped.Load() {
		return
	}
	d := w.check()
	if d == 0 && seen {
		d = w.after
	}
	if d > 0 && w.armed.CompareAndSwap(false, true) {
		w.t.Reset(d)
	}
}

// Stop disarms the watch for good: check is not called after Stop returns,
// except by a call already running.
func (w *Watch) Stop() {
	w.stopped.Store(true)
	w.t.Stop()
}
