package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/locus-sip/locus/modules/usrloc"
	"github.com/locus-sip/locus/modules/usrloc/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) usrloc.Store { return openTest(t, filepath.Join(t.TempDir(), "location.db")) })
}

// openTest opens the store at path through usrloc.Open, as locus does.
func openTest(t testing.TB, path string) *Store {
	t.Helper()
	st, err := usrloc.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	return st.(*Store)
}

// openHookedTest opens the store at "path[?options]" with hooks.
func openHookedTest(t testing.TB, dsnPath string, h hooks) *Store {
	t.Helper()
	path, opts, err := ParseDSN("sqlite:" + dsnPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openHooked(context.Background(), path, opts, h)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func aorOf(i int) string { return fmt.Sprintf("sip:user%06d@example.com", i) }

// binding is a realistic UDP binding.
func binding(i int) usrloc.Binding {
	now := time.Now()
	return usrloc.Binding{
		AOR:       aorOf(i),
		Contact:   fmt.Sprintf("sip:user%06d@198.51.100.7:5060;transport=udp", i),
		Expires:   now.Add(time.Hour),
		Q:         usrloc.QUnset,
		CallID:    fmt.Sprintf("a84b4c76e66710-%08d-%012d", i, i),
		CSeq:      uint32(i%1000 + 1),
		Received:  "udp:198.51.100.7:5060",
		Socket:    "udp:127.0.0.1:5060",
		UserAgent: "Zoiper rv2.10",
		Modified:  now,
		RUID:      fmt.Sprintf("uloc-6780a1b2-%06d", i),
	}
}

func replace(b usrloc.Binding) func([]usrloc.Binding) ([]usrloc.Binding, error) {
	return func([]usrloc.Binding) ([]usrloc.Binding, error) { return []usrloc.Binding{b}, nil }
}

func appendOne(b usrloc.Binding) func([]usrloc.Binding) ([]usrloc.Binding, error) {
	return func(cur []usrloc.Binding) ([]usrloc.Binding, error) { return append(cur, b), nil }
}

func contacts(bs []usrloc.Binding) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Contact)
	}
	return out
}

func TestParseDSN(t *testing.T) {
	def := DefaultOptions()
	for _, tc := range []struct {
		dsn     string
		path    string
		opts    func(*Options)
		wantErr string
	}{
		{dsn: "sqlite:locus.db", path: "locus.db"},
		{dsn: "sqlite:/var/lib/locus/location.db", path: "/var/lib/locus/location.db"},
		{dsn: "sqlite:///var/lib/locus/location.db", path: "/var/lib/locus/location.db"},
		{dsn: "sqlite://locus.db", path: "locus.db"},
		{dsn: "sqlite:a.db?synchronous=normal", path: "a.db", opts: func(o *Options) { o.Synchronous = "normal" }},
		{dsn: "sqlite:a.db?synchronous=FULL&busy_timeout=250ms&readers=2&max_batch=64", path: "a.db", opts: func(o *Options) {
			o.BusyTimeout, o.Readers, o.MaxBatch = 250*time.Millisecond, 2, 64
		}},
		{dsn: "sqlite:", wantErr: "no file path"},
		{dsn: "sqlite:?synchronous=full", wantErr: "no file path"},
		{dsn: "sqlite::memory:", wantErr: "plain file path"},
		{dsn: "sqlite:a.db?synchronous=off", wantErr: "want full, normal or extra"},
		{dsn: "sqlite:a.db?busy_timeout=5", wantErr: "busy_timeout"},
		{dsn: "sqlite:a.db?readers=0", wantErr: "positive integer"},
		{dsn: "sqlite:a.db?max_batch=1x", wantErr: "positive integer"},
		{dsn: "sqlite:a.db?journal_mode=delete", wantErr: `unknown option "journal_mode"`},
		{dsn: "sqlite:a.db?%zz", wantErr: "invalid URL escape"},
		{dsn: "postgres:a.db", wantErr: "want sqlite:PATH"},
	} {
		path, opts, err := ParseDSN(tc.dsn)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseDSN(%q): err = %v, want one containing %q", tc.dsn, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDSN(%q): %v", tc.dsn, err)
			continue
		}
		want := def
		if tc.opts != nil {
			tc.opts(&want)
		}
		if path != tc.path || opts != want {
			t.Errorf("ParseDSN(%q) = %q, %+v; want %q, %+v", tc.dsn, path, opts, tc.path, want)
		}
	}
}

