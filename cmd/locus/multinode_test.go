package main

// Black-box tests of the shared location stores (issue 5): several
// "locus run" processes on one Redis or PostgreSQL server see each other's
// registrations through the change feed; a locus killed under REGISTER load
// loses no acknowledged binding; a store outage is answered with 500 and
// Retry-After, lookups keep working from the cache, and locus reconnects by
// itself when the store returns.

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/locus-sip/locus/internal/testsrv"
)

// mnVisibleWithin is the bound on a change's propagation to another node.
const mnVisibleWithin = 100 * time.Millisecond

// mnLocus starts locus on a UDP 127.0.0.1 ephemeral port with the store
// dsn, the no-auth registrar script, the domain 127.0.0.1 and the usrloc
// read cache on. extra are more command-line flags.
func mnLocus(t *testing.T, dsn string, extra ...string) *locusProc {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "locus.yaml")
	writeFile(t, cfg, fmt.Sprintf(`listen: [udp:127.0.0.1:0]
script:
  file: %q
  timeout: 1s
modules:
  registrar:
    domains: [%q]
  usrloc:
    cache: on
`, newScript(t, e2eNoAuthScript), e2eDomain))
	p := startLocus(t, append([]string{"--config", cfg, "--store", dsn}, extra...)...)
	if _, ok := p.Addrs["udp"]; !ok {
		t.Fatalf("no udp listener logged; addrs %v", p.Addrs)
	}
	return p
}

// mnKill crashes p with SIGKILL (by its PID) and waits until it is gone.
func mnKill(t *testing.T, p *locusProc) {
	t.Helper()
	p.Kill(t)
}

// mnContact is the contact URI of user number i of a test.
func mnContact(user string, port int) string {
	return fmt.Sprintf("sip:%s@127.0.0.1:%d", user, port)
}

// mnIsRedirect reports whether res is a 302 to exactly contact.
func mnIsRedirect(res *sip.Response, contact string) bool {
	if res.StatusCode != 302 {
		return false
	}
	return slices.Equal(mnURIs(res), []string{contact})
}

