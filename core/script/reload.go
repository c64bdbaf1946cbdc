package script

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/locus-sip/locus/core"
)

// Debounce is how long the watcher waits after the last change in the
// script's directory before reloading: editors write in several steps.
const Debounce = 150 * time.Millisecond

// Reload reads the script again and, if its content changed, compiles it,
// warms a new generation and swaps it in; the old generation drains as its
// requests finish. On any error the current generation keeps serving.
// changed is false when the content is the same as the current one's.
func (r *Runtime) Reload() (g *Generation, changed bool, err error) {
	r.reload.Lock()
	defer r.reload.Unlock()
	src, err := os.ReadFile(r.opts.File)
	if err != nil {
		return r.fail(fmt.Errorf("script: %w", err))
	}
	sum := sha256.Sum256(src)
	old := r.cur.Load()
	if hex.EncodeToString(sum[:]) == old.Hash {
		return old, false, nil
	}
	g, err = r.newGeneration(src)
	if err != nil {
		return r.fail(err)
	}
	r.cur.Store(g)
	old.retire()
	r.reloads.Add(1)
	r.lastErrMu.Lock()
	r.lastErr = ""
	r.lastErrMu.Unlock()
	r.log.Info("script reloaded", "file", r.opts.File, "generation", g.ID, "hash", g.Hash[:12], "previous", old.ID)
	return g, true, nil
}

func (r *Runtime) fail(err error) (*Generation, bool, error) {
	r.reloadFailures.Add(1)
	r.lastErrMu.Lock()
	r.lastErr = err.Error()
	r.lastErrMu.Unlock()
	cur := r.cur.Load()
	r.log.Error("script reload refused, previous generation keeps serving", "error", err, "generation", cur.ID)
	return cur, false, err
}

// Watch reloads the script when its directory changes, until ctx ends.
// It watches the directory, not the file: editors replace files by
// rename, and Kubernetes swaps a symlink, neither of which a watch on the
// file itself survives.
func (r *Runtime) Watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("script: watch: %w", err)
	}
	dir := filepath.Dir(r.opts.File)
	if err := w.Add(dir); err != nil {
		w.Close()
		return fmt.Errorf("script: watch %s: %w", dir, err)
	}
	go func() {
		defer w.Close()
		var (
			timer *time.Timer
			fire  <-chan time.Time
		)
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Op == fsnotify.Chmod {
					continue
				}
				if timer == nil {
					timer = time.NewTimer(Debounce)
				} else {
					timer.Reset(Debounce)
				}
				fire = timer.C
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				r.log.Warn("script watcher", "error", err)
			case <-fire:
				fire = nil
				// Reload logs its outcome; an unchanged hash is a no-op.
				_, _, _ = r.Reload()
			}
		}
	}()
	return nil
}

// Info describes the current generation and the reload history.
func (r *Runtime) Info() core.ScriptInfo {
	g := r.cur.Load()
	reloads, failures, last := r.Stats()
	return core.ScriptInfo{Generation: g.ID, Hash: g.Hash, File: g.File, LoadedAt: g.LoadedAt,
		Reloads: reloads, Failures: failures, LastError: last}
}

// ReloadScript is Reload for operations: it reports the result as ScriptInfo.
func (r *Runtime) ReloadScript() (core.ScriptInfo, bool, error) {
	_, changed, err := r.Reload()
	return r.Info(), changed, err
}

var _ core.ScriptControl = (*Runtime)(nil)
