package pgstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/locus-sip/locus/internal/testsrv"
	"github.com/locus-sip/locus/modules/usrloc"
	"github.com/locus-sip/locus/modules/usrloc/storetest"
)

// One cluster serves the package's tests (initdb takes seconds); each test
// gets a fresh schema in it. The outage tests start clusters of their own.
var (
	sharedOnce sync.Once
	shared     *testsrv.PostgresServer
	sharedErr  error
)

func server(t testing.TB) *testsrv.PostgresServer {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = testsrv.NewPostgres() })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

// The outage tests kill, pause and restart a second cluster of their own.
var (
	crashOnce sync.Once
	crash     *testsrv.PostgresServer
	crashErr  error
)

func crashServer(t testing.TB) *testsrv.PostgresServer {
	t.Helper()
	crashOnce.Do(func() { crash, crashErr = testsrv.NewPostgres() })
	if crashErr != nil {
		t.Fatal(crashErr)
	}
	if crash.External {
		t.Skip(testsrv.PostgresEnv + " is set: the external server cannot be killed, paused or restarted by the tests")
	}
	return crash
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, srv := range []*testsrv.PostgresServer{shared, crash} {
		if srv != nil {
			srv.Close()
		}
	}
	os.Exit(code)
}

var schemaSeq atomic.Int64