// TestOpenErrors checks that a database that cannot be opened gives one
// clear error at open.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	notDB := filepath.Join(dir, "not.db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("this is not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dsn, want string
	}{
		{"sqlite:" + filepath.Join(file, "location.db"), "not a directory"},
		{"sqlite:" + notDB, "not a database"},
		{"sqlite:" + dir, "unable to open"},
	} {
		st, err := usrloc.Open(context.Background(), tc.dsn)
		if err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded, want an error", tc.dsn)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Open(%q): %v; want one line containing %q", tc.dsn, err, tc.want)
		}
	}
}

// TestOpenCreatesDirectory: the embedded default needs no setup.
func TestOpenCreatesDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "var", "lib", "locus", "location.db")
	st := openTest(t, path)
	defer st.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := st.w.conn.QueryRowContext(context.Background(), `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var syncMode int
	if err := st.w.conn.QueryRowContext(context.Background(), `PRAGMA synchronous`).Scan(&syncMode); err != nil || syncMode != 2 {
		t.Errorf("synchronous = %d, %v; want 2 (FULL)", syncMode, err)
	}
	// The checkpointer checkpoints; the writer only past the backstop.
	var autoCkpt int
	if err := st.w.conn.QueryRowContext(context.Background(), `PRAGMA wal_autocheckpoint`).Scan(&autoCkpt); err != nil || autoCkpt != backstopFrames {
		t.Errorf("writer's wal_autocheckpoint = %d, %v; want %d", autoCkpt, err, backstopFrames)
	}
}

// TestSynchronousOption: the DSN's synchronous option is SQLite's setting
// of the writer, as is.
func TestSynchronousOption(t *testing.T) {
	for _, tc := range []struct {
		opt  string
		want int // PRAGMA synchronous of the writer
	}{
		{"", 2}, // the default: FULL
		{"?synchronous=full", 2},
		{"?synchronous=normal", 1},
		{"?synchronous=extra", 3},
	} {
		t.Run(tc.opt, func(t *testing.T) {
			dsn := "sqlite:" + filepath.Join(t.TempDir(), "location.db") + tc.opt
			st, err := usrloc.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			s := st.(*Store)
			var syncMode int
			if err := s.w.conn.QueryRowContext(context.Background(), `PRAGMA synchronous`).Scan(&syncMode); err != nil || syncMode != tc.want {
				t.Errorf("synchronous = %d, %v; want %d", syncMode, err, tc.want)
			}
			if _, err := st.Update(context.Background(), "location", aorOf(1), replace(binding(1))); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "location.db")
	st := openTest(t, path)
	var v int
	if err := st.rdb.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != SchemaVersion() {
		t.Fatalf("schema_version = %d, %v; want %d", v, err, SchemaVersion())
	}
	if _, err := st.w.conn.ExecContext(context.Background(), `UPDATE schema_version SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, err := usrloc.Open(context.Background(), "sqlite:"+path)
	if err == nil || !strings.Contains(err.Error(), "newer than this locus knows") {
		t.Fatalf("Open of a database from a newer locus: %v, want a refusal", err)
	}
}

