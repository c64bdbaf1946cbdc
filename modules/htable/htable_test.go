package htable_test

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/locus-sip/locus/modules/htable"
)

// clock is a settable time source.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func ptr[T any](v T) *T { return &v }

func TestTableSetGet(t *testing.T) {
	c := newClock()
	tab := htable.NewTable("t", htable.Options{Now: c.Now})
	if _, ok := tab.Get("a"); ok {
		t.Fatal("empty table has a")
	}
	if err := tab.Set("a", htable.Str("x")); err != nil {
		t.Fatal(err)
	}
	if err := tab.Set("b", htable.Int(7)); err != nil {
		t.Fatal(err)
	}
	if v, ok := tab.Get("a"); !ok || v != htable.Str("x") {
		t.Fatalf("a = %+v, %v", v, ok)
	}
	if v, ok := tab.Get("b"); !ok || v != htable.Int(7) {
		t.Fatalf("b = %+v, %v", v, ok)
	}
	if err := tab.Set("a", htable.Int(1)); err != nil || tab.Len() != 2 {
		t.Fatalf("overwrite: %v, len %d", err, tab.Len())
	}
	if !tab.Delete("a") || tab.Delete("a") || tab.Len() != 1 {
		t.Fatalf("delete: len %d", tab.Len())
	}
	tab.Reset()
	if tab.Len() != 0 {
		t.Fatalf("reset: len %d", tab.Len())
	}
}

func TestTableExpiry(t *testing.T) {
	cases := []struct {
		name   string
		opts   htable.Options
		steps  func(tab *htable.Table, c *clock)
		after  time.Duration // advance, then check
		exists bool
	}{
		{"no autoexpire lives forever", htable.Options{}, func(tab *htable.Table, c *clock) {
			tab.Set("k", htable.Int(1))
		}, 1000 * time.Hour, true},
		{"autoexpire", htable.Options{AutoExpire: 10 * time.Second}, func(tab *htable.Table, c *clock) {
			tab.Set("k", htable.Int(1))
		}, 10 * time.Second, false},
		{"just before autoexpire", htable.Options{AutoExpire: 10 * time.Second}, func(tab *htable.Table, c *clock) {
			tab.Set("k", htable.Int(1))
		}, 9 * time.Second, true},
		{"update restarts the lifetime", htable.Options{AutoExpire: 10 * time.Second}, func(tab *htable.Table, c *clock) {
			tab.Set("k", htable.Int(1))
			c.Advance(8 * time.Second)
			tab.Set("k", htable.Int(2))
		}, 8 * time.Second, true},
		{"updateexpire off keeps it", htable.Options{AutoExpire: 10 * time.Second, KeepExpire: true}, func(tab *htable.Table, c *clock) {
			tab.Set("k", htable.Int(1))
			c.Advance(8 * time.Second)
			tab.Set("k", htable.Int(2))
		}, 2 * time.Second, false},
		{"inc restarts the lifetime", htable.Options{AutoExpire: 10 * time.Second}, func(tab *htable.Table, c *clock) {
			tab.Add("k", 1)
			c.Advance(8 * time.Second)
			tab.Add("k", 1)
		}, 8 * time.Second, true},
		{"setex shortens", htable.Options{}, func(tab *htable.Table, c *clock) {
			tab.Set("k", htable.Int(1))
			tab.SetExpire("k", 5*time.Second)
		}, 5 * time.Second, false},
		{"setex 0 removes the expiry", htable.Options{AutoExpire: 10 * time.Second}, func(tab *htable.Table, c *clock) {
			tab.Set("k", htable.Int(1))
			tab.SetExpire("k", 0)
		}, time.Hour, true},
		{"setxi overrides autoexpire", htable.Options{AutoExpire: time.Hour}, func(tab *htable.Table, c *clock) {
			tab.SetWithExpire("k", htable.Int(1), 3*time.Second)
		}, 3 * time.Second, false},
		{"setxi 0 uses autoexpire", htable.Options{AutoExpire: 4 * time.Second}, func(tab *htable.Table, c *clock) {
			tab.SetWithExpire("k", htable.Int(1), 0)
		}, 4 * time.Second, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			tc.opts.Now = c.Now
			tab := htable.NewTable("t", tc.opts)
			tc.steps(tab, c)
			c.Advance(tc.after)
			if _, ok := tab.Get("k"); ok != tc.exists {
				t.Fatalf("item exists %v, want %v", ok, tc.exists)
			}
			// The sweeper frees exactly the expired item.
			n := tab.Sweep()
			if want := map[bool]int{true: 0, false: 1}[tc.exists]; n != want || tab.Len() != 1-want {
				t.Fatalf("sweep removed %d (len %d), want %d", n, tab.Len(), want)
			}
		})
	}
}

