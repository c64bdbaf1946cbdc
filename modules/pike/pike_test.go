package pike_test

import (
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/locus-sip/locus/modules/pike"
)

type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// step is one request (or a pause when wait is set).
type step struct {
	wait time.Duration
	ip   string
	want pike.Result
}

func TestCheck(t *testing.T) {
	const a, b = "192.0.2.1", "192.0.2.2"
	cases := []struct {
		name  string
		steps []step
	}{
		{"density reached, then over", []step{
			{0, a, pike.OK}, {0, a, pike.OK}, {0, a, pike.OK}, {0, a, pike.NewFlood}, {0, a, pike.Flooding}, {0, a, pike.Flooding},
		}},
		{"sources are counted apart", []step{
			{0, a, pike.OK}, {0, a, pike.OK}, {0, a, pike.OK}, {0, b, pike.OK}, {0, a, pike.NewFlood}, {0, b, pike.OK},
		}},
		{"a quiet unit ends the flood", []step{
			{0, a, pike.OK}, {0, a, pike.OK}, {0, a, pike.OK}, {0, a, pike.NewFlood},
			{2 * time.Second, a, pike.OK}, {0, a, pike.OK}, {0, a, pike.OK}, {0, a, pike.NewFlood},
		}},
		{"the previous unit weighs by its overlap", []step{
			// 3 at t=0; at t=1.5 s the window holds half the previous
			// unit (1.5) + the new requests: 2.5 then 3.5.
			{0, a, pike.OK}, {0, a, pike.OK}, {0, a, pike.OK},
			{1500 * time.Millisecond, a, pike.OK}, {0, a, pike.NewFlood},
		}},
		{"IPv4-mapped IPv6 is the IPv4 source", []step{
			{0, a, pike.OK}, {0, "::ffff:" + a, pike.OK}, {0, a, pike.OK}, {0, "::ffff:" + a, pike.NewFlood},
		}},
		{"IPv6", []step{
			{0, "2001:db8::1", pike.OK}, {0, "2001:db8::1", pike.OK}, {0, "2001:db8::2", pike.OK},
			{0, "2001:db8::1", pike.OK}, {0, "2001:db8::1", pike.NewFlood},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			d := pike.NewDetector(pike.Options{Unit: time.Second, Density: 3, RemoveLatency: time.Minute, Now: c.Now})
			for i, s := range tc.steps {
				c.Advance(s.wait)
				if got := d.Check(netip.MustParseAddr(s.ip)); got != s.want {
					t.Fatalf("step %d (%s after %v): %d, want %d", i, s.ip, s.wait, got, s.want)
				}
			}
		})
	}
}

// TestSteadyRates sends at a fixed rate for ten units: half the density
// never floods, twice the density floods within the first unit and stays
// flooding.
func TestSteadyRates(t *testing.T) {
	cases := []struct {
		name      string
		perSecond int
		floodBy   time.Duration // 0: never
	}{
		{"half the density", 5, 0},
		{"just below the density", 8, 0},
		{"twice the density", 20, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			d := pike.NewDetector(pike.Options{Unit: time.Second, Density: 10, RemoveLatency: time.Minute, Now: c.Now})
			a := netip.MustParseAddr("198.51.100.7")
			gap := time.Second / time.Duration(tc.perSecond)
			var first time.Duration
			for i := range 10 * tc.perSecond {
				at := time.Duration(i) * gap
				res := d.Check(a)
				if res == pike.NewFlood && first == 0 {
					first = at + 1
				}
				if first != 0 && res == pike.OK {
					t.Fatalf("flood ended at %v while the rate held", at)
				}
				c.Advance(gap)
			}
			switch {
			case tc.floodBy == 0 && first != 0:
				t.Fatalf("flood detected at %v", first-1)
			case tc.floodBy != 0 && (first == 0 || first-1 > tc.floodBy):
				t.Fatalf("flood detected at %v, want by %v", first-1, tc.floodBy)
			}
		})
	}
}

func TestInvalidAddress(t *testing.T) {
	d := pike.NewDetector(pike.Options{Unit: time.Second, Density: 1, RemoveLatency: time.Minute})
	for range 5 {
		if got := d.Check(netip.Addr{}); got != pike.OK {
			t.Fatalf("invalid address: %d, want OK", got)
		}
	}
	if d.Len() != 0 {
		t.Fatalf("invalid address tracked")
	}
}

