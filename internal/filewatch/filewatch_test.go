package filewatch_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

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
}

func TestCloseNil(t *testing.T) {
	var w *filewatch.Watcher
	w.Close() // no panic
}
