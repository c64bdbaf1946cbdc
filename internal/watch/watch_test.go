package watch

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// work is a set of jobs with start times, checked as the listener and the
// script runtime check theirs: overdue ones are reported, the rest give
// the time to the next deadline.
type work struct {
	limit   time.Duration
	mu      sync.Mutex
	started map[int]time.Time
	overdue chan int
	checks  atomic.Int64
}

func newWork(limit time.Duration) *work {
	return &work{limit: limit, started: map[int]time.Time{}, overdue: make(chan int, 100)}
}

// watched returns work and a watch of it with limit as its delay, stopped
// when the test ends.
func watched(t *testing.T, limit time.Duration) (*work, *Watch) {
	w := newWork(limit)
	wt := New(limit, w.check)
	t.Cleanup(wt.Stop)
	return w, wt
}

func (w *work) check() time.Duration {
	w.checks.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	var next time.Duration
	for id, s := range w.started {
		left := w.limit - time.Since(s)
		if left <= 0 {
			w.overdue <- id
			delete(w.started, id)
			continue
		}
		if next == 0 || left < next {
			next = left
		}
	}
	return next
}

func (w *work) start(id int, wt *Watch) {
	w.mu.Lock()
	w.started[id] = time.Now()
	w.mu.Unlock()
	wt.Arm()
}

func (w *work) finish(id int) {
	w.mu.Lock()
	delete(w.started, id)
	w.mu.Unlock()
}

// waitOverdue waits for the check to report job id overdue and returns
// when it did.
func (w *work) waitOverdue(t *testing.T, id int) time.Time {
	t.Helper()
	select {
	case got := <-w.overdue:
		if got != id {
			t.Fatalf("overdue job %d, want %d", got, id)
		}
		return time.Now()
	case <-time.After(2 * time.Second):
		t.Fatalf("job %d never reported overdue", id)
	}
	return time.Time{}
}

// waitDisarmed waits for the watch's last check to have found nothing.
func waitDisarmed(t *testing.T, wt *Watch) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for wt.armed.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the watch is still armed with no work in flight")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOverdueWorkIsFound(t *testing.T) {
	const limit = 20 * time.Millisecond
	w, wt := watched(t, limit)
	begin := time.Now()
	w.start(1, wt)
	if d := w.waitOverdue(t, 1).Sub(begin); d < limit {
		t.Fatalf("job reported overdue after %v, before its %v limit", d, limit)
	}
	waitDisarmed(t, wt)
}

// TestLaterWorkIsFoundOnTime: work that starts while the timer is armed
// for earlier work is checked again at its own deadline, not a whole delay
// after the earlier one's check.
func TestLaterWorkIsFoundOnTime(t *testing.T) {
	const limit = 400 * time.Millisecond
	w, wt := watched(t, limit)
	w.start(1, wt)
	time.Sleep(limit / 2)
	w.finish(1)
	begin := time.Now()
	w.start(2, wt) // the timer is armed already, for job 1
	// Checked a whole delay after job 1's check, it would be found half a
	// limit late.
	if d := w.waitOverdue(t, 2).Sub(begin); d < limit || d > limit+limit/4 {
		t.Fatalf("job 2 reported after %v, want about %v", d, limit)
	}
}

// TestIdleWatchDoesNotFire: once the work is done, the check stops being
// called; that is the point of the package.
func TestIdleWatchDoesNotFire(t *testing.T) {
	const limit = 5 * time.Millisecond
	w, wt := watched(t, limit)
	for i := range 10 {
		w.start(i, wt)
		w.finish(i)
	}
	// A firing clears armed before it calls the check: wait for the
	// count to settle too.
	waitDisarmed(t, wt)
	n := w.checks.Load()
	for settle := time.Now().Add(time.Second); ; n = w.checks.Load() {
		time.Sleep(4 * limit)
		if w.checks.Load() == n || time.Now().After(settle) {
			break
		}
	}
	if n == 0 {
		t.Fatal("the check never ran after Arm")
	}
	time.Sleep(20 * limit)
	if m := w.checks.Load(); m != n {
		t.Fatalf("%d checks while idle", m-n)
	}
	if len(w.overdue) != 0 {
		t.Fatalf("%d finished jobs reported overdue", len(w.overdue))
	}
}

// TestConcurrentArms starts and finishes jobs from several goroutines, some
// of which overrun, while the timer fires: every overrunning job is
// reported, none that finished in time is, and the watch ends unarmed.
func TestConcurrentArms(t *testing.T) {
	const limit = 50 * time.Millisecond
	w, wt := watched(t, limit)
	var wg sync.WaitGroup
	var slow atomic.Int64
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				id := g*1000 + i
				w.start(id, wt)
				if i%25 == 0 {
					slow.Add(1)
					time.Sleep(limit + 10*time.Millisecond) // left to be found overdue
					continue
				}
				w.finish(id)
			}
		}()
	}
	wg.Wait()
	deadline := time.After(2 * time.Second)
	for got := int64(0); got < slow.Load(); got++ {
		select {
		case id := <-w.overdue:
			if id%1000%25 != 0 {
				t.Fatalf("job %d reported overdue, but it finished in time", id)
			}
		case <-deadline:
			t.Fatalf("%d of %d overrunning jobs reported", got, slow.Load())
		}
	}
	waitDisarmed(t, wt)
}

func TestStop(t *testing.T) {
	w := newWork(time.Millisecond)
	wt := New(time.Millisecond, w.check)
	wt.Stop()
	w.start(1, wt)
	time.Sleep(20 * time.Millisecond)
	if n := w.checks.Load(); n != 0 {
		t.Fatalf("%d checks after Stop", n)
	}
}

// TestWorkStartedDuringCheck: work that starts after a running check has
// read the work in flight, but before that check returns, is still
// watched: it must see the watch unarmed and arm it.
func TestWorkStartedDuringCheck(t *testing.T) {
	const limit = 20 * time.Millisecond
	w := newWork(limit)
	inCheck, resume := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	wt := New(limit, func() time.Duration {
		d := w.check()
		if first.CompareAndSwap(false, true) {
			close(inCheck)
			<-resume
		}
		return d
	})
	defer wt.Stop()
	w.start(1, wt)
	w.finish(1)
	<-inCheck // the first check found nothing in flight
	w.start(2, wt)
	close(resume)
	w.waitOverdue(t, 2)
}

// TestSteadyWorkFiresOncePerDelay: work that keeps starting and finishing
// is checked about once per delay, like a ticker, however many jobs start.
func TestSteadyWorkFiresOncePerDelay(t *testing.T) {
	const limit = 10 * time.Millisecond
	w, wt := watched(t, limit)
	begin := time.Now()
	for i := 0; time.Since(begin) < 20*limit; i++ {
		w.start(i, wt)
		w.finish(i)
		time.Sleep(50 * time.Microsecond)
	}
	// Work in flight at a firing brings the next one forward, so allow
	// twice the ticker's count; a firing per Arm would be hundreds.
	n, most := w.checks.Load(), 2*int64(time.Since(begin)/limit)+2
	if n < 5 || n > most {
		t.Fatalf("%d checks in %v of steady work, want about one per %v", n, time.Since(begin), limit)
	}
	waitDisarmed(t, wt)
}
