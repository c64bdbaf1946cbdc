// Package filewatch reloads a file when it changes, for the script and
// for the modules that read one (credentials, address groups).
//
// It watches the file itself, not its directory: a directory watch
// reports every write to every file in it, and the SQLite store's
// database often lives beside the script (one event per committed
// REGISTER, thousands a second, each read and handled here for nothing).
// Editors, "locus users" and Kubernetes replace a file instead of writing
// it (rename over it, or swap the "..data" symlink that leads to it): the
// watch follows the path to its new file whenever the file it watched was
// renamed, removed or replaced. While the path leads nowhere (deleted,
// not yet recreated) the directory is watched until it does again.
package filewatch

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Debounce is how long a watcher waits after the last change of the file
// before reloading.
const Debounce = 150 * time.Millisecond

// Watcher calls its reload function after the file changed.
type Watcher struct {
	stop context.CancelFunc
	done chan struct{}
	// events counts the filesystem events the watcher received.
	events atomic.Uint64
}

// watch is the state of one Watcher's goroutine.
type watch struct {
	w         *fsnotify.Watcher
	path, dir string
	base      string
	// file is the file watched, nil while the directory is watched
	// instead (the path leads to no file).
	file os.FileInfo
}

// arm watches the file path leads to now, or its directory if none.
func (x *watch) arm() error {
	for attempt := 0; ; attempt++ {
		if x.file != nil {
			_ = x.w.Remove(x.path) // gone already if the file was removed
			x.file = nil
		} else {
			_ = x.w.Remove(x.dir)
		}
		// The path may be switched to another file while the watch is
		// added: it must be the same file before and after, or the watch
		// may be on a file the path no longer leads to, and would never
		// report again.
		for range 10 {
			before, err := os.Stat(x.path)
			if err != nil || x.w.Add(x.path) != nil {
				break
			}
			if after, err := os.Stat(x.path); err == nil && os.SameFile(before, after) {
				x.file = after
				return nil
			}
			_ = x.w.Remove(x.path)
		}
		if err := x.w.Add(x.dir); err != nil {
			return fmt.Errorf("watch %s: %w", x.dir, err)
		}
		// The file may have appeared between the two: look once more.
		// (A file that exists but cannot be watched stays watched through
		// its directory.)
		if _, err := os.Stat(x.path); err != nil || attempt > 0 {
			return nil
		}
	}
}

// changed reports whether ev may have changed what path leads to, and
// re-arms the watch when the file it watched was replaced or removed.
func (x *watch) changed(ev fsnotify.Event) (bool, error) {
	if x.file == nil { // watching the directory: only the file's name (or Kubernetes' "..data" swap)
		name := filepath.Base(ev.Name)
		if ev.Op == fsnotify.Chmod || name != x.base && !strings.HasPrefix(name, "..") {
			return false, nil
		}
		if _, err := os.Stat(x.path); err != nil {
			return false, nil // not there yet
		}
		return true, x.arm()
	}
	// A file removed or renamed lost its watch, or will: look again, even
	// if the path leads to a file with the same inode number (a new file
	// may reuse the number of one just deleted).
	if !ev.Has(fsnotify.Remove) && !ev.Has(fsnotify.Rename) {
		fi, err := os.Stat(x.path)
		if err == nil && os.SameFile(fi, x.file) {
			// The same file: written (Write), or only its attributes changed.
			return ev.Op != fsnotify.Chmod, nil
		}
	}
	// Renamed, removed, or path now leads to another file.
	return true, x.arm()
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
	x := &watch{w: w, path: path, dir: filepath.Clean(dir), base: base}
	if err := x.arm(); err != nil {
		w.Close()
		return nil, err
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
				fw.events.Add(1)
				changed, err := x.changed(ev)
				if err != nil {
					log.Warn(what, "error", err)
				}
				if changed {
					timer.Reset(Debounce)
				}
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

// Events returns how many filesystem events the watcher received.
func (w *Watcher) Events() uint64 { return w.events.Load() }

// Close stops the watcher and waits for it; a nil Watcher is a no-op.
func (w *Watcher) Close() {
	if w == nil {
		return
	}
	w.stop()
	<-w.done
}
