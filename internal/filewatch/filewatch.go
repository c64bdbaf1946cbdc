// Package filewatch reloads a file when it changes, for the modules that
// read one (credentials, address groups). It watches the file's
// directory, not the file: editors, "locus users" and Kubernetes replace
// files by rename, and Kubernetes swaps a "..data" symlink.
package filewatch

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Debounce is how long a watcher waits after the last change in the
// file's directory before reloading.
const Debounce = 150 * time.Millisecond

// Watcher calls its reload function after the file changed.
type Watcher struct {
	stop context.CancelFunc
	done chan struct{}
}

// Start watches path until ctx ends or Close, calling reload (which logs
// its own outcome) Debounce after the last change. Watcher errors are
// logged with what as the message.
func Start(ctx context.Context, path string, log *slog.Logger, what string, reload func()) (*Watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	fw := &Watcher{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(fw.done)
		defer w.Close()
		timer := time.NewTimer(Debounce)
		timer.Stop()
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				// Only the file itself, or Kubernetes' "..data" symlink
				// swap: the directory may be busy with other files.
				name := filepath.Base(ev.Name)
				if ev.Op == fsnotify.Chmod || name != base && !strings.HasPrefix(name, "..") {
					continue
				}
				timer.Reset(Debounce)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Warn(what, "error", err)
			case <-timer.C:
				reload()
			}
		}
	}()
	return fw, nil
}

// Close stops the watcher and waits for it; a nil Watcher is a no-op.
func (w *Watcher) Close() {
	if w == nil {
		return
	}
	w.stop()
	<-w.done
}
