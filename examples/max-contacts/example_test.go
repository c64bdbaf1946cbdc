package maxcontacts_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/internal/locustest"
)

func TestMain(m *testing.M) { locustest.Main(m) }

// start runs locus with the example's config and the given script.
func start(t *testing.T, script string) (*locustest.Proc, *locustest.Client) {
	t.Helper()
	p := locustest.Start(t, "--config", abs(t, "locus.yaml"), "--listen", "udp:127.0.0.1:0",
		"--store", "memory:", "--script", script)
	return p, locustest.Dial(t, p.Addrs["udp"])
}

// register binds contact for user and returns the reply.
func register(c *locustest.Client, user, contact string) *sip.Response {
	return c.MustExchange(locustest.Register(user, "example.com", contact, 600, "desk/1").String())
}

// bindings lists the contact URIs of a 200 to a REGISTER.
func bindings(res *sip.Response) []string {
	var out []string
	for _, h := range res.GetHeaders("Contact") {
		if ch, ok := h.(*sip.ContactHeader); ok {
			out = append(out, ch.Address.String())
		}
	}
	return out
}

func abs(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEvictOldest: bob has the registrar's limit of three; a fourth device
// replaces the first.
func TestEvictOldest(t *testing.T) {
	_, c := start(t, abs(t, "route.lua"))
	for i := 1; i <= 4; i++ {
		res := register(c, "bob", "sip:bob@192.0.2."+itoa(i)+":5060")
		if res.StatusCode != 200 {
			t.Fatalf("device %d: %d %s, want 200", i, res.StatusCode, res.Reason)
		}
	}
	res := register(c, "bob", "sip:bob@192.0.2.4:5060") // a refresh lists the bindings
	got := strings.Join(bindings(res), " ")
	for _, want := range []string{"sip:bob@192.0.2.2:5060", "sip:bob@192.0.2.3:5060", "sip:bob@192.0.2.4:5060"} {
		if !strings.Contains(got, want) {
			t.Errorf("bindings %q lack %s", got, want)
		}
	}
	if n := len(bindings(res)); n != 3 || strings.Contains(got, "192.0.2.1:") {
		t.Errorf("bindings %q: want 3 without the oldest (192.0.2.1)", got)
	}
}

// TestRefuseOverHtableLimit: kiosk is limited to one device by the limits
// table; a second is refused with 403, a refresh and a removal still work.
func TestRefuseOverHtableLimit(t *testing.T) {
	p, c := start(t, abs(t, "route.lua"))
	if res := register(c, "kiosk", "sip:kiosk@192.0.2.1:5060"); res.StatusCode != 200 {
		t.Fatalf("first device: %d %s, want 200", res.StatusCode, res.Reason)
	}
	res := register(c, "kiosk", "sip:kiosk@192.0.2.2:5060")
	if res.StatusCode != 403 {
		t.Fatalf("second device: %d %s, want 403", res.StatusCode, res.Reason)
	}
	if w := res.GetHeader("Warning"); w == nil || !strings.Contains(w.Value(), "at most 1 devices") {
		t.Errorf("403 Warning = %v, want the limit", w)
	}
	p.Log.WaitCount(t, "device limit reached for sip:kiosk@example.com, refused <sip:kiosk@192.0.2.2:5060>", 1, time.Second)
	res = register(c, "kiosk", "sip:kiosk@192.0.2.1:5060")
	if res.StatusCode != 200 || len(bindings(res)) != 1 {
		t.Fatalf("refresh: %d %s with %v, want 200 with the one binding", res.StatusCode, res.Reason, bindings(res))
	}
	rm := c.MustExchange(locustest.Register("kiosk", "example.com", "sip:kiosk@192.0.2.1:5060", 0, "desk/1").String())
	if rm.StatusCode != 200 || len(bindings(rm)) != 0 {
		t.Fatalf("removal: %d %s with %v, want 200 and no binding", rm.StatusCode, rm.Reason, bindings(rm))
	}
	if res := register(c, "kiosk", "sip:kiosk@192.0.2.2:5060"); res.StatusCode != 200 {
		t.Fatalf("new device after the removal: %d %s, want 200", res.StatusCode, res.Reason)
	}
	// carol's limit of 2 comes from the same table.
	for i, want := range []int{200, 200, 403} {
		res := register(c, "carol", "sip:carol@192.0.2."+itoa(i+1)+":5060")
		if res.StatusCode != want {
			t.Fatalf("carol device %d: %d, want %d", i+1, res.StatusCode, want)
		}
	}
}

// TestHotReloadLimit changes DEFAULT_LIMIT from nil to 1 while REGISTERs
// arrive at about 200 per second: within a second of the file being
// replaced, a second device is refused, and every REGISTER is answered.
func TestHotReloadLimit(t *testing.T) {
	src, err := os.ReadFile("route.lua")
	if err != nil {
		t.Fatal(err)
	}
	const before, after = "local DEFAULT_LIMIT = nil", "local DEFAULT_LIMIT = 1"
	if !strings.Contains(string(src), before) {
		t.Fatalf("route.lua lacks %q", before)
	}
	script := filepath.Join(t.TempDir(), "route.lua")
	locustest.WriteFile(t, script, string(src))
	p := locustest.Start(t, "--config", abs(t, "locus.yaml"), "--listen", "udp:127.0.0.1:0",
		"--store", "memory:", "--script", script)
	probe := locustest.Dial(t, p.Addrs["udp"])

	// The load: 200 REGISTERs a second for 3 s, users load-0…load-49 each
	// adding a new device every 250 ms.
	load := locustest.Dial(t, p.Addrs["udp"])
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		answered = map[int]int{}
		failures []string
	)
	loadStart := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 600; i++ {
			<-tick.C
			user := "load-" + itoa(i%50)
			contact := "sip:" + user + "@192.0.2." + itoa(1+i/50) + ":5060"
			res, err := load.Exchange(locustest.Register(user, "example.com", contact, 600, "load/1").String(), 2*time.Second)
			mu.Lock()
			if err != nil {
				failures = append(failures, "REGISTER "+itoa(i)+": "+err.Error())
			} else {
				answered[res.StatusCode]++
			}
			mu.Unlock()
		}
	}()

	second := func(n int) int { // a fresh user's second device
		user := "probe-" + itoa(n)
		if res := register(probe, user, "sip:"+user+"@192.0.2.1:5060"); res.StatusCode != 200 {
			t.Fatalf("%s first device: %d, want 200", user, res.StatusCode)
		}
		return register(probe, user, "sip:"+user+"@192.0.2.2:5060").StatusCode
	}
	time.Sleep(500 * time.Millisecond)
	if code := second(0); code != 200 {
		t.Fatalf("before the reload, second device: %d, want 200", code)
	}

	locustest.ReplaceFile(t, script, strings.Replace(string(src), before, after, 1))
	changed := time.Now()
	n := 1
	for second(n) != 403 {
		if time.Since(changed) > time.Second {
			t.Fatalf("second device still accepted %v after the script changed", time.Since(changed))
		}
		n++
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("new limit in force %v after the change", time.Since(changed).Round(time.Millisecond))
	for k := 0; k < 3; k++ {
		if code := second(n + 1 + k); code != 403 {
			t.Fatalf("after the reload, second device: %d, want 403", code)
		}
	}
	wg.Wait()
	t.Logf("load: 600 REGISTERs in %v, replies %v", time.Since(loadStart).Round(time.Millisecond), answered)

	if len(failures) > 0 {
		t.Fatalf("%d REGISTERs of the load failed, first: %s", len(failures), failures[0])
	}
	total := 0
	for code, k := range answered {
		if code != 200 && code != 403 {
			t.Errorf("load: %d replies %d, want only 200 and 403", k, code)
		}
		total += k
	}
	if total != 600 || answered[403] == 0 {
		t.Errorf("load answered %v (%d), want all 600 with some 403 after the reload", answered, total)
	}
	if p.Log.Count("script reloaded") != 1 {
		t.Errorf("%d \"script reloaded\" records, want 1", p.Log.Count("script reloaded"))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
