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

// waitDisarmed waits for the watch's last check to have found nothing.
func waitDisarmed(t *testing.T, wt *Watch) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for wt.Armed() {
		if time.Now().After(deadline) {
			t.Fatal("the watch is still armed with no work in flight")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOverdueWorkIsFound(t *testing.T) {
	const limit = 20 * time.Millisecond
	w := newWork(limit)
	wt := New(limit, w.check)
	defer wt.Stop()
	begin := time.Now()
	w.start(1, wt)
	select {
	case id := <-w.overdue:
		if id != 1 {
			t.Fatalf("overdue job %d, want 1", id)
		}
		if d := time.Since(begin); d < limit {
			t.Fatalf("job reported overdue after %v, before its %v limit", d, limit)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("overdue job never reported")
	}
	waitDisarmed(t, wt)
}

// TestLaterWorkIsFoundOnTime: work that starts while the timer is armed
// for earlier work is checked again at its own deadline, not a whole delay
// after the earlier one's check.
func TestLaterWorkIsFoundOnTime(t *testing.T) {
	const limit = 200 * time.Millisecond
	w := newWork(limit)
	wt := New(limit, w.check)
	defer wt.Stop()
	w.start(1, wt)
	time.Sleep(limit / 2)
	w.finish(1)
	begin := time.Now()
	w.start(2, wt) // the timer is armed already, for job 1
	select {
	case id := <-w.overdue:
		if id != 2 {
			t.Fatalf("overdue job %d, want 2", id)
		}
		// Checked a whole delay after job 1's check, it would be found
		// half a limit late.
		if d := time.Since(begin); d < limit || d > limit+limit/4 {
			t.Fatalf("job 2 reported after %v, want about %v", d, limit)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("job 2 never reported")
	}
}

// TestIdleWatchDoesNotFire: once the work is done, the check stops being
// called; that is the point of the package.
func TestIdleWatchDoesNotFire(t *testing.T) {
	const limit = 5 * time.Millisecond
	w := newWork(limit)
	wt := New(limit, w.check)
	defer wt.Stop()
	for i := range 10 {
		w.start(i, wt)
		w.finish(i)
	}
	waitDisarmed(t, wt)
	n := w.checks.Load()
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
	w := newWork(limit)
	wt := New(limit, w.check)
	defer wt.Stop()
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
	select {
	case id := <-w.overdue:
		if id != 2 {
			t.Fatalf("overdue job %d, want 2", id)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("work started during a check was never checked")
	}
}

// TestSteadyWorkFiresOncePerDelay: work that keeps starting and finishing
// is checked about once per delay, like a ticker, however many jobs start.
func TestSteadyWorkFiresOncePerDelay(t *testing.T) {
	const limit = 10 * time.Millisecond
	w := newWork(limit)
	wt := New(limit, w.check)
	defer wt.Stop()
	begin := time.Now()
	for i := 0; time.Since(begin) < 20*limit; i++ {
		w.start(i, wt)
		w.finish(i)
		time.Sleep(50 * time.Microsecond)
	}
	n, most := w.checks.Load(), int64(time.Since(begin)/limit)+2
	if n < 5 || n > most {
		t.Fatalf("%d checks in %v of steady work, want about one per %v", n, time.Since(begin), limit)
	}
	waitDisarmed(t, wt)
}