func TestRemoveLatency(t *testing.T) {
	c := newClock()
	var changes []bool
	d := pike.NewDetector(pike.Options{Unit: time.Second, Density: 1, RemoveLatency: 10 * time.Second, Now: c.Now,
		OnChange: func(_ netip.Addr, flooding bool) { changes = append(changes, flooding) }})
	a := netip.MustParseAddr("192.0.2.1")
	d.Check(a)
	if d.Check(a) != pike.NewFlood {
		t.Fatal("no flood")
	}
	d.Check(netip.MustParseAddr("192.0.2.2"))
	c.Advance(10 * time.Second)
	if n := d.Sweep(); n != 0 {
		t.Fatalf("swept %d at exactly remove_latency", n)
	}
	c.Advance(time.Millisecond)
	if n := d.Sweep(); n != 2 || d.Len() != 0 {
		t.Fatalf("swept %d, len %d; want 2, 0", n, d.Len())
	}
	if got := d.Counters(); got.Expired != 2 || got.Blocked != 0 {
		t.Fatalf("counters %+v", got)
	}
	if len(changes) != 1 || !changes[0] {
		t.Fatalf("changes %v, want [true]", changes)
	}
}

func TestEviction(t *testing.T) {
	c := newClock()
	d := pike.NewDetector(pike.Options{Unit: time.Second, Density: 2, RemoveLatency: time.Hour, MaxEntries: 4, Shards: 1, Now: c.Now})
	flooder := netip.MustParseAddr("192.0.2.99")
	for range 3 {
		d.Check(flooder)
	}
	if d.Counters().Blocked != 1 {
		t.Fatal("flooder not flooding")
	}
	// Many new sources: the table stays at 4 and keeps the flooder.
	for i := range 1000 {
		c.Advance(time.Millisecond)
		d.Check(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
		if d.Len() > 4 {
			t.Fatalf("len %d above max_entries 4", d.Len())
		}
	}
	if got := d.Counters(); got.Evicted != 997 || got.Tracked != 4 {
		t.Fatalf("counters %+v; want 997 evicted, 4 tracked", got)
	}
	if got := d.Check(flooder); got != pike.Flooding {
		t.Fatalf("flooder after the churn: %d, want Flooding", got)
	}
}

// TestFloodMemory sends requests from 100,000 distinct loopback addresses
// (127.0.0.0/8) and measures the heap: unbounded, to get the cost of one
// tracked address; bounded by max_entries, to show the table stays at its
// bound.
func TestFloodMemory(t *testing.T) {
	const sources = 100000
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{127, byte(i >> 16), byte(i >> 8), byte(i)}) }
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	flood := func(max int) (*pike.Detector, uint64) {
		before := heap()
		d := pike.NewDetector(pike.Options{Unit: 2 * time.Second, Density: 30, RemoveLatency: 2 * time.Minute, MaxEntries: max})
		for i := range sources {
			d.Check(addr(i + 1))
		}
		after := heap()
		runtime.KeepAlive(d)
		if after < before {
			return d, 0
		}
		return d, after - before
	}

	d, unbounded := flood(0)
	grown := unbounded
	perIP := float64(grown) / sources
	t.Logf("unbounded: %d addresses tracked, heap +%d B: %.1f B per address", d.Len(), grown, perIP)
	if d.Len() != sources {
		t.Fatalf("tracked %d, want %d", d.Len(), sources)
	}
	if perIP > 160 {
		t.Fatalf("%.1f B per tracked address, want at most 160", perIP)
	}

	const max = 10000
	d, grown = flood(max)
	c := d.Counters()
	t.Logf("max_entries %d: %d tracked, %d evicted, heap +%d B", max, c.Tracked, c.Evicted, grown)
	if c.Tracked > max || c.Evicted != uint64(sources-c.Tracked) {
		t.Fatalf("counters %+v with max_entries %d", c, max)
	}
	// Small per-shard maps are sparser than one big one: allow 256 B per
	// entry, and a fraction of the unbounded growth.
	if limit := uint64(max * 256); grown > limit || grown > unbounded/3 {
		t.Fatalf("heap grew %d B with max_entries %d, want at most %d and a third of %d", grown, max, limit, unbounded)
	}
}

// TestConcurrent checks from many goroutines; run with -race. No check
// is lost from the counters.
func TestConcurrent(t *testing.T) {
	d := pike.NewDetector(pike.Options{Unit: time.Second, Density: 100, RemoveLatency: time.Minute, MaxEntries: 500})
	const workers, rounds = 16, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				d.Check(netip.AddrFrom4([4]byte{10, byte(w), byte(i >> 8), byte(i)}))
				d.Check(netip.MustParseAddr("192.0.2.1"))
				if i%500 == 0 {
					d.Sweep()
				}
			}
		}()
	}
	wg.Wait()
	c := d.Counters()
	if total := c.OK + c.Flooding + c.NewFlood; total != 2*workers*rounds {
		t.Fatalf("counted %d checks, want %d", total, 2*workers*rounds)
	}
	if c.Tracked > 500 || c.NewFlood == 0 {
		t.Fatalf("counters %+v", c)
	}
}