func TestSetExpireMissing(t *testing.T) {
	c := newClock()
	tab := htable.NewTable("t", htable.Options{Now: c.Now, AutoExpire: time.Second})
	if err := tab.SetExpire("nope", time.Minute); !errors.Is(err, htable.ErrNotFound) {
		t.Fatalf("error %v, want ErrNotFound", err)
	}
	tab.Set("k", htable.Int(1))
	c.Advance(time.Second)
	if err := tab.SetExpire("k", time.Minute); !errors.Is(err, htable.ErrNotFound) {
		t.Fatalf("expired item: error %v, want ErrNotFound", err)
	}
}

func TestAdd(t *testing.T) {
	cases := []struct {
		name    string
		initval *int64
		before  *htable.Value
		delta   int64
		want    int64
		wantErr error
	}{
		{"missing starts at 0", nil, nil, 1, 1, nil},
		{"missing starts at initval", ptr(int64(10)), nil, -1, 9, nil},
		{"existing", nil, ptr(htable.Int(41)), 1, 42, nil},
		{"string item", nil, ptr(htable.Str("x")), 1, 0, htable.ErrNotInt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tab := htable.NewTable("t", htable.Options{InitVal: tc.initval})
			if tc.before != nil {
				tab.Set("k", *tc.before)
			}
			got, err := tab.Add("k", tc.delta)
			if got != tc.want || !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %d, %v; want %d, %v", got, err, tc.want, tc.wantErr)
			}
			if err == nil {
				if v, _ := tab.Get("k"); v != htable.Int(tc.want) {
					t.Fatalf("stored %+v", v)
				}
			}
		})
	}
}

