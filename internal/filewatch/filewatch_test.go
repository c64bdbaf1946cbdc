package filewatch_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/internal/filewatch"
)

func TestReloadsOnChangeOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users")
	if err := os.WriteFile(path, []byte("a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	w, err := filewatch.Start(context.Background(), path, slog.New(slog.DiscardHandler), "test", func() { n.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// Another file in the directory changes nothing.
	if err := os.WriteFile(filepath.Join(dir, "other"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * filewatch.Debounce)
	if got := n.Load(); got != 0 {
		t.Fatalf("%d reloads for another file", got)
	}
	// A save by rename, in three quick steps, is one reload.
	for i := range 3 {
		tmp := filepath.Join(dir, ".users.tmp")
		if err := os.WriteFile(tmp, []byte{byte('b' + i), '\n'}, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for n.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(3 * filewatch.Debounce)
	if got := n.Load(); got != 1 {
		t.Fatalf("%d reloads after one burst of changes, want 1", got)
	}
	// The watch followed the rename: a write to the new file is seen.
	if err := os.WriteFile(path, []byte("z\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitReloads(t, &n, 2, "a write after the rename")
}

// start watches path and counts reloads.
func start(t *testing.T, path string) (*filewatch.Watcher, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	w, err := filewatch.Start(t.Context(), path, slog.New(slog.DiscardHandler), "test", func() { n.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w, &n
}

// waitReloads waits until n reached want, then one more debounce period
// for any extra reload, and checks the count.
func waitReloads(t *testing.T, n *atomic.Int32, want int32, what string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for n.Load() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(2 * filewatch.Debounce)
	if got := n.Load(); got != want {
		t.Fatalf("after %s: %d reloads, want %d", what, got, want)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A database beside the file is written on every request: the watcher
// must neither wake up for those writes nor let them delay a reload.
func TestNeighbourWritesCostNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "route.lua")
	writeFile(t, path, "v1")
	w, n := start(t, path)
	db, err := os.Create(filepath.Join(dir, "locus.db-wal"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range 500 {
		if _, err := db.WriteAt([]byte("frame"), int64(i)*8); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * filewatch.Debounce)
	if got := w.Events(); got != 0 {
		t.Fatalf("%d events for writes to another file", got)
	}
	if got := n.Load(); got != 0 {
		t.Fatalf("%d reloads for writes to another file", got)
	}
	// The file changes while the neighbour is written every millisecond.
	coretest.KeepWriting(t, filepath.Join(dir, "locus.db"))
	writeFile(t, path, "v2")
	waitReloads(t, n, 1, "an in-place write beside a busy file")
}

// Deleted, then created again: the watch finds the new file, and follows
// its later writes.
func TestRemovedAndRecreated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users")
	writeFile(t, path, "a")
	_, n := start(t, path)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitReloads(t, n, 1, "remove")
	writeFile(t, path, "b")
	waitReloads(t, n, 2, "create")
	writeFile(t, path, "c")
	waitReloads(t, n, 3, "a write to the new file")
}

// Kubernetes mounts a ConfigMap as name -> ..data/name, ..data ->
// ..TIMESTAMP, and updates it by swapping ..data and deleting the old
// directory.
func TestSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	version := func(v, content string) {
		t.Helper()
		d := filepath.Join(dir, "..v"+v)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(d, "users"), content)
		if err := os.Symlink("..v"+v, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("1", "a")
	path := filepath.Join(dir, "users")
	if err := os.Symlink(filepath.Join("..data", "users"), path); err != nil {
		t.Fatal(err)
	}
	_, n := start(t, path)
	for i, v := range []string{"2", "3"} {
		version(v, "content "+v)
		prev := map[string]string{"2": "1", "3": "2"}[v]
		if err := os.RemoveAll(filepath.Join(dir, "..v"+prev)); err != nil {
			t.Fatal(err)
		}
		waitReloads(t, n, int32(i+1), "swap to version "+v)
	}
}

func TestCloseNil(t *testing.T) {
	var w *filewatch.Watcher
	w.Close() // no panic
}
