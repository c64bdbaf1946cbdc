package redisstore

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/locus-sip/locus/internal/testsrv"
	"github.com/locus-sip/locus/modules/usrloc"
	"github.com/locus-sip/locus/modules/usrloc/storetest"
)

// newPrefix returns a key prefix no other test uses, so that tests can
// share an external server (testsrv.RedisEnv); its keys are removed when t
// ends.
func newPrefix(t testing.TB, srv *testsrv.RedisServer) string {
	t.Helper()
	prefix := fmt.Sprintf("locustest:%016x:", rand.Uint64())
	t.Cleanup(func() {
		opt, err := redis.ParseURL(srv.URL)
		if err != nil {
			return
		}
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return prefix
}

// dsn is the server's DSN with the given options added.
func dsn(t testing.TB, srv *testsrv.RedisServer, opts ...string) string {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for i := 0; i+1 < len(opts); i += 2 {
		q.Set(opts[i], opts[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// openStore opens a store on srv with the given prefix, closed when t ends.
func openStore(t testing.TB, srv *testsrv.RedisServer, prefix string, opts ...string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := Open(ctx, dsn(t, srv, append([]string{"prefix", prefix}, opts...)...))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// client is a plain go-redis client on srv, for looking at the keys.
func client(t testing.TB, srv *testsrv.RedisServer) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func TestConformance(t *testing.T) {
	srv := testsrv.StartRedis(t)
	storetest.Run(t, func(t *testing.T) usrloc.Store {
		return openStore(t, srv, newPrefix(t, srv))
	})
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		dsn         string
		want        string // in the error
		unavailable bool
	}{
		{"redis://", "no host", false},
		{"redis://127.0.0.1:6379/0?max_retries=3", "max_retries", false},
		{"redis://127.0.0.1:6379/0?ttl_margin=soon", "ttl_margin", false},
		{"redis://127.0.0.1:6379/0?prefix=%7Bx%7D", "braces", false},
		{"redis://u:s3cret@127.0.0.1:6379/0?bogus=1", "bogus", false},
		{"redis://127.0.0.1:6379/db", "invalid database", false},
		{"redis://u:s3cret@127.0.0.1:1/0", "127.0.0.1:1", true},
		{"rediss://127.0.0.1:1/0", "127.0.0.1:1", true},
	} {
		start := time.Now()
		st, err := usrloc.Open(context.Background(), tc.dsn)
		if err == nil {
			_ = st.Close()
			t.Errorf("Open(%q) succeeded, want an error", tc.dsn)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v, want an error mentioning %q", tc.dsn, err, tc.want)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) = %v: shows the password", tc.dsn, err)
		}
		if errors.Is(err, usrloc.ErrStoreUnavailable) != tc.unavailable {
			t.Errorf("Open(%q) = %v: errors.Is(ErrStoreUnavailable) = %v, want %v", tc.dsn, err, !tc.unavailable, tc.unavailable)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Open(%q) took %v", tc.dsn, d)
		}
	}
}

func TestLexRange(t *testing.T) {
	for _, tc := range []struct {
		prefix, after, start, stop string
	}{
		{"", "", "-", "+"},
		{"", "sip:b", "(sip:b", "+"},
		{"sip:a", "", "[sip:a", "(sip:b"},
		{"sip:a", "sip:aa", "(sip:aa", "(sip:b"},
		{"sip:b", "sip:a", "[sip:b", "(sip:c"},
		{"a\xff\xff", "", "[a\xff\xff", "(b"},
		{"\xff", "", "[\xff", "+"},
	} {
		start, stop := lexRange(tc.prefix, tc.after)
		if start != tc.start || stop != tc.stop {
			t.Errorf("lexRange(%q, %q) = %q, %q; want %q, %q", tc.prefix, tc.after, start, stop, tc.start, tc.stop)
		}
	}
}

// binding is a realistic UDP binding of AoR i.
func binding(i int, expires time.Time) usrloc.Binding {
	return usrloc.Binding{
		AOR:       aorOf(i),
		Contact:   fmt.Sprintf("sip:user%06d@198.51.100.7:5060;transport=udp", i),
		Expires:   expires,
		Q:         usrloc.QUnset,
		CallID:    fmt.Sprintf("a84b4c76e66710-%08d", i),
		CSeq:      uint32(i%1000 + 1),
		Received:  "udp:198.51.100.7:5060",
		Socket:    "udp:127.0.0.1:5060",
		UserAgent: "Zoiper rv2.10",
		Modified:  time.Now(),
		RUID:      fmt.Sprintf("uloc-6780a1b2-%06d", i),
	}
}

func aorOf(i int) string { return fmt.Sprintf("sip:user%06d@example.com", i) }

func replace(bs ...usrloc.Binding) func([]usrloc.Binding) ([]usrloc.Binding, error) {
	return func([]usrloc.Binding) ([]usrloc.Binding, error) { return slices.Clone(bs), nil }
}

func appendOne(b usrloc.Binding) func([]usrloc.Binding) ([]usrloc.Binding, error) {
	return func(cur []usrloc.Binding) ([]usrloc.Binding, error) { return append(cur, b), nil }
}

// eventually retries f until it succeeds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTLS opens rediss:// stores: one that verifies the server's
// certificate, one that does not (skip_verify), and one that refuses the
// self-signed certificate.
func TestTLS(t *testing.T) {
	srv := testsrv.StartRedisTLS(t)
	ctx := context.Background()
	prefix := newPrefix(t, srv)
	u, err := url.Parse(srv.TLSURL)
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery = url.Values{"prefix": {prefix}}.Encode()

	if _, err := usrloc.Open(ctx, u.String()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("rediss:// with a self-signed certificate: %v, want a certificate error", err)
	}

	cfg, err := ParseDSN(u.String())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Redis.TLSConfig.RootCAs = x509.NewCertPool()
	cfg.Redis.TLSConfig.RootCAs.AppendCertsFromPEM(srv.TLSCert)
	verified, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("rediss:// with the server's CA: %v", err)
	}
	defer verified.Close()

	u.RawQuery = url.Values{"prefix": {prefix}, "skip_verify": {"true"}}.Encode()
	unverified, err := usrloc.Open(ctx, u.String())
	if err != nil {
		t.Fatalf("rediss:// with skip_verify: %v", err)
	}
	defer unverified.Close()

	b := binding(1, time.Now().Add(time.Hour))
	if _, err := verified.Update(ctx, "location", b.AOR, replace(b)); err != nil {
		t.Fatal(err)
	}
	if bs, err := unverified.Get(ctx, "location", b.AOR); err != nil || len(bs) != 1 {
		t.Errorf("Get through the other TLS store: %v, %v", bs, err)
	}
	select {
	case c := <-unverified.Changes():
		if c.AOR != b.AOR {
			t.Errorf("change %+v, want %s", c, b.AOR)
		}
	case <-time.After(time.Second):
		t.Error("no change over TLS")
	}
}

// TestKillKeepsAcknowledged kills the server (SIGKILL) right after a burst
// of acknowledged writes: with appendfsync always every one is back after
// the restart, for the Store that wrote them (which reconnects by itself)
// and for a new one.
func TestKillKeepsAcknowledged(t *testing.T) {
	srv := testsrv.StartRedis(t, testsrv.RedisDurable...)
	prefix := newPrefix(t, srv)
	st := openStore(t, srv, prefix)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)

	var acked sync.Map
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			for i := g; ; i += 4 {
				select {
				case <-stop:
					return
				default:
				}
				b := binding(i, exp)
				if _, err := st.Update(ctx, "location", b.AOR, replace(b)); err != nil {
					return // the kill
				}
				acked.Store(b.AOR, b.Contact)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	srv.Kill(t)
	close(stop)
	wg.Wait()
	srv.Restart(t)

	var n int
	eventually(t, 10*time.Second, "Get after restart", func() error {
		_, err := st.Get(ctx, "location", aorOf(0))
		return err
	})
	acked.Range(func(k, v any) bool {
		n++
		bs, err := st.Get(ctx, "location", k.(string))
		if err != nil || len(bs) != 1 || bs[0].Contact != v.(string) {
			t.Errorf("acknowledged %s: got %v, %v after the restart", k, bs, err)
		}
		return true
	})
	if n < 10 {
		t.Fatalf("only %d writes acknowledged before the kill", n)
	}
	t.Logf("%d acknowledged writes survived SIGKILL", n)

	st2 := openStore(t, srv, prefix)
	var listed int
	if err := st2.List(ctx, "location", "", "", func(string, []usrloc.Binding) bool { listed++; return true }); err != nil {
		t.Fatal(err)
	}
	if listed < n {
		t.Errorf("a new Store lists %d AoRs, want at least the %d acknowledged", listed, n)
	}
}

// TestOutage: a dead server fails calls with ErrStoreUnavailable, a hung
// one within the ctx deadline; after the restart the same Store works again
// and its change feed says that changes may have been missed.
func TestOutage(t *testing.T) {
	srv := testsrv.StartRedis(t, testsrv.RedisDurable...)
	st := openStore(t, srv, newPrefix(t, srv))
	exp := time.Now().Add(time.Hour)
	b := binding(1, exp)
	if _, err := st.Update(context.Background(), "location", b.AOR, replace(b)); err != nil {
		t.Fatal(err)
	}

	if srv.External {
		t.Skipf("%s is set: the external Redis server cannot be stopped, killed or restarted by the tests", testsrv.RedisEnv)
	}
	// Hung: the process is stopped, connections stay open.
	pid := srv.PID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"update", "get"} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		var err error
		if op == "update" {
			_, err = st.Update(ctx, "location", b.AOR, replace(b))
		} else {
			_, err = st.Get(ctx, "location", b.AOR)
		}
		cancel()
		d := time.Since(start)
		if !errors.Is(err, usrloc.ErrStoreUnavailable) {
			t.Errorf("%s on a hung server: %v, want ErrStoreUnavailable", op, err)
		}
		if d > time.Second {
			t.Errorf("%s on a hung server took %v with a 300 ms deadline", op, d)
		}
	}
	_ = syscall.Kill(pid, syscall.SIGCONT)

	// Dead.
	srv.Kill(t)
	for _, op := range []string{"update", "get", "list", "expire"} {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		start := time.Now()
		var err error
		switch op {
		case "update":
			_, err = st.Update(ctx, "location", b.AOR, replace(b))
		case "get":
			_, err = st.Get(ctx, "location", b.AOR)
		case "list":
			err = st.List(ctx, "location", "", "", func(string, []usrloc.Binding) bool { return true })
		case "expire":
			_, err = st.Expire(ctx, time.Now())
		}
		cancel()
		d := time.Since(start)
		if !errors.Is(err, usrloc.ErrStoreUnavailable) {
			t.Errorf("%s on a dead server: %v, want ErrStoreUnavailable", op, err)
		}
		if d > time.Second {
			t.Errorf("%s on a dead server took %v with a 500 ms deadline", op, d)
		}
	}

	// Drain what the feed said so far, restart, and wait for the reconnect.
	for len(st.Changes()) > 0 {
		<-st.Changes()
	}
	srv.Restart(t)
	b.CSeq++
	eventually(t, 10*time.Second, "Update after restart", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := st.Update(ctx, "location", b.AOR, replace(b))
		return err
	})
	bs, err := st.Get(context.Background(), "location", b.AOR)
	if err != nil || len(bs) != 1 || bs[0].CSeq != b.CSeq {
		t.Fatalf("Get after restart = %+v, %v; want CSeq %d", bs, err, b.CSeq)
	}
	select {
	case c := <-st.Changes():
		if c.AOR != "" {
			t.Errorf("first change after the reconnect = %+v, want the empty AOR (everything)", c)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("no change after the subscription was restored")
	}
}

// TestChangesBetweenStores: a write through one Store reaches another
// Store's feed within 100 ms; a Store does not hear its own writes, nor a
// Store with another prefix.
func TestChangesBetweenStores(t *testing.T) {
	srv := testsrv.StartRedis(t)
	prefix := newPrefix(t, srv)
	a, b := openStore(t, srv, prefix), openStore(t, srv, prefix)
	other := openStore(t, srv, newPrefix(t, srv))
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)

	for i, step := range []struct {
		table string
		bs    []usrloc.Binding
	}{
		{"location", []usrloc.Binding{binding(1, exp)}},
		{"location", []usrloc.Binding{binding(1, exp), binding(2, exp)}},
		{"location", nil}, // delete
		{"other", []usrloc.Binding{binding(1, exp)}},
	} {
		start := time.Now()
		if _, err := a.Update(ctx, step.table, aorOf(1), replace(step.bs...)); err != nil {
			t.Fatal(err)
		}
		select {
		case c := <-b.Changes():
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("step %d: change delivered after %v, want within 100 ms", i, d)
			}
			if c != (usrloc.Change{Table: step.table, AOR: aorOf(1)}) {
				t.Errorf("step %d: change %+v, want %s %s", i, c, step.table, aorOf(1))
			}
		case <-time.After(100 * time.Millisecond):
			t.Fatalf("step %d: no change within 100 ms", i)
		}
	}
	// An update that fails in fn changes nothing and says nothing.
	if _, err := a.Update(ctx, "location", aorOf(1), func([]usrloc.Binding) ([]usrloc.Binding, error) {
		return nil, errors.New("no")
	}); err == nil {
		t.Fatal("Update with failing fn succeeded")
	}
	// b's own write reaches a.
	if _, err := b.Update(ctx, "location", aorOf(3), replace(binding(3, exp))); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-a.Changes():
		if c.AOR != aorOf(3) {
			t.Errorf("a heard %+v, want b's write of %s (and not its own)", c, aorOf(3))
		}
	case <-time.After(time.Second):
		t.Fatal("a heard nothing of b's write")
	}
	time.Sleep(50 * time.Millisecond)
	for name, st := range map[string]*Store{"a": a, "b": b, "other prefix": other} {
		if n := len(st.Changes()); n != 0 {
			t.Errorf("%s has %d more changes, want none: %+v", name, n, <-st.Changes())
		}
	}
}

