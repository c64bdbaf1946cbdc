package script

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/internal/filewatch"
)

// Debounce is how long the watcher waits after the last change of the
// script before reloading: editors write in several steps.
const Debounce = filewatch.Debounce

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

// Watch reloads the script when its file changes, until ctx ends: written
// in place, replaced by rename (editors) or through a symlink swap
// (Kubernetes). Only the file is watched, so that writes to other files
// beside it (the SQLite database) cost nothing.
func (r *Runtime) Watch(ctx context.Context) error {
	// Reload logs its outcome; an unchanged hash is a no-op.
	if _, err := filewatch.Start(ctx, r.opts.File, r.log, "script watcher", func() { _, _, _ = r.Reload() }); err != nil {
		return fmt.Errorf("script: %w", err)
	}
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