// admin runs SQL statements on the server's postgres database.
func admin(t testing.TB, dsn string, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("admin connection: %v", err)
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// withParam returns dsn with a query parameter set.
func withParam(t testing.TB, dsn, key, value string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// freshDSN creates an empty schema on srv, dropped when t ends, and
// returns a DSN that uses it.
func freshDSN(t testing.TB, srv *testsrv.PostgresServer) string {
	t.Helper()
	name := fmt.Sprintf("locus_test_%d_%d", os.Getpid(), schemaSeq.Add(1))
	admin(t, srv.URL, "CREATE SCHEMA "+name)
	t.Cleanup(func() { admin(t, srv.URL, "DROP SCHEMA "+name+" CASCADE") })
	return withParam(t, srv.URL, "search_path", name)
}

func openStore(t testing.TB, dsn string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestConformance(t *testing.T) {
	srv := server(t)
	storetest.Run(t, func(t *testing.T) usrloc.Store {
		st, err := usrloc.Open(context.Background(), freshDSN(t, srv))
		if err != nil {
			t.Fatalf("usrloc.Open: %v", err)
		}
		return st
	})
}

func TestOpenErrors(t *testing.T) {
	srv := server(t)
	const closedPort = "1" // nobody listens on loopback port 1
	for _, tc := range []struct {
		name, dsn string
		want      []string // substrings of the error
	}{
		{"bad port", "postgres://u:pw@127.0.0.1:notaport/db", []string{"pgstore"}},
		{"refused", "postgres://u:secretpw@127.0.0.1:" + closedPort + "/db?sslmode=disable", []string{"pgstore", "127.0.0.1:1/db"}},
		{"no database", srv.DatabaseURL("locus_no_such_db"), []string{"pgstore", "locus_no_such_db"}},
		{"bad option", srv.URL + "&pool_max_conns=x", []string{"pgstore"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			st, err := usrloc.Open(ctx, tc.dsn)
			if err == nil {
				st.Close()
				t.Fatalf("Open(%q) succeeded", tc.dsn)
			}
			if d := time.Since(start); d > 6*time.Second {
				t.Errorf("Open took %v to fail", d)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if strings.Contains(msg, "secretpw") || strings.Contains(msg, "\n") {
				t.Errorf("error %q shows the password or spans lines", msg)
			}
		})
	}
}

func TestSchemes(t *testing.T) {
	dsn := freshDSN(t, server(t))
	for _, scheme := range []string{"postgres", "postgresql"} {
		_, rest, _ := strings.Cut(dsn, ":")
		st, err := usrloc.Open(context.Background(), scheme+":"+rest)
		if err != nil {
			t.Fatalf("usrloc.Open(%s:...): %v", scheme, err)
		}
		if _, ok := st.(*Store); !ok {
			t.Errorf("%s: got %T", scheme, st)
		}
		st.Close()
	}
}

func binding(aor string, i int) usrloc.Binding {
	now := time.Now()
	return usrloc.Binding{
		AOR:       aor,
		Contact:   fmt.Sprintf("sip:u%d@198.51.100.7:5060", i),
		Expires:   now.Add(time.Hour),
		Q:         usrloc.QUnset,
		CallID:    fmt.Sprintf("call-%d", i),
		CSeq:      uint32(i + 1),
		Received:  "udp:198.51.100.7:5060",
		Socket:    "udp:127.0.0.1:5060",
		UserAgent: "Zoiper rv2.10",
		Modified:  now,
		RUID:      fmt.Sprintf("ruid-%d", i),
	}
}

func replaceWith(bs ...usrloc.Binding) func([]usrloc.Binding) ([]usrloc.Binding, error) {
	return func([]usrloc.Binding) ([]usrloc.Binding, error) { return slices.Clone(bs), nil }
}

func appendOne(b usrloc.Binding) func([]usrloc.Binding) ([]usrloc.Binding, error) {
	return func(cur []usrloc.Binding) ([]usrloc.Binding, error) { return append(cur, b), nil }
}

func TestReopenKeepsData(t *testing.T) {
	dsn := freshDSN(t, server(t))
	ctx := context.Background()
	st := openStore(t, dsn)
	want := []usrloc.Binding{binding("sip:a@x", 1), binding("sip:a@x", 2)}
	want[1].Path = []string{"<sip:p1;lr>", "<sip:p2;lr>"}
	want[1].AOR = "sip:A@X" // kept as given, not as the key
	if _, err := st.Update(ctx, "location", "sip:a@x", replaceWith(want...)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = openStore(t, dsn)
	got, err := st.Get(ctx, "location", "sip:a@x")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Contact != want[0].Contact || got[1].AOR != "sip:A@X" ||
		!slices.Equal(got[1].Path, want[1].Path) || !got[0].Expires.Equal(want[0].Expires.Truncate(time.Microsecond)) {
		t.Errorf("after reopen: %+v, want %+v", got, want)
	}
	var versions []int32
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, "SELECT version FROM locus_schema_version ORDER BY version")
	versions, err = pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) != schemaVersion() || versions[len(versions)-1] != int32(schemaVersion()) {
		t.Errorf("schema versions %v, want 1..%d", versions, schemaVersion())
	}
}

func TestMigrationConcurrentAndNewer(t *testing.T) {
	dsn := freshDSN(t, server(t))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 { // nodes starting together
		wg.Go(func() {
			st, err := Open(context.Background(), dsn)
			if err != nil {
				errs <- err
				return
			}
			st.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Open: %v", err)
	}
	admin(t, dsn, "INSERT INTO locus_schema_version (version, name) VALUES (999, 'future')")
	_, err := Open(context.Background(), dsn)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a database from a newer locus: %v, want an error saying so", err)
	}
}

func TestInvalidText(t *testing.T) {
	st := openStore(t, freshDSN(t, server(t)))
	for _, bad := range []string{"Zoiper \xff", "nul\x00byte"} {
		b := binding("sip:a@x", 1)
		b.UserAgent = bad
		_, err := st.Update(context.Background(), "location", "sip:a@x", replaceWith(b))
		if err == nil || errors.Is(err, usrloc.ErrStoreUnavailable) || !strings.Contains(err.Error(), "UserAgent") {
			t.Errorf("Update with UserAgent %q: %v, want an error naming the field", bad, err)
		}
	}
	if bs, err := st.Get(context.Background(), "location", "sip:a@x"); err != nil || len(bs) != 0 {
		t.Errorf("Get after refused updates: %d bindings, %v", len(bs), err)
	}
}

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", false},
		{"sip:a", "sip:b", true},
		{"sip:\u00e9", "sip:\u00ea", true},
		{"a\U0010FFFF", "b", true},
		{"\U0010FFFF", "", false},
		{"a\ud7ff", "a\ue000", true}, // skips the surrogates
		{"a\xff", "", false},
	} {
		got, ok := prefixEnd(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// recv waits for a change matching want, ignoring others.
func recv(t *testing.T, ch <-chan usrloc.Change, want usrloc.Change, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	timeout := time.After(within)
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatalf("change feed closed while waiting for %+v", want)
			}
			if c == want {
				return time.Since(start)
			}
		case <-timeout:
			t.Fatalf("no change %+v within %v", want, within)
		}
	}
}

// quiet fails t if ch delivers a change within d.
func quiet(t *testing.T, ch <-chan usrloc.Change, d time.Duration) {
	t.Helper()
	select {
	case c := <-ch:
		t.Errorf("unexpected change %+v", c)
	case <-time.After(d):
	}
}

func TestChangesBetweenStores(t *testing.T) {
	dsn := freshDSN(t, server(t))
	a, b := openStore(t, dsn), openStore(t, dsn)
	ctx := context.Background()
	if a.Changes() == nil || a.Changes() != a.Changes() {
		t.Fatal("Changes must be one non-nil channel")
	}

	for i := range 5 {
		aor := fmt.Sprintf("sip:user%d@example.com", i)
		start := time.Now()
		if _, err := a.Update(ctx, "location", aor, replaceWith(binding(aor, i))); err != nil {
			t.Fatal(err)
		}
		recv(t, b.Changes(), usrloc.Change{Table: "location", AOR: aor}, time.Second)
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("change of %s reached the other store after %v, want within 100 ms of the update", aor, d)
		}
	}
	quiet(t, a.Changes(), 150*time.Millisecond) // its own writes are not echoed

	if _, err := b.Update(ctx, "location2", "sip:bob@x", replaceWith(binding("sip:bob@x", 1))); err != nil {
		t.Fatal(err)
	}
	recv(t, a.Changes(), usrloc.Change{Table: "location2", AOR: "sip:bob@x"}, time.Second)

	// An unchanged update writes nothing and notifies nobody.
	if _, err := b.Update(ctx, "location2", "sip:bob@x", func(cur []usrloc.Binding) ([]usrloc.Binding, error) { return cur, nil }); err != nil {
		t.Fatal(err)
	}
	quiet(t, a.Changes(), 150*time.Millisecond)

	// Expire notifies the AoRs it changed.
	old := binding("sip:old@x", 1)
	old.Expires = time.Now().Add(-time.Minute)
	if _, err := a.Update(ctx, "location", "sip:old@x", replaceWith(old)); err != nil {
		t.Fatal(err)
	}
	recv(t, b.Changes(), usrloc.Change{Table: "location", AOR: "sip:old@x"}, time.Second)
	if x, err := a.Expire(ctx, time.Now()); err != nil || len(x) != 1 {
		t.Fatalf("Expire: %v, %v", x, err)
	}
	recv(t, b.Changes(), usrloc.Change{Table: "location", AOR: "sip:old@x"}, time.Second)

	// An AoR too long for a notification drops everything.
	long := "sip:" + strings.Repeat("x", 9000) + "@example.com"
	if _, err := a.Update(ctx, "location", long, replaceWith(binding(long, 1))); err != nil {
		t.Fatal(err)
	}
	recv(t, b.Changes(), usrloc.Change{}, time.Second)

	// A sweep of more AoRs than a listener queues drops everything.
	admin(t, dsn, fmt.Sprintf(`INSERT INTO locus_bindings SELECT 'location', 'sip:bulk' || i || '@x', 0, NULL,
		'sip:c', now() - interval '1 minute', -1, 'c', 1, '', '', '', NULL, '', 0, '', '', 0, now(), 'r'
		FROM generate_series(1, %d) AS i`, maxPending+1))
	if x, err := a.Expire(ctx, time.Now()); err != nil || len(x) != maxPending+1 {
		t.Fatalf("Expire: %d bindings, %v; want %d", len(x), err, maxPending+1)
	}
	recv(t, b.Changes(), usrloc.Change{}, time.Second)

	// Close closes the channel.
	b.Close()
	for range b.Changes() {
	}
}

func TestFeedCoalesces(t *testing.T) {
	f := newFeed()
	for i := range maxPending {
		f.push(usrloc.Change{Table: "location", AOR: fmt.Sprint(i)})
		f.push(usrloc.Change{Table: "location", AOR: fmt.Sprint(i)}) // duplicate
	}
	if len(f.pending) != maxPending || f.all {
		t.Fatalf("%d pending, all %v; want %d de-duplicated", len(f.pending), f.all, maxPending)
	}
	f.push(usrloc.Change{Table: "location", AOR: "one too many"})
	if c, ok := f.next(); !ok || c != (usrloc.Change{}) {
		t.Fatalf("after overflow: %+v, %v; want a drop-everything change", c, ok)
	}
	if _, ok := f.next(); ok {
		t.Fatal("drop-everything should cover what was pending")
	}
}

func TestConcurrentTwoStores(t *testing.T) {
	dsn := freshDSN(t, server(t))
	stores := []*Store{openStore(t, dsn), openStore(t, dsn)}
	const aor, perWorker = "sip:hot@example.com", 40
	var wg sync.WaitGroup
	errs := make(chan error, 8*perWorker)
	for w := range 8 {
		st := stores[w%2]
		wg.Go(func() {
			for i := range perWorker {
				b := binding(aor, w*1000+i)
				if _, err := st.Update(context.Background(), "location", aor, appendOne(b)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := stores[1].Get(context.Background(), "location", aor)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, b := range got {
		seen[b.Contact] = true
	}
	if len(got) != 8*perWorker || len(seen) != 8*perWorker {
		t.Errorf("%d bindings (%d distinct) after %d appends from two stores", len(got), len(seen), 8*perWorker)
	}
}

// TestOutage kills the server under load: calls fail fast with
// ErrStoreUnavailable, every acknowledged update survives, and after a
// restart the same stores work again and the change feed says it missed
// changes.
func TestOutage(t *testing.T) {
	srv := crashServer(t)
	dsn := freshDSN(t, srv)
	st, other := openStore(t, dsn), openStore(t, dsn)

	// Writers run while the server is killed.
	var acked sync.Map // aor → true when Update returned nil
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				aor := fmt.Sprintf("sip:w%d-%d@example.com", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, err := st.Update(ctx, "location", aor, replaceWith(binding(aor, i)))
				cancel()
				if err == nil {
					acked.Store(aor, true)
				} else {
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	srv.Kill(t)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()

	ops := map[string]func(ctx context.Context) error{
		"Get": func(ctx context.Context) error { _, err := st.Get(ctx, "location", "sip:x@x"); return err },
		"Update": func(ctx context.Context) error {
			_, err := st.Update(ctx, "location", "sip:x@x", replaceWith(binding("sip:x@x", 1)))
			return err
		},
		"Expire": func(ctx context.Context) error { _, err := st.Expire(ctx, time.Now()); return err },
		"List": func(ctx context.Context) error {
			return st.List(ctx, "location", "", "", func(string, []usrloc.Binding) bool { return true })
		},
	}
	for name, op := range ops {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		start := time.Now()
		err := op(ctx)
		cancel()
		if !errors.Is(err, usrloc.ErrStoreUnavailable) {
			t.Errorf("%s with the server down: %v, want ErrStoreUnavailable", name, err)
		}
		if d := time.Since(start); d > 2500*time.Millisecond {
			t.Errorf("%s with the server down took %v, past its 2 s deadline", name, d)
		}
	}

	srv.Restart(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The feed reconnects and tells its consumer it may have missed changes.
	recv(t, other.Changes(), usrloc.Change{}, 10*time.Second)

	n := 0
	var lost []string
	acked.Range(func(k, _ any) bool {
		n++
		bs, err := st.Get(ctx, "location", k.(string))
		if err != nil {
			t.Fatalf("Get after restart: %v", err)
		}
		if len(bs) != 1 {
			lost = append(lost, k.(string))
		}
		return true
	})
	if n == 0 {
		t.Fatal("no update was acknowledged before the kill")
	}
	if len(lost) > 0 {
		t.Errorf("%d of %d acknowledged updates lost in the crash: %v", len(lost), n, lost)
	}
	t.Logf("%d acknowledged updates before the kill, all kept", n)

	if _, err := st.Update(ctx, "location", "sip:after@x", replaceWith(binding("sip:after@x", 1))); err != nil {
		t.Fatalf("Update after the restart: %v", err)
	}
	recv(t, other.Changes(), usrloc.Change{Table: "location", AOR: "sip:after@x"}, time.Second)
}

// TestHungServer: a server that accepts but never answers must not hang
// callers past their deadline.
func TestHungServer(t *testing.T) {
	srv := crashServer(t)
	st := openStore(t, freshDSN(t, srv))
	if _, err := st.Update(context.Background(), "location", "sip:a@x", replaceWith(binding("sip:a@x", 1))); err != nil {
		t.Fatal(err)
	}
	srv.Pause(t)
	for _, op := range []string{"Update", "Get"} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		start := time.Now()
		var err error
		if op == "Update" {
			_, err = st.Update(ctx, "location", "sip:a@x", replaceWith(binding("sip:a@x", 2)))
		} else {
			_, err = st.Get(ctx, "location", "sip:a@x")
		}
		cancel()
		if !errors.Is(err, usrloc.ErrStoreUnavailable) {
			t.Errorf("%s on a hung server: %v, want ErrStoreUnavailable", op, err)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("%s on a hung server took %v, past its 1 s deadline", op, d)
		}
	}
	srv.Resume(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bs, err := st.Get(ctx, "location", "sip:a@x")
	if err != nil || len(bs) != 1 {
		t.Fatalf("Get after resume: %v, %v", bs, err)
	}
}

const benchAoRs = 10_000

var (
	benchSeq      atomic.Int64
	benchOnce     sync.Once
	benchSt       *Store
	benchBindings []usrloc.Binding
)

// benchStore returns a store holding benchAoRs AoRs of one binding each,
// filled once per test binary: parallel benchmarks run their function
// several times.
func benchStore(b *testing.B) (*Store, []usrloc.Binding) {
	b.Helper()
	srv := server(b)
	benchOnce.Do(func() {
		name := fmt.Sprintf("locus_bench_%d", os.Getpid())
		admin(b, srv.URL, "CREATE SCHEMA "+name)
		st, err := Open(context.Background(), withParam(b, srv.URL, "search_path", name))
		if err != nil {
			b.Fatal(err)
		}
		bs := make([]usrloc.Binding, benchAoRs)
		for i := range bs {
			bs[i] = binding(fmt.Sprintf("sip:user%06d@example.com", i), i)
		}
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < len(bs); i += 8 {
					if _, err := st.Update(context.Background(), "location", bs[i].AOR, replaceWith(bs[i])); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		benchSt, benchBindings = st, bs
	})
	if benchSt == nil {
		b.Fatal("bench store setup failed")
	}
	return benchSt, slices.Clone(benchBindings)
}

// BenchmarkUpdate is a re-REGISTER: replace an AoR's one binding.
func BenchmarkUpdate(b *testing.B) {
	st, bs := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		x := &bs[i%benchAoRs]
		x.CSeq = uint32(benchSeq.Add(1) + 1<<24) // a real change: never a no-op
		if _, err := st.Update(ctx, "location", x.AOR, replaceWith(*x)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkUpdateParallel(b *testing.B) {
	st, bs := benchStore(b)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16) // concurrent REGISTERs, as a busy registrar has
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919))
		for pb.Next() {
			x := bs[i%benchAoRs]
			x.CSeq = uint32(benchSeq.Add(1) + 1<<24)
			if _, err := st.Update(ctx, "location", x.AOR, replaceWith(x)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkGet(b *testing.B) {
	st, bs := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		got, err := st.Get(ctx, "location", bs[i%benchAoRs].AOR)
		if err != nil || len(got) != 1 {
			b.Fatal(err, len(got))
		}
		i++
	}
}

func BenchmarkGetParallel(b *testing.B) {
	st, bs := benchStore(b)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919))
		for pb.Next() {
			got, err := st.Get(ctx, "location", bs[i%benchAoRs].AOR)
			if err != nil || len(got) != 1 {
				b.Fatal(err, len(got))
			}
			i++
		}
	})
}