// TestTwoNodesCache runs two location services with read caches on one
// server: a write through node A is seen by a lookup through node B, whose
// cache the change feed invalidates, within 100 ms.
func TestTwoNodesCache(t *testing.T) {
	srv := testsrv.StartRedis(t)
	prefix := newPrefix(t, srv)
	log := slog.New(slog.DiscardHandler)
	nodeA, err := usrloc.NewWithStore(openStore(t, srv, prefix), 1000, log)
	if err != nil {
		t.Fatal(err)
	}
	nodeB, err := usrloc.NewWithStore(openStore(t, srv, prefix), 1000, log)
	if err != nil {
		t.Fatal(err)
	}
	if !nodeB.Cached() {
		t.Fatal("node B has no cache")
	}
	if err := nodeB.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nodeB.Cleanup() })
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	for i := range 3 {
		b := binding(7, exp)
		b.CSeq = uint32(100 + i)
		// Fill B's cache with the current state, then write through A.
		for range 2 {
			if _, err := nodeB.Lookup(ctx, "location", b.AOR); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		if _, err := nodeA.Update(ctx, "location", b.AOR, replace(b)); err != nil {
			t.Fatal(err)
		}
		for {
			bs, err := nodeB.Lookup(ctx, "location", b.AOR)
			if err != nil {
				t.Fatal(err)
			}
			if len(bs) == 1 && bs[0].CSeq == b.CSeq {
				break
			}
			if time.Since(start) > 100*time.Millisecond {
				t.Fatalf("write %d through node A not seen through node B after 100 ms: %v", i, bs)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestConcurrentTwoStores: concurrent appends to one AoR through two
// Stores (two nodes) lose nothing.
func TestConcurrentTwoStores(t *testing.T) {
	srv := testsrv.StartRedis(t)
	prefix := newPrefix(t, srv)
	stores := []*Store{openStore(t, srv, prefix), openStore(t, srv, prefix)}
	const perWorker, workers = 50, 4
	exp := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	var calls atomic.Int64
	for w := range workers {
		st := stores[w%2]
		wg.Go(func() {
			for i := range perWorker {
				b := binding(w*1000+i, exp)
				b.AOR = "sip:hot@example.com"
				_, err := st.Update(context.Background(), "location", b.AOR, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
					calls.Add(1)
					return append(cur, b), nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	bs, err := stores[1].Get(context.Background(), "location", "sip:hot@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != workers*perWorker {
		t.Fatalf("%d bindings after %d concurrent appends", len(bs), workers*perWorker)
	}
	seen := map[string]bool{}
	for _, b := range bs {
		if seen[b.Contact] {
			t.Errorf("%s stored twice", b.Contact)
		}
		seen[b.Contact] = true
	}
	t.Logf("%d appends took %d runs of fn (conflicts retried)", workers*perWorker, calls.Load())
}

// TestKeyTTL: an AoR's key expires a margin after its last binding; the
// indexes forget an AoR whose key vanished when List and Expire meet it.
func TestKeyTTL(t *testing.T) {
	srv := testsrv.StartRedis(t)
	prefix := newPrefix(t, srv)
	st := openStore(t, srv, prefix, "ttl_margin", "1s")
	rdb := client(t, srv)
	ctx := context.Background()

	long := binding(1, time.Now().Add(time.Hour))
	if _, err := st.Update(ctx, "location", long.AOR, replace(long, binding(1, time.Now().Add(time.Minute)))); err != nil {
		t.Fatal(err)
	}
	ttl, err := rdb.PTTL(ctx, st.aorKey("location", long.AOR)).Result()
	if err != nil || ttl < time.Hour-5*time.Second || ttl > time.Hour+time.Second {
		t.Errorf("TTL of an AoR whose last binding expires in 1 h: %v, %v; want 1 h + 1 s", ttl, err)
	}

	// Two AoRs already expired: their keys live 1 s more.
	for i := 2; i <= 3; i++ {
		b := binding(i, time.Now().Add(-time.Second))
		if _, err := st.Update(ctx, "location", b.AOR, replace(b)); err != nil {
			t.Fatal(err)
		}
	}
	if bs, err := st.Get(ctx, "location", aorOf(2)); err != nil || len(bs) != 1 {
		t.Fatalf("Get of an expired binding before its key's TTL: %v, %v; want it (callers filter)", bs, err)
	}
	time.Sleep(1200 * time.Millisecond)
	if n, _ := rdb.Exists(ctx, st.aorKey("location", aorOf(2)), st.aorKey("location", aorOf(3))).Result(); n != 0 {
		t.Fatalf("%d keys of expired AoRs still there after their TTL", n)
	}
	if n, _ := rdb.ZCard(ctx, st.indexKey("location")).Result(); n != 3 {
		t.Fatalf("index holds %d AoRs before List, want 3 (two stale)", n)
	}
	var listed []string
	if err := st.List(ctx, "location", "", "", func(aor string, _ []usrloc.Binding) bool {
		listed = append(listed, aor)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(listed, []string{aorOf(1)}) {
		t.Errorf("List = %q, want only %s", listed, aorOf(1))
	}
	if got, _ := rdb.ZRange(ctx, st.indexKey("location"), 0, -1).Result(); !slices.Equal(got, []string{aorOf(1)}) {
		t.Errorf("index after List = %q, want only %s", got, aorOf(1))
	}

	// Expire meets a vanished key in the expiry index and drops it.
	b := binding(4, time.Now().Add(-time.Second))
	if _, err := st.Update(ctx, "location", b.AOR, replace(b)); err != nil {
		t.Fatal(err)
	}
	rdb.Del(ctx, st.aorKey("location", b.AOR))
	gone, err := st.Expire(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 0 {
		t.Errorf("Expire returned %d bindings of vanished keys, want 0", len(gone))
	}
	if got, _ := rdb.ZRange(ctx, st.expiryKey("location"), 0, -1).Result(); !slices.Equal(got, []string{aorOf(1)}) {
		t.Errorf("expiry index after Expire = %q, want only %s", got, aorOf(1))
	}
}

// TestExpireManyAoRs sweeps more AoRs than one batch holds, some raced by
// writers, through two Stores sweeping at once: every expired binding is
// returned exactly once.
func TestExpireManyAoRs(t *testing.T) {
	srv := testsrv.StartRedis(t)
	prefix := newPrefix(t, srv)
	a, b := openStore(t, srv, prefix), openStore(t, srv, prefix)
	ctx := context.Background()
	now := time.Now()
	const n = 3*expireBatch + 17
	for i := range n {
		bs := []usrloc.Binding{binding(i, now.Add(-time.Minute))}
		if i%3 == 0 {
			bs = append(bs, binding(i+100000, now.Add(time.Hour)))
		}
		if _, err := a.Update(ctx, "location", aorOf(i), replace(bs...)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	results := make([][]usrloc.Expired, 2)
	errs := make([]error, 2)
	for i, st := range []*Store{a, b} {
		wg.Go(func() { results[i], errs[i] = st.Expire(ctx, now) })
	}
	wg.Go(func() { // a writer racing the sweepers
		for i := 0; i < n; i += 7 {
			_, _ = a.Update(ctx, "location", aorOf(i), func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
				for j := range cur {
					cur[j].CSeq++
				}
				return cur, nil
			})
		}
	})
	wg.Wait()
	seen := map[string]int{}
	for i := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		for _, x := range results[i] {
			if x.Table != "location" || !x.Expired(now) {
				t.Errorf("Expire returned %+v", x)
			}
			seen[x.Contact]++
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct bindings expired, want %d", len(seen), n)
	}
	for c, k := range seen {
		if k != 1 {
			t.Errorf("%s returned %d times", c, k)
		}
	}
	var left int
	if err := a.List(ctx, "location", "", "", func(_ string, bs []usrloc.Binding) bool {
		left += len(bs)
		for _, x := range bs {
			if x.Expired(now) {
				t.Errorf("%s left after Expire", x.Contact)
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if want := (n + 2) / 3; left != want {
		t.Errorf("%d bindings left, want %d", left, want)
	}
}

// TestConflicts makes another node write between the read and the write
// of an Update and of an Expire batch: the loser reads again and loses
// nothing.
func TestConflicts(t *testing.T) {
	srv := testsrv.StartRedis(t)
	prefix := newPrefix(t, srv)
	a, b := openStore(t, srv, prefix), openStore(t, srv, prefix)
	ctx := context.Background()
	now := time.Now()
	live := binding(1, now.Add(time.Hour))

	var runs int
	got, err := a.Update(ctx, "location", live.AOR, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
		runs++
		if runs == 1 {
			if _, err := b.Update(ctx, "location", live.AOR, replace(live)); err != nil {
				t.Fatal(err)
			}
		}
		c := binding(2, now.Add(time.Hour))
		c.AOR = live.AOR
		return append(cur, c), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 || len(got) != 2 || got[0].Contact != live.Contact {
		t.Fatalf("Update raced by another node: %d runs of fn, result %v; want 2 runs and both bindings", runs, got)
	}

	// Expire: AoR 3 is refreshed, AoR 4 gets a second expired binding,
	// AoR 5 is untouched, between the sweeper's read and its write.
	for i := 3; i <= 5; i++ {
		if _, err := a.Update(ctx, "location", aorOf(i), replace(binding(i, now.Add(-time.Minute)))); err != nil {
			t.Fatal(err)
		}
	}
	a.beforeExpireApply = func() {
		a.beforeExpireApply = nil
		if _, err := b.Update(ctx, "location", aorOf(3), replace(binding(3, now.Add(time.Hour)))); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Update(ctx, "location", aorOf(4), appendOne(binding(40, now.Add(-time.Second)))); err != nil {
			t.Fatal(err)
		}
	}
	gone, err := a.Expire(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	var contacts []string
	for _, x := range gone {
		contacts = append(contacts, x.Contact)
	}
	slices.Sort(contacts)
	want := []string{binding(4, now).Contact, binding(5, now).Contact, binding(40, now).Contact}
	if !slices.Equal(contacts, want) {
		t.Errorf("Expire raced by a writer returned %q, want %q", contacts, want)
	}
	if bs, _ := a.Get(ctx, "location", aorOf(3)); len(bs) != 1 || bs[0].Expired(now) {
		t.Errorf("refreshed AoR after Expire: %v, want its live binding", bs)
	}
	for i := 4; i <= 5; i++ {
		if bs, _ := a.Get(ctx, "location", aorOf(i)); len(bs) != 0 {
			t.Errorf("AoR %d after Expire: %v, want nothing", i, bs)
		}
	}
}

func TestCorruptRecord(t *testing.T) {
	srv := testsrv.StartRedis(t)
	st := openStore(t, srv, newPrefix(t, srv))
	rdb := client(t, srv)
	ctx := context.Background()
	rdb.Set(ctx, st.aorKey("location", "sip:x@example.com"), "\x01\x05garbage", 0)
	_, err := st.Get(ctx, "location", "sip:x@example.com")
	if !errors.Is(err, errCorrupt) || errors.Is(err, usrloc.ErrStoreUnavailable) {
		t.Errorf("Get of a corrupt record: %v, want errCorrupt", err)
	}
	_, err = st.Update(ctx, "location", "sip:x@example.com", replace())
	if !errors.Is(err, errCorrupt) {
		t.Errorf("Update of a corrupt record: %v, want errCorrupt", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "location", "sip:x@example.com"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if _, ok := <-st.Changes(); ok {
		t.Errorf("Changes not closed by Close")
	}
}

func TestBadNames(t *testing.T) {
	srv := testsrv.StartRedis(t)
	st := openStore(t, srv, newPrefix(t, srv))
	ctx := context.Background()
	for _, table := range []string{"", "a{b", "a}"} {
		if _, err := st.Update(ctx, table, "sip:a@b", replace(binding(1, time.Now()))); err == nil {
			t.Errorf("Update in table %q succeeded", table)
		}
		if _, err := st.Get(ctx, table, "sip:a@b"); err == nil {
			t.Errorf("Get in table %q succeeded", table)
		}
	}
	if _, err := st.Update(ctx, "location", "", replace(binding(1, time.Now()))); err == nil {
		t.Errorf("Update of an empty AoR succeeded")
	}
	// An expiry at the end of time is stored, though no key expiry can be
	// that late.
	far := binding(2, time.Unix(math.MaxInt64/1000-1, 0))
	if _, err := st.Update(ctx, "location", far.AOR, replace(far)); err != nil {
		t.Fatalf("Update of a binding expiring at the end of time: %v", err)
	}
	if bs, err := st.Get(ctx, "location", far.AOR); err != nil || len(bs) != 1 || !bs[0].Expires.Equal(far.Expires) {
		t.Errorf("Get of a binding expiring at the end of time: %v, %v", bs, err)
	}
}

// TestFeedCoalesces: a consumer that falls behind gets the changes that
// fit, then one "everything" Change; the feed never blocks.
func TestFeedCoalesces(t *testing.T) {
	s := &Store{node: "me", changes: make(chan usrloc.Change, 2), feedDone: make(chan struct{})}
	in := make(chan any)
	go s.feed(in)
	msg := func(node, aor string) *redis.Message {
		return &redis.Message{Payload: fmt.Sprintf(`{"n":%q,"t":"location","a":%q}`, node, aor)}
	}
	in <- msg("me", "sip:own@x") // skipped
	in <- msg("other", "sip:1@x")
	in <- msg("other", "sip:2@x")
	in <- msg("other", "sip:3@x") // no room: owed as a flush
	in <- msg("other", "sip:4@x") // covered by the flush
	want := []usrloc.Change{{Table: "location", AOR: "sip:1@x"}, {Table: "location", AOR: "sip:2@x"}, {}}
	for i, w := range want {
		select {
		case c := <-s.changes:
			if c != w {
				t.Errorf("change %d = %+v, want %+v", i, c, w)
			}
		case <-time.After(time.Second):
			t.Fatalf("change %d missing", i)
		}
	}
	for _, m := range []any{
		&redis.Subscription{Kind: "subscribe", Channel: "locus:changes"}, // a reconnect
		&redis.Message{Payload: "not json"},
	} {
		in <- m
		if c := <-s.changes; c != (usrloc.Change{}) {
			t.Errorf("after %v: %+v, want everything", m, c)
		}
	}
	close(in)
	<-s.feedDone
	if _, ok := <-s.changes; ok {
		t.Errorf("changes not closed")
	}
}

const benchAoRs = 10_000

func benchStore(b *testing.B, args ...string) (*Store, []usrloc.Binding) {
	st, bs, _ := benchServer(b, args...)
	return st, bs
}

// benchServer also returns the server, for cpuMeter.
func benchServer(b *testing.B, args ...string) (*Store, []usrloc.Binding, *testsrv.RedisServer) {
	srv := testsrv.StartRedis(b, args...)
	st := openStore(b, srv, newPrefix(b, srv))
	bs := make([]usrloc.Binding, benchAoRs)
	exp := time.Now().Add(time.Hour)
	for i := range bs {
		bs[i] = binding(i, exp)
		if _, err := st.Update(context.Background(), "location", bs[i].AOR, replace(bs[i])); err != nil {
			b.Fatal(err)
		}
	}
	return st, bs, srv
}

// cpuMeter reports the CPU time this process and the server spent per
// operation between start and stop: what one Update costs the machine.
type cpuMeter struct {
	pid              int
	client, server   time.Duration
	clientT, serverT time.Duration
}

func processCPU(pid int) time.Duration {
	if pid == 0 {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	var utime, stime int64
	fmt.Sscan(f[11], &utime) // fields 14 and 15 of stat, in clock ticks (100 Hz)
	fmt.Sscan(f[12], &stime)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func (m *cpuMeter) start(srv *testsrv.RedisServer) {
	m.pid = srv.PID()
	m.clientT, m.serverT = processCPU(0), processCPU(m.pid)
}

func (m *cpuMeter) stop(b *testing.B) {
	client, server := processCPU(0)-m.clientT, processCPU(m.pid)-m.serverT
	b.ReportMetric(float64(client.Microseconds())/float64(b.N), "client-cpu-µs/op")
	if m.pid != 0 {
		b.ReportMetric(float64(server.Microseconds())/float64(b.N), "server-cpu-µs/op")
	}
}

// benchConfigs: the durable configuration locus's write-through needs, and
// Redis's default (no append-only file) for comparison.
var benchConfigs = []struct {
	name string
	args []string
}{
	{"fsync=always", testsrv.RedisDurable},
	{"aof=off", nil},
}

// BenchmarkUpdate is a re-REGISTER: replace an AoR's one binding.
func BenchmarkUpdate(b *testing.B) {
	for _, cfg := range benchConfigs {
		b.Run(cfg.name, func(b *testing.B) {
			st, bs, srv := benchServer(b, cfg.args...)
			ctx := context.Background()
			b.ReportAllocs()
			var cpu cpuMeter
			cpu.start(srv)
			i := 0
			for b.Loop() {
				x := &bs[i%benchAoRs]
				x.CSeq++
				if _, err := st.Update(ctx, "location", x.AOR, replace(*x)); err != nil {
					b.Fatal(err)
				}
				i++
			}
			cpu.stop(b)
		})
	}
}

func BenchmarkUpdateParallel(b *testing.B) {
	for _, cfg := range benchConfigs {
		b.Run(cfg.name, func(b *testing.B) {
			st, bs, srv := benchServer(b, cfg.args...)
			ctx := context.Background()
			var next atomic.Int64
			b.SetParallelism(8) // a registrar has many REGISTERs in flight
			b.ReportAllocs()
			var cpu cpuMeter
			cpu.start(srv)
			defer cpu.stop(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(7919))
				for pb.Next() {
					x := bs[i%benchAoRs]
					if _, err := st.Update(ctx, "location", x.AOR, replace(x)); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
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
	b.SetParallelism(8)
	b.ReportAllocs()
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