// TestReopen: bindings survive closing and reopening, with their expiry;
// expired ones are still there until Expire removes them.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "location.db")
	st := openTest(t, path)
	ctx := context.Background()
	want := map[string][]usrloc.Binding{}
	for i := range 50 {
		b1, b2 := binding(i), binding(i)
		b2.Contact, b2.Path = "sip:second@192.0.2.9", []string{"<sip:edge;lr>"}
		if i%10 == 0 {
			b2.Expires = time.Now().Add(-time.Second)
		}
		got, err := st.Update(ctx, "location", aorOf(i), func([]usrloc.Binding) ([]usrloc.Binding, error) {
			return []usrloc.Binding{b1, b2}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want[aorOf(i)] = got
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "location", aorOf(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if _, err := st.Update(ctx, "location", aorOf(1), replace(binding(1))); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v, want ErrClosed", err)
	}

	st = openTest(t, path)
	defer st.Close()
	n := 0
	err := st.List(ctx, "location", "", "", func(aor string, bs []usrloc.Binding) bool {
		n++
		if !slices.EqualFunc(bs, want[aor], equalBinding) {
			t.Errorf("%s after reopen: %+v, want %+v", aor, bs, want[aor])
		}
		return true
	})
	if err != nil || n != 50 {
		t.Fatalf("List after reopen: %d AoRs, %v; want 50", n, err)
	}
	gone, err := st.Expire(ctx, time.Now())
	if err != nil || len(gone) != 5 {
		t.Fatalf("Expire after reopen: %d bindings, %v; want 5", len(gone), err)
	}
}

func equalBinding(a, b usrloc.Binding) bool {
	return a.AOR == b.AOR && a.Contact == b.Contact && a.Expires.Equal(b.Expires) && a.Q == b.Q &&
		a.CallID == b.CallID && a.CSeq == b.CSeq && a.Received == b.Received && a.Socket == b.Socket &&
		a.ConnID == b.ConnID && slices.Equal(a.Path, b.Path) && a.Instance == b.Instance &&
		a.RegID == b.RegID && a.UserAgent == b.UserAgent && a.Methods == b.Methods &&
		a.Flags == b.Flags && a.Modified.Equal(b.Modified) && a.RUID == b.RUID
}

// TestBindingAOR: a binding's own AOR field is kept exactly, also when it
// differs from the AoR it is stored under, and Expire reports an empty one
// as that AoR.
func TestBindingAOR(t *testing.T) {
	st := openTest(t, filepath.Join(t.TempDir(), "location.db"))
	defer st.Close()
	ctx := context.Background()
	bs := []usrloc.Binding{binding(1), binding(2), binding(3)}
	bs[1].AOR = ""
	bs[2].AOR = "sip:alias@example.com"
	bs[1].Expires = time.Now().Add(-time.Minute)
	if _, err := st.Update(ctx, "location", aorOf(1), func([]usrloc.Binding) ([]usrloc.Binding, error) { return slices.Clone(bs), nil }); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, "location", aorOf(1))
	if err != nil {
		t.Fatal(err)
	}
	for i := range bs {
		if got[i].AOR != bs[i].AOR {
			t.Errorf("binding %d: AOR %q, want %q", i, got[i].AOR, bs[i].AOR)
		}
	}
	gone, err := st.Expire(ctx, time.Now())
	if err != nil || len(gone) != 1 || gone[0].AOR != aorOf(1) || gone[0].Table != "location" {
		t.Fatalf("Expire = %+v, %v; want the binding with an empty AOR, reported under %s", gone, err, aorOf(1))
	}
}

// blockWriter makes the writer wait inside a request's fn until release is
// called, so that the requests queued meanwhile form the next batch.
func blockWriter(t *testing.T, st *Store) (release func()) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := st.Update(context.Background(), "location", "sip:blocker@example.com", func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
			close(entered)
			<-gate
			return nil, nil
		})
		done <- err
	}()
	<-entered
	return func() {
		close(gate)
		if err := <-done; err != nil {
			t.Errorf("blocking update: %v", err)
		}
	}
}