// mnPoll looks user up through c every 5 ms until done accepts the reply,
// and returns the time since start; it fails the test after 3 s.
func mnPoll(t *testing.T, c sipConn, user string, start time.Time, done func(*sip.Response) bool) time.Duration {
	t.Helper()
	for {
		res := e2eSend(t, c, e2eReq{Method: "OPTIONS", User: user})
		if done(res) {
			return time.Since(start)
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("lookup of %s: still %d %s after 3s; reply:\n%s", user, res.StatusCode, res.Reason, res)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mnWarm looks user up through c a few times, with pauses, so that the
// read cache (which admits keys asynchronously) holds its current answer,
// and requires each answer to have status want.
func mnWarm(t *testing.T, c sipConn, user string, want int) {
	t.Helper()
	for range 4 {
		if res := e2eSend(t, c, e2eReq{Method: "OPTIONS", User: user}); res.StatusCode != want {
			t.Fatalf("warm-up lookup of %s: %d %s, want %d; reply:\n%s", user, res.StatusCode, res.Reason, want, res)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mnRegister registers contact for user through c and requires a 200.
func mnRegister(t *testing.T, c sipConn, user, contact string, expires int) {
	t.Helper()
	res := e2eSend(t, c, e2eReq{User: user, Contacts: []string{contact}, Expires: expires})
	if res.StatusCode != 200 {
		t.Fatalf("REGISTER %s → %s (Expires %d): %d %s, want 200; reply:\n%s", user, contact, expires, res.StatusCode, res.Reason, res)
	}
}

// mnQuery sends a REGISTER without Contact for user through c and returns
// the listed contact URIs; it requires a 200.
func mnQuery(t *testing.T, c sipConn, user string) []string {
	t.Helper()
	res := e2eSend(t, c, e2eReq{User: user, Expires: -1})
	if res.StatusCode != 200 {
		t.Fatalf("query of %s: %d %s, want 200; reply:\n%s", user, res.StatusCode, res.Reason, res)
	}
	var out []string
	for _, b := range e2eContacts(t, res) {
		out = append(out, b.URI)
	}
	return out
}

func TestMultiNodeRedis(t *testing.T) {
	rs := testsrv.StartRedis(t, testsrv.RedisDurable...)
	mnMultiNode(t, rs.URL)
}

func TestMultiNodePostgres(t *testing.T) {
	pg := testsrv.StartPostgres(t)
	mnMultiNode(t, pg.URL)
}

// mnMultiNode runs two nodes on the store dsn: registrations and removals
// through A are seen by B within mnVisibleWithin, concurrent REGISTERs for
// one AoR through both lose nothing, and B keeps serving everything after
// A is killed.
func mnMultiNode(t *testing.T, dsn string) {
	a, b := mnLocus(t, dsn), mnLocus(t, dsn, "--admin", "127.0.0.1:0")
	ca, cb := dialSIP(t, "udp", a.Addrs["udp"], nil), dialSIP(t, "udp", b.Addrs["udp"], nil)
	run := time.Now().UnixNano() % 1e9 // users of their own on an external store

	// Visibility: B has cached "not found", A registers, B must see it.
	const visUsers = 5
	var worst time.Duration
	vis := make([]string, visUsers)
	for i := range vis {
		user := fmt.Sprintf("mn-vis-%d-%d", run, i)
		vis[i] = user
		contact := mnContact(user, 7000+i)
		mnWarm(t, cb, user, 404)
		mnRegister(t, ca, user, contact, 300)
		d := mnPoll(t, cb, user, time.Now(), func(r *sip.Response) bool { return mnIsRedirect(r, contact) })
		t.Logf("REGISTER of %s through A visible through B after %v", user, d.Round(100*time.Microsecond))
		worst = max(worst, d)
		if d >= mnVisibleWithin {
			t.Errorf("REGISTER of %s through A: lookup through B found it after %v, want < %v", user, d, mnVisibleWithin)
		}
	}
	t.Logf("registration visibility A→B: worst %v over %d users", worst.Round(100*time.Microsecond), visUsers)

	// Removal: B has cached the binding, A removes it, B must stop finding it.
	gone := vis[0]
	mnWarm(t, cb, gone, 302)
	res := e2eSend(t, ca, e2eReq{User: gone, Contacts: []string{mnContact(gone, 7000)}, Expires: 0})
	if res.StatusCode != 200 {
		t.Fatalf("unregister %s through A: %d %s, want 200", gone, res.StatusCode, res.Reason)
	}
	d := mnPoll(t, cb, gone, time.Now(), func(r *sip.Response) bool { return r.StatusCode == 404 })
	t.Logf("unregister of %s through A visible through B after %v", gone, d.Round(100*time.Microsecond))
	if d >= mnVisibleWithin {
		t.Errorf("unregister of %s through A: lookup through B still found it for %v, want < %v", gone, d, mnVisibleWithin)
	}

	// B's lookups really went through its read cache.
	hits, misses := mnCacheStats(t, b)
	t.Logf("node B read cache: %v hits, %v misses", hits, misses)
	if hits == 0 {
		t.Errorf("node B served no lookup from its read cache (%v misses): the invalidation was not exercised", misses)
	}

	// Concurrent REGISTERs for one AoR, alternating nodes: none is lost.
	const concContacts = 20
	aor := fmt.Sprintf("mn-conc-%d", run)
	mnWarm(t, ca, aor, 404)
	mnWarm(t, cb, aor, 404)
	conns := make([]sipConn, concContacts)
	want := make([]string, concContacts)
	for i := range conns {
		addr := a.Addrs["udp"]
		if i%2 == 1 {
			addr = b.Addrs["udp"]
		}
		conns[i] = dialSIP(t, "udp", addr, nil)
		want[i] = mnContact(aor, 8000+i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, concContacts)
	startGate := make(chan struct{})
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGate
			raw, callID := e2eReq{User: aor, Contacts: []string{want[i]}, Expires: 300, Port: conns[i].LocalPort()}.String()
			res, err := tryExchange(conns[i], raw, callID, 5*time.Second)
			switch {
			case err != nil:
				errs <- fmt.Errorf("REGISTER #%d: %w", i, err)
			case res == nil:
				errs <- fmt.Errorf("REGISTER #%d: no reply within 5s", i)
			case res.StatusCode != 200:
				errs <- fmt.Errorf("REGISTER #%d: %d %s, want 200", i, res.StatusCode, res.Reason)
			}
		}()
	}
	close(startGate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, n := range []struct {
		name string
		c    sipConn
	}{{"A", ca}, {"B", cb}} {
		got := mnQuery(t, n.c, aor)
		slices.Sort(got)
		w := slices.Clone(want)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Errorf("after %d concurrent REGISTERs through A and B, a query through %s lists %d contacts %q, want all %d", concContacts, n.name, len(got), got, concContacts)
		}
	}
	// Both nodes' caches now hold the full AoR.
	for _, c := range []sipConn{ca, cb} {
		for range 3 {
			if res := e2eSend(t, c, e2eReq{Method: "OPTIONS", User: aor}); res.StatusCode != 302 {
				t.Fatalf("lookup of %s: %d, want 302", aor, res.StatusCode)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// More users registered through A only, then A crashes.
	const keepUsers = 10
	keep := make([]string, keepUsers)
	for i := range keep {
		keep[i] = fmt.Sprintf("mn-keep-%d-%d", run, i)
		mnRegister(t, ca, keep[i], mnContact(keep[i], 9000+i), 300)
	}
	mnKill(t, a)

	for i, user := range vis[1:] {
		if res := e2eSend(t, cb, e2eReq{Method: "OPTIONS", User: user}); !mnIsRedirect(res, mnContact(user, 7001+i)) {
			t.Errorf("after A was killed, lookup of %s through B: %d %s, want 302 to %s", user, res.StatusCode, res.Reason, mnContact(user, 7001+i))
		}
	}
	for i, user := range keep {
		if res := e2eSend(t, cb, e2eReq{Method: "OPTIONS", User: user}); !mnIsRedirect(res, mnContact(user, 9000+i)) {
			t.Errorf("after A was killed, lookup of %s through B: %d %s, want 302 to %s", user, res.StatusCode, res.Reason, mnContact(user, 9000+i))
		}
	}
	if res := e2eSend(t, cb, e2eReq{Method: "OPTIONS", User: gone}); res.StatusCode != 404 {
		t.Errorf("after A was killed, lookup of the unregistered %s through B: %d, want 404", gone, res.StatusCode)
	}
	if res := e2eSend(t, cb, e2eReq{Method: "OPTIONS", User: aor}); res.StatusCode != 302 || len(e2eContacts(t, res)) != 1 || !slices.Contains(want, e2eContacts(t, res)[0].URI) {
		t.Errorf("after A was killed, lookup of %s through B: %d %s, want 302 to one of its contacts; reply:\n%s", aor, res.StatusCode, res.Reason, res)
	}
	if got := mnQuery(t, cb, aor); len(got) != concContacts {
		t.Errorf("after A was killed, a query of %s through B lists %d contacts, want %d", aor, len(got), concContacts)
	}
}

func TestCrashKeepsAcknowledgedRedis(t *testing.T) {
	rs := testsrv.StartRedis(t, testsrv.RedisDurable...)
	mnCrash(t, rs.URL)
}

func TestCrashKeepsAcknowledgedPostgres(t *testing.T) {
	pg := testsrv.StartPostgres(t)
	mnCrash(t, pg.URL)
}

// mnCrash drives REGISTERs of distinct users from 8 UDP clients against
// locus on dsn, kills locus with SIGKILL in the middle, starts a new one on
// the same store, and requires every user that got a 200 to be found.
func mnCrash(t *testing.T, dsn string) {
	const workers = 8
	p := mnLocus(t, dsn)
	run := time.Now().UnixNano() % 1e9
	conns := make([]sipConn, workers)
	for i := range conns {
		conns[i] = dialSIP(t, "udp", p.Addrs["udp"], nil)
	}
	var (
		mu    sync.Mutex
		acked []string
		sent  int
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := conns[w]
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				user := fmt.Sprintf("crash-%d-%d-%d", run, w, n)
				raw, callID := e2eReq{User: user, Contacts: []string{mnContact(user, 5060)}, Expires: 600, Port: c.LocalPort()}.String()
				mu.Lock()
				sent++
				mu.Unlock()
				res, err := tryExchange(c, raw, callID, time.Second)
				if err != nil || res == nil {
					return // locus is gone
				}
				if res.StatusCode == 200 {
					mu.Lock()
					acked = append(acked, user)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(time.Second)
	mnKill(t, p) // mid-load: the workers are still sending
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d REGISTERs sent, %d acknowledged with 200 before SIGKILL", sent, len(acked))
	if len(acked) < 50 {
		t.Fatalf("only %d REGISTERs acknowledged in 1s: the load did not run", len(acked))
	}

	q := mnLocus(t, dsn)
	qc := make([]sipConn, workers)
	for i := range qc {
		qc[i] = dialSIP(t, "udp", q.Addrs["udp"], nil)
	}
	var (
		missing []string
		restore sync.WaitGroup
		mmu     sync.Mutex
	)
	for w := range workers {
		restore.Add(1)
		go func() {
			defer restore.Done()
			c := qc[w]
			for i := w; i < len(acked); i += workers {
				user := acked[i]
				raw, callID := e2eReq{User: user, Expires: -1, Port: c.LocalPort()}.String()
				res, err := tryExchange(c, raw, callID, 5*time.Second)
				ok := err == nil && res != nil && res.StatusCode == 200
				if ok {
					ok = slices.Equal(mnURIs(res), []string{mnContact(user, 5060)})
				}
				if !ok {
					mmu.Lock()
					missing = append(missing, fmt.Sprintf("%s (%v, %v)", user, err, res))
					mmu.Unlock()
				}
			}
		}()
	}
	restore.Wait()
	t.Logf("after restart: %d of %d acknowledged bindings found", len(acked)-len(missing), len(acked))
	if len(missing) > 0 {
		t.Errorf("%d of %d acknowledged REGISTERs lost by the crash, e.g. %.2000s", len(missing), len(acked), fmt.Sprint(missing[:min(len(missing), 5)]))
	}
}

// mnURIs returns the URIs of res's Contact headers, in order (a value
// not in name-addr form is returned whole).
func mnURIs(res *sip.Response) []string {
	var out []string
	for _, h := range res.GetHeaders("Contact") {
		for _, v := range e2eSplitList(h.Value()) {
			v = strings.TrimSpace(v)
			lt, gt := strings.IndexByte(v, '<'), strings.IndexByte(v, '>')
			if lt >= 0 && gt > lt {
				v = v[lt+1 : gt]
			}
			out = append(out, v)
		}
	}
	return out
}

// mnAdmin returns the base URL of p's admin listener.
func mnAdmin(t *testing.T, p *locusProc) string {
	t.Helper()
	recs := p.Log.Records("admin listening")
	if len(recs) != 1 {
		t.Fatalf("%d \"admin listening\" records; log:\n%s", len(recs), p.Log.String())
	}
	addr, _ := recs[0]["addr"].(string)
	return "http://" + addr
}

// mnCacheStats reads the usrloc read cache's hit and miss counters from
// p's /metrics.
func mnCacheStats(t *testing.T, p *locusProc) (hits, misses float64) {
	t.Helper()
	cl := http.Client{Timeout: 5 * time.Second}
	res, err := cl.Get(mnAdmin(t, p) + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d, %v", res.StatusCode, err)
	}
	found := 0
	for _, line := range strings.Split(string(body), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(val, &v); err != nil {
			continue
		}
		switch name {
		case "locus_usrloc_cache_hits_total":
			hits, found = v, found+1
		case "locus_usrloc_cache_misses_total":
			misses, found = v, found+1
		}
	}
	if found != 2 {
		t.Fatalf("/metrics has no locus_usrloc_cache_hits_total and _misses_total:\n%s", body)
	}
	return hits, misses
}

// mnReadyz returns the status of GET /readyz on the admin listener api.
func mnReadyz(t *testing.T, api string) int {
	t.Helper()
	cl := http.Client{Timeout: 5 * time.Second}
	res, err := cl.Get(api + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// mnWaitReadyz polls /readyz until it answers want, and fails after 5 s.
func mnWaitReadyz(t *testing.T, api string, want int) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := mnReadyz(t, api)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("/readyz: %d after 5s, want %d", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStoreOutage kills the Redis server under a running locus: REGISTERs
// get 500 with Retry-After within 2 s, cached lookups keep answering,
// /readyz turns 503; Redis restarted, REGISTERs succeed again without
// restarting locus and /readyz is 200.
func TestStoreOutage(t *testing.T) {
	rs := testsrv.StartRedis(t, testsrv.RedisDurable...)
	if rs.External {
		t.Skipf("%s is set: the external Redis server cannot be killed by the tests", testsrv.RedisEnv)
	}
	p := mnLocus(t, rs.URL, "--admin", "127.0.0.1:0")
	api := mnAdmin(t, p)
	c := dialSIP(t, "udp", p.Addrs["udp"], nil)

	contact := mnContact("out-cached", 7100)
	mnRegister(t, c, "out-cached", contact, 300)
	mnWarm(t, c, "out-cached", 302)
	if got := mnReadyz(t, api); got != 200 {
		t.Fatalf("/readyz before the outage: %d, want 200", got)
	}

	rs.Kill(t)

	raw, callID := e2eReq{User: "out-new", Contacts: []string{mnContact("out-new", 7101)}, Expires: 300, Port: c.LocalPort()}.String()
	start := time.Now()
	res := exchange(t, c, raw, callID, 5*time.Second)
	took := time.Since(start)
	if res == nil {
		t.Fatalf("REGISTER during the outage: no reply within 5s")
	}
	t.Logf("REGISTER during the outage: %d %s after %v", res.StatusCode, res.Reason, took.Round(time.Millisecond))
	if res.StatusCode != 500 {
		t.Errorf("REGISTER during the outage: %d %s, want 500; reply:\n%s", res.StatusCode, res.Reason, res)
	}
	if h := res.GetHeader("Retry-After"); h == nil || h.Value() == "" {
		t.Errorf("REGISTER during the outage: no Retry-After; reply:\n%s", res)
	} else {
		t.Logf("REGISTER during the outage: Retry-After: %s", h.Value())
	}
	if took > 2*time.Second {
		t.Errorf("REGISTER during the outage answered after %v, want within 2s", took)
	}

	for range 3 {
		if res := e2eSend(t, c, e2eReq{Method: "OPTIONS", User: "out-cached"}); !mnIsRedirect(res, contact) {
			t.Errorf("lookup of the cached out-cached during the outage: %d %s, want 302 to %s; reply:\n%s", res.StatusCode, res.Reason, contact, res)
		}
	}
	d := mnWaitReadyz(t, api, 503)
	t.Logf("/readyz 503 %v after the first check of the outage", d.Round(time.Millisecond))

	rs.Restart(t)
	restarted := time.Now()
	for {
		raw, callID := e2eReq{User: "out-after", Contacts: []string{mnContact("out-after", 7102)}, Expires: 300, Port: c.LocalPort()}.String()
		res := exchange(t, c, raw, callID, 5*time.Second)
		if res != nil && res.StatusCode == 200 {
			t.Logf("REGISTER after Redis restarted: 200 after %v", time.Since(restarted).Round(time.Millisecond))
			break
		}
		if time.Since(restarted) > 5*time.Second {
			t.Fatalf("REGISTER 5s after Redis restarted: %v, want 200", res)
		}
		time.Sleep(100 * time.Millisecond)
	}
	d = mnWaitReadyz(t, api, 200)
	t.Logf("/readyz 200 %v after the first successful REGISTER", d.Round(time.Millisecond))
	if res := e2eSend(t, c, e2eReq{Method: "OPTIONS", User: "out-after"}); !mnIsRedirect(res, mnContact("out-after", 7102)) {
		t.Errorf("lookup of out-after after the outage: %d %s, want 302", res.StatusCode, res.Reason)
	}
}
