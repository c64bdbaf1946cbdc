package sqlitestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// walSalt returns the salts of the WAL file's header, which change when the
// WAL restarts from its beginning.
func walSalt(t *testing.T, path string) string {
	t.Helper()
	s, err := readWALSalt(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readWALSalt is walSalt for goroutines other than the test's.
func readWALSalt(path string) (string, error) {
	f, err := os.Open(path + "-wal")
	if err != nil {
		return "", err
	}
	defer f.Close() // SQLite takes no locks on the WAL file: nothing to lose
	hdr := make([]byte, 32)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return "", err
	}
	return string(hdr[16:24]), nil
}

// walFileFrames returns how many frames the WAL file has room for: the
// most the WAL ever held since the file was created, since SQLite restarts
// the WAL without truncating it.
func walFileFrames(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	const hdr, frame = 32, 24 + 4096
	return (fi.Size() - hdr) / frame
}

// TestCheckpointer: under a steady stream of commits, with the writer
// never idle, the checkpointer copies the WAL into the database file and
// gets it restarted from its beginning, again and again, so the WAL file
// stays small. The writer's own backstop (10,000 frames) would restart it
// twice or three times in the updates allowed, and let the WAL file grow
// to 10,000 frames.
func TestCheckpointer(t *testing.T) {
	const restart, want, most = 200, 10, 8000
	path := filepath.Join(t.TempDir(), "location.db")
	st := openHookedTest(t, path+"?synchronous=normal", hooks{checkpointEvery: time.Millisecond, restartFrames: restart})
	defer st.Close()
	ctx := context.Background()
	var (
		stop    atomic.Bool
		updates atomic.Int64
		wg      sync.WaitGroup
	)
	for g := range 4 {
		wg.Go(func() {
			for i := g; !stop.Load(); i += 4 {
				n := i * 7919 % 1000
				if _, err := st.Update(ctx, "location", aorOf(n), replace(binding(n))); err != nil {
					t.Error(err)
					return
				}
				updates.Add(1)
			}
		})
	}
	salt, restarts := walSalt(t, path), 0
	for deadline := time.Now().Add(20 * time.Second); restarts < want && updates.Load() < most && time.Now().Before(deadline); {
		time.Sleep(100 * time.Microsecond)
		if s := walSalt(t, path); s != salt {
			salt = s
			restarts++
		}
	}
	stop.Store(true)
	wg.Wait()
	if p := st.ckpt.err.Load(); p != nil {
		t.Errorf("checkpoint error: %v", *p)
	}
	if st.ckpt.runs.Load() == 0 {
		t.Error("the checkpointer never ran")
	}
	if restarts < want {
		t.Errorf("the WAL restarted %d times in %d updates, want %d in at most %d", restarts, updates.Load(), want, most)
	}
	// The WAL goes past restart only by what the commits add during a
	// round and the wait for the gate; nowhere near the backstop.
	if n := walFileFrames(t, path); n >= backstopFrames/4 {
		t.Errorf("the WAL file holds %d frames, want fewer than %d (restartFrames %d)", n, backstopFrames/4, restart)
	}
	t.Logf("%d restarts in %d updates; %d checkpoints (%d holding the writer back); WAL file %d frames",
		restarts, updates.Load(), st.ckpt.runs.Load(), st.ckpt.gated.Load(), walFileFrames(t, path))
}

// TestGatedCheckpoint: when commits overtake the checkpoint and its retry
// and the WAL has passed restartFrames, the checkpointer holds the writer
// back for one more checkpoint, which no commit can overtake: an Update
// made meanwhile waits for it, and then restarts the WAL. The hook commits
// an Update after each ungated checkpoint, before the checkpointer looks
// whether a transaction overlapped it.
func TestGatedCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "location.db")
	ctx := context.Background()
	var (
		st       *Store
		mu       sync.Mutex
		seen     []bool // gated, for each checkpoint
		overtake atomic.Int64
		heldBack = make(chan error, 1) // the Update made during the gated checkpoint
		saltIn   string                // the WAL's salt during the gated checkpoint
		waited   bool                  // that Update had not returned 20 ms into it
	)
	overtake.Store(1 + ckptRetries)
	st = openHookedTest(t, path+"?synchronous=normal", hooks{
		checkpointEvery: time.Hour, // one round, at the first commit
		restartFrames:   1,
		checkpointed: func(gated bool) {
			mu.Lock()
			seen = append(seen, gated)
			mu.Unlock()
			if !gated {
				if overtake.Add(-1) >= 0 {
					if _, err := st.Update(ctx, "location", aorOf(2), replace(binding(2))); err != nil {
						t.Error(err)
					}
				}
				return
			}
			var err error
			if saltIn, err = readWALSalt(path); err != nil {
				t.Error(err)
			}
			go func() {
				_, err := st.Update(ctx, "location", aorOf(3), replace(binding(3)))
				heldBack <- err
			}()
			select {
			case err := <-heldBack:
				heldBack <- err
			case <-time.After(20 * time.Millisecond):
				waited = true
			}
		},
	})
	defer st.Close()
	if _, err := st.Update(ctx, "location", aorOf(1), replace(binding(1))); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-heldBack:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no gated checkpoint after two overtaken ones, with the WAL past restartFrames")
	}
	mu.Lock()
	got := fmt.Sprint(seen)
	mu.Unlock()
	if want := fmt.Sprint([]bool{false, false, true}); got != want {
		t.Errorf("checkpoints (gated or not): %s, want %s", got, want)
	}
	if !waited {
		t.Error("an Update returned during the gated checkpoint: the writer was not held back")
	}
	if salt := walSalt(t, path); salt == saltIn {
		t.Error("the WAL did not restart at the first commit after the gated checkpoint: it was not complete")
	}
	if p := st.ckpt.err.Load(); p != nil {
		t.Errorf("checkpoint error: %v", *p)
	}
}