// waitQueued waits until n requests are queued for the writer.
func waitQueued(t *testing.T, st *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(st.reqs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", len(st.reqs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGroupCommit checks the semantics of a batch: requests for the same
// AoR see each other's effect in order, an fn error aborts only its own
// request, a request whose context ended before the batch is not applied,
// a panic in fn reaches its caller only, and the whole lot is one commit.
func TestGroupCommit(t *testing.T) {
	st := openTest(t, filepath.Join(t.TempDir(), "location.db"))
	defer st.Close()
	const hot, cold, late = "sip:hot@example.com", "sip:cold@example.com", "sip:late@example.com"
	b := func(c string) usrloc.Binding {
		x := binding(0)
		x.AOR, x.Contact = hot, c
		return x
	}
	release := blockWriter(t, st)

	errAbort := errors.New("abort")
	type outcome struct {
		name string
		bs   []usrloc.Binding
		err  error
		pv   any
	}
	outcomes := make(chan outcome, 10)
	var wg sync.WaitGroup
	submit := func(name string, ctx context.Context, aor string, fn func([]usrloc.Binding) ([]usrloc.Binding, error)) {
		n := len(st.reqs)
		wg.Go(func() {
			defer func() {
				if v := recover(); v != nil {
					outcomes <- outcome{name: name, pv: v}
				}
			}()
			bs, err := st.Update(ctx, "location", aor, fn)
			outcomes <- outcome{name: name, bs: bs, err: err}
		})
		waitQueued(t, st, n+1) // keep the order of submission
	}
	var sawFirst []string
	submit("first", context.Background(), hot, appendOne(b("sip:1@x")))
	submit("fails", context.Background(), hot, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
		return append(cur, b("sip:never@x")), errAbort
	})
	submit("second", context.Background(), hot, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
		sawFirst = contacts(cur)
		return append(cur, b("sip:2@x")), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	submit("cancelled", ctx, late, appendOne(b("sip:late@x")))
	submit("panics", context.Background(), cold, func([]usrloc.Binding) ([]usrloc.Binding, error) { panic("boom") })
	submit("cold", context.Background(), cold, appendOne(b("sip:cold@x")))
	cancel()
	batchesBefore := st.batches.Load()
	release()
	wg.Wait()
	close(outcomes)

	got := map[string]outcome{}
	for o := range outcomes {
		got[o.name] = o
	}
	if o := got["first"]; o.err != nil || !slices.Equal(contacts(o.bs), []string{"sip:1@x"}) {
		t.Errorf("first: %v %v", contacts(o.bs), o.err)
	}
	if o := got["fails"]; !errors.Is(o.err, errAbort) {
		t.Errorf("fails: err = %v, want %v", o.err, errAbort)
	}
	if o := got["second"]; o.err != nil || !slices.Equal(contacts(o.bs), []string{"sip:1@x", "sip:2@x"}) {
		t.Errorf("second: %v %v", contacts(o.bs), o.err)
	}
	if !slices.Equal(sawFirst, []string{"sip:1@x"}) {
		t.Errorf("second's fn saw %v, want the first's write", sawFirst)
	}
	if o := got["cancelled"]; !errors.Is(o.err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", o.err)
	}
	if o := got["panics"]; o.pv != "boom" {
		t.Errorf("panics: recovered %v, want boom", o.pv)
	}
	if o := got["cold"]; o.err != nil || len(o.bs) != 1 {
		t.Errorf("cold: %v %v", contacts(o.bs), o.err)
	}
	if n := st.batches.Load() - batchesBefore; n != 1 {
		t.Errorf("%d transactions for the queued requests, want 1", n)
	}
	ctxb := context.Background()
	if bs, _ := st.Get(ctxb, "location", hot); !slices.Equal(contacts(bs), []string{"sip:1@x", "sip:2@x"}) {
		t.Errorf("stored %s: %v", hot, contacts(bs))
	}
	if bs, _ := st.Get(ctxb, "location", late); len(bs) != 0 {
		t.Errorf("the cancelled request was applied: %v", contacts(bs))
	}
	if bs, _ := st.Get(ctxb, "location", cold); !slices.Equal(contacts(bs), []string{"sip:cold@x"}) {
		t.Errorf("stored %s: %v", cold, contacts(bs))
	}
}

// TestBusy: another process holding the write lock is an outage. Updates
// fail within their deadline with ErrStoreUnavailable, reads go on (WAL),
// and once the lock is released the store works again by itself.
func TestBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "location.db")
	st := openTest(t, path)
	defer st.Close()
	ctx := context.Background()
	if _, err := st.Update(ctx, "location", aorOf(1), replace(binding(1))); err != nil {
		t.Fatal(err)
	}

	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	for range 2 { // the second finds the writer idle again, not stuck
		dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		start := time.Now()
		_, err = st.Update(dctx, "location", aorOf(2), replace(binding(2)))
		cancel()
		if !errors.Is(err, usrloc.ErrStoreUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Update while locked: %v, want ErrStoreUnavailable and DeadlineExceeded", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Update while locked took %v, want about its 200ms deadline", d)
		}
	}
	if bs, err := st.Get(ctx, "location", aorOf(1)); err != nil || len(bs) != 1 {
		t.Errorf("Get while locked: %d bindings, %v", len(bs), err)
	}

	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := st.Update(dctx, "location", aorOf(2), replace(binding(2))); err != nil {
		t.Fatalf("Update after the lock was released: %v", err)
	}
	if bs, err := st.Get(ctx, "location", aorOf(2)); err != nil || len(bs) != 1 {
		t.Errorf("Get after recovery: %d bindings, %v", len(bs), err)
	}
}

// TestTwoStores: two stores (as two processes would) on one file; their
// concurrent appends to one AoR lose nothing and each sees the other's
// writes at once.
func TestTwoStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "location.db")
	a, b := openTest(t, path), openTest(t, path)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	const aor = "sip:shared@example.com"
	const perStore, goroutines = 100, 4
	var wg sync.WaitGroup
	for si, st := range []*Store{a, b} {
		for g := range goroutines {
			wg.Go(func() {
				for i := range perStore / goroutines {
					x := binding(0)
					x.AOR, x.Contact = aor, fmt.Sprintf("sip:s%d-g%d-%d@x", si, g, i)
					if _, err := st.Update(ctx, "location", aor, appendOne(x)); err != nil {
						t.Errorf("store %d: %v", si, err)
					}
				}
			})
		}
	}
	wg.Wait()
	for si, st := range []*Store{a, b} {
		bs, err := st.Get(ctx, "location", aor)
		if err != nil || len(bs) != 2*perStore {
			t.Errorf("store %d sees %d bindings, %v; want %d", si, len(bs), err, 2*perStore)
		}
	}
	if a.Changes() != nil {
		t.Error("Changes() is not nil")
	}
}

