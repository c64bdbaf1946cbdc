// Package watch runs a watchdog's check only while there is work to
// watch.
//
// A watchdog on a ticker wakes the process every period whether or not
// anything is running, and with it the Go runtime's monitor thread, which
// sleeps until the next timer: two thread wake-ups per tick, tens of
// microseconds each on a virtual machine. A Watch instead arms one timer
// when work starts and none is armed; when it fires, the check handles what
// overran and says when to look again, or that nothing is in flight, and
// the timer stays unarmed until the next Arm. An idle server sets no timer,
// and a busy one fires about once per the watch's delay.
package watch

import (
	"sync/atomic"
	"time"
)

// Watch calls a check within a delay of any Arm. The zero value is not
// usable: call New.
type Watch struct {
	armed   atomic.Bool
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
// followed by another. It costs one atomic load when armed.
func (w *Watch) Arm() {
	if !w.armed.Load() && w.armed.CompareAndSwap(false, true) {
		if w.stopped.Load() {
			return
		}
		w.t.Reset(w.after)
	}
}

// fire runs check and arms the timer again if check says work is in
// flight. armed is cleared before check reads the work: work recorded
// after check's read sees armed clear and arms the timer itself.
func (w *Watch) fire() {
	w.armed.Store(false)
	if w.stopped.Load() {
		return
	}
	if d := w.check(); d > 0 && w.armed.CompareAndSwap(false, true) {
		w.t.Reset(d)
	}
}

// Armed reports whether the timer is armed.
func (w *Watch) Armed() bool { return w.armed.Load() }

// Stop disarms the watch for good: check is not called after Stop returns,
// except by a call already running.
func (w *Watch) Stop() {
	w.stopped.Store(true)
	w.t.Stop()
}