func TestMaxItems(t *testing.T) {
	c := newClock()
	tab := htable.NewTable("t", htable.Options{Now: c.Now, MaxItems: 3, Shards: 1, AutoExpire: 10 * time.Second})
	for i := range 3 {
		if err := tab.Set(fmt.Sprint(i), htable.Int(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := tab.Set("new", htable.Int(1)); !errors.Is(err, htable.ErrFull) {
		t.Fatalf("4th item: %v, want ErrFull", err)
	}
	if _, err := tab.Add("new", 1); !errors.Is(err, htable.ErrFull) {
		t.Fatalf("4th counter: %v, want ErrFull", err)
	}
	if err := tab.Set("1", htable.Str("update")); err != nil {
		t.Fatalf("update in a full table: %v", err)
	}
	if _, refused := tab.Stats(); refused != 2 {
		t.Fatalf("refused %d, want 2", refused)
	}
	// Expired items make room without waiting for the sweeper.
	c.Advance(10 * time.Second)
	if err := tab.Set("new", htable.Int(1)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if expired, _ := tab.Stats(); expired != 3 || tab.Len() != 1 {
		t.Fatalf("expired %d, len %d; want 3, 1", expired, tab.Len())
	}
}

func TestMatch(t *testing.T) {
	tab := htable.NewTable("t", htable.Options{})
	tab.Set("alice::fail", htable.Int(3))
	tab.Set("bob::fail", htable.Str("sip:bob@example.com"))
	tab.Set("carol", htable.Str("10.0.0.1"))
	cases := []struct {
		target  htable.Target
		op, arg string
		match   bool
		removed int
		wantErr bool
	}{
		{htable.Name, "eq", "carol", true, 1, false},
		{htable.Name, "eq", "dave", false, 0, false},
		{htable.Name, "ne", "carol", true, 2, false},
		{htable.Name, "sw", "ali", true, 1, false},
		{htable.Name, "ew", "::fail", true, 2, false},
		{htable.Name, "in", "b::", true, 1, false},
		{htable.Name, "re", "^[ab].*::fail$", true, 2, false},
		{htable.Name, "re", "(", false, 0, true},
		{htable.Name, "xx", "a", false, 0, true},
		{htable.StrValue, "sw", "sip:", true, 1, false},
		{htable.StrValue, "eq", "3", false, 0, false}, // integers are not string values
		{htable.StrValue, "re", `^10\.`, true, 1, false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.target, tc.op, tc.arg), func(t *testing.T) {
			m, err := htable.NewMatcher(tc.op, tc.arg, nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := tab.Match(tc.target, m); got != tc.match {
				t.Fatalf("match %v, want %v", got, tc.match)
			}
			// Remove from a copy, so the cases stay independent.
			cp := htable.NewTable("c", htable.Options{})
			for _, k := range []string{"alice::fail", "bob::fail", "carol"} {
				v, _ := tab.Get(k)
				cp.Set(k, v)
			}
			if n := cp.DeleteMatching(tc.target, m); n != tc.removed || cp.Len() != 3-n {
				t.Fatalf("removed %d (len %d), want %d", n, cp.Len(), tc.removed)
			}
		})
	}
}

// TestConcurrent hammers one table from many goroutines; run with -race.
// Counters must not lose increments.
func TestConcurrent(t *testing.T) {
	tab := htable.NewTable("t", htable.Options{MaxItems: 1000, AutoExpire: time.Minute})
	const workers, rounds = 16, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				tab.Add("shared", 1)
				k := fmt.Sprint(w, "-", i%50)
				tab.Set(k, htable.Str(k))
				tab.Get(k)
				if i%100 == 0 {
					tab.Delete(k)
					tab.Sweep()
					m, _ := htable.NewMatcher("sw", "1-", nil)
					tab.Match(htable.Name, m)
				}
			}
		}()
	}
	wg.Wait()
	if v, _ := tab.Get("shared"); v != htable.Int(workers*rounds) {
		t.Fatalf("shared counter %+v, want %d", v, workers*rounds)
	}
	// The item count kept on the side agrees with the shards.
	n := 0
	tab.Match(htable.Name, func(string) bool { n++; return false })
	if n != tab.Len() || n > 1+workers*50 {
		t.Fatalf("len %d, %d items in the shards", tab.Len(), n)
	}
}

// TestItemMemory measures the heap cost of an item with a short key (an
// IPv4 address) and an integer value.
func TestItemMemory(t *testing.T) {
	const items = 100000
	keys := make([]string, items)
	for i := range keys {
		keys[i] = fmt.Sprintf("127.%d.%d.%d", i>>16, i>>8&255, i&255)
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	tab := htable.NewTable("t", htable.Options{MaxItems: items, AutoExpire: time.Minute})
	for _, k := range keys {
		if err := tab.Set(k, htable.Int(1)); err != nil {
			t.Fatal(err)
		}
	}
	after := heap()
	runtime.KeepAlive(tab)
	per := float64(after-before) / items
	t.Logf("%d items: %.1f B per item (the keys' strings are shared with the test)", tab.Len(), per)
	if tab.Len() != items || per > 160 {
		t.Fatalf("%d items, %.1f B per item; want %d, at most 160", tab.Len(), per, items)
	}
}