// TestContextCancelledWhileQueued: a caller whose deadline passes while its
// request waits behind a slow batch gets its error in time, and the writer
// is fine afterwards.
func TestContextCancelledWhileQueued(t *testing.T) {
	st := openTest(t, filepath.Join(t.TempDir(), "location.db"))
	defer st.Close()
	release := blockWriter(t, st)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := st.Update(ctx, "location", aorOf(1), replace(binding(1)))
	if !errors.Is(err, usrloc.ErrStoreUnavailable) || time.Since(start) > time.Second {
		t.Errorf("Update behind a stuck writer: %v after %v", err, time.Since(start))
	}
	if _, err := st.Expire(ctx, time.Now()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Expire with an expired context: %v", err)
	}
	release()
	if bs, _ := st.Get(context.Background(), "location", aorOf(1)); len(bs) != 0 {
		t.Errorf("a request abandoned before its batch was applied")
	}
	if _, err := st.Update(context.Background(), "location", aorOf(2), replace(binding(2))); err != nil {
		t.Fatal(err)
	}
}

// TestCloseWithQueued: Close answers queued requests instead of leaving
// their callers waiting.
func TestCloseWithQueued(t *testing.T) {
	st := openTest(t, filepath.Join(t.TempDir(), "location.db"))
	release := blockWriter(t, st)
	errs := make(chan error, 5)
	for i := range 5 {
		go func() {
			_, err := st.Update(context.Background(), "location", aorOf(i), replace(binding(i)))
			errs <- err
		}()
	}
	waitQueued(t, st, 5)
	closed := make(chan error, 1)
	go func() { closed <- st.Close() }()
	time.Sleep(20 * time.Millisecond)
	release()
	for range 5 {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("queued Update at Close: %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a queued Update was never answered")
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", false},
		{"sip:a", "sip:b", true},
		{"a\xff", "b", true},
		{"\xff\xff", "", false},
	} {
		got, ok := prefixEnd(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestListLongAoR: AoRs with more bindings than a List batch holds are
// listed whole, once, in order.
func TestListLongAoR(t *testing.T) {
	st := openTest(t, filepath.Join(t.TempDir(), "location.db"))
	defer st.Close()
	ctx := context.Background()
	sizes := map[string]int{"sip:a@x": 300, "sip:b@x": 1, "sip:c@x": 127, "sip:d@x": 2, "sip:e@x": 1500, "sip:f@x": 3}
	for aor, n := range sizes {
		bs := make([]usrloc.Binding, n)
		for i := range bs {
			bs[i] = binding(i)
			bs[i].AOR, bs[i].Contact = aor, fmt.Sprintf("sip:%d@198.51.100.7", i)
		}
		if _, err := st.Update(ctx, "location", aor, func([]usrloc.Binding) ([]usrloc.Binding, error) { return bs, nil }); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	err := st.List(ctx, "location", "sip:", "", func(aor string, bs []usrloc.Binding) bool {
		got = append(got, aor)
		if len(bs) != sizes[aor] {
			t.Errorf("%s listed with %d bindings, want %d", aor, len(bs), sizes[aor])
		}
		for i, b := range bs {
			if want := fmt.Sprintf("sip:%d@198.51.100.7", i); b.Contact != want {
				t.Errorf("%s binding %d is %s, want %s", aor, i, b.Contact, want)
				break
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"sip:a@x", "sip:b@x", "sip:c@x", "sip:d@x", "sip:e@x", "sip:f@x"}; !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
}

// TestBatchStartsNoGoroutine: a batch whose requests have no deadline runs
// without a goroutine of its own. A database/sql transaction, or a context
// that can end, would start one per batch (to roll back when the context
// ends) and the driver one per statement (to interrupt it).
func TestBatchStartsNoGoroutine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "location.db")
	st := openHookedTest(t, path+"?synchronous=normal", hooks{checkpointEvery: time.Hour})
	defer st.Close()
	ctx, cancel := context.WithCancel(context.Background()) // as a route's: no deadline
	defer cancel()
	update := func(i int) {
		if _, err := st.Update(ctx, "location", aorOf(i), replace(binding(i))); err != nil {
			t.Fatal(err)
		}
	}
	update(0) // the checkpointer's one round
	const updates = 200
	before := goroutinesCreated()
	for i := 1; i <= updates; i++ {
		update(i % 20) // new AoRs and refreshes: a SELECT and an INSERT each
	}
	if n := goroutinesCreated() - before; n > updates/10 {
		t.Errorf("%d sequential updates started %d goroutines, want none per batch", updates, n)
	}
}

func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