// heldCheckpoint holds the checkpointer in the hook of its first
// checkpoint (hooks.checkpointed) until release.
type heldCheckpoint struct {
	entered, gate chan struct{}
	once          sync.Once
	release       func() // idempotent
}

func holdFirstCheckpoint() *heldCheckpoint {
	h := &heldCheckpoint{entered: make(chan struct{}), gate: make(chan struct{})}
	h.release = sync.OnceFunc(func() { close(h.gate) })
	return h
}

func (h *heldCheckpoint) hook(bool) {
	h.once.Do(func() {
		close(h.entered)
		<-h.gate
	})
}

// wait returns once the checkpointer is held.
func (h *heldCheckpoint) wait(t *testing.T) {
	t.Helper()
	select {
	case <-h.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the checkpointer did not run after a commit")
	}
}

// TestBackstop: when the checkpointer does not keep up (here it is held
// inside its first round, after its first checkpoint), the writer
// checkpoints by itself once the WAL reaches the backstop, and the WAL
// still restarts and stays within it. The checkpointer is held rather
// than merely slow: a checkpoint of its own that overlaps the writer's
// keeps the writer's out (only one checkpoint runs at a time), and the WAL
// then grows past the backstop for as long as it runs.
func TestBackstop(t *testing.T) {
	const backstop = 64
	path := filepath.Join(t.TempDir(), "location.db")
	held := holdFirstCheckpoint()
	st := openHookedTest(t, path+"?synchronous=normal", hooks{
		checkpointEvery: time.Hour,
		backstopFrames:  backstop,
		checkpointed:    held.hook,
	})
	defer st.Close()
	defer held.release() // before Close, also when the test fails early
	ctx := context.Background()
	var autoCkpt int
	if err := st.w.conn.QueryRowContext(context.Background(), `PRAGMA wal_autocheckpoint`).Scan(&autoCkpt); err != nil || autoCkpt != backstop {
		t.Fatalf("writer's wal_autocheckpoint = %d, %v; want %d", autoCkpt, err, backstop)
	}
	if _, err := st.Update(ctx, "location", aorOf(0), replace(binding(0))); err != nil {
		t.Fatal(err)
	}
	held.wait(t)
	salt, restarts := walSalt(t, path), 0
	const updates = 400
	for i := range updates {
		n := i * 7919 % 1000
		if _, err := st.Update(ctx, "location", aorOf(n), replace(binding(n))); err != nil {
			t.Fatal(err)
		}
		if s := walSalt(t, path); s != salt {
			salt = s
			restarts++
		}
	}
	if runs := st.ckpt.runs.Load(); runs != 1 {
		t.Fatalf("the checkpointer ran %d checkpoints while held, want 1", runs)
	}
	if restarts < 5 {
		t.Errorf("the WAL restarted %d times in %d updates, want the writer to restart it every %d frames", restarts, updates, backstop)
	}
	// A commit crosses the backstop by its own frames at most.
	if n := walFileFrames(t, path); n > 2*backstop {
		t.Errorf("the WAL file holds %d frames, want at most %d (backstop %d)", n, 2*backstop, backstop)
	}
}

// TestCloseWhileCheckpointing: a round in progress does not hold back the
// writer, and Close waits for it: the checkpoint it still has to make
// (the retry, since an Update overtook the first) finds its connection
// open, and no checkpoint runs after Close returned.
func TestCloseWhileCheckpointing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "location.db")
	held := holdFirstCheckpoint()
	st := openHookedTest(t, path, hooks{checkpointEvery: time.Millisecond, checkpointed: held.hook})
	defer st.Close()
	defer held.release() // before Close, also when the test fails early
	ctx := context.Background()
	if _, err := st.Update(ctx, "location", aorOf(1), replace(binding(1))); err != nil {
		t.Fatal(err)
	}
	held.wait(t)
	updated := make(chan error, 1)
	go func() {
		_, err := st.Update(ctx, "location", aorOf(2), replace(binding(2)))
		updated <- err
	}()
	select {
	case err := <-updated:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an Update waited for a round of checkpoints")
	}
	closed := make(chan error, 1)
	go func() { closed <- st.Close() }()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) during a round of checkpoints", err)
	default:
	}
	held.release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	select {
	case <-st.ckpt.done:
	default:
		t.Error("Close returned before the checkpointer exited")
	}
	if n := st.ckpt.runs.Load(); n < 2 {
		t.Errorf("%d checkpoints, want the retry after the overtaken one too", n)
	}
	if p := st.ckpt.err.Load(); p != nil {
		t.Errorf("checkpoint error: %v", *p)
	}
	runs := st.ckpt.runs.Load()
	time.Sleep(20 * time.Millisecond)
	if n := st.ckpt.runs.Load(); n != runs {
		t.Errorf("%d checkpoints after Close returned", n-runs)
	}
	st2 := openTest(t, path)
	defer st2.Close()
	for _, i := range []int{1, 2} {
		if bs, err := st2.Get(ctx, "location", aorOf(i)); err != nil || len(bs) != 1 {
			t.Errorf("after reopening, %s has %d bindings, %v; want 1", aorOf(i), len(bs), err)
		}
	}
}
