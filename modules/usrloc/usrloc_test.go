package usrloc_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/locus-sip/locus/modules/store/memstore"
	"github.com/locus-sip/locus/modules/usrloc"
)

func binding(aor, contact string, exp time.Time) usrloc.Binding {
	return usrloc.Binding{AOR: aor, Contact: contact, Expires: exp, Q: usrloc.QUnset, RUID: contact}
}

func set(t *testing.T, st usrloc.Store, aor string, bs ...usrloc.Binding) {
	t.Helper()
	if _, err := st.Update(context.Background(), "location", aor, func([]usrloc.Binding) ([]usrloc.Binding, error) {
		return bs, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// The cache serves lookups, is invalidated by local writes and by the
// change feed (one AoR, or everything), and never returns expired bindings.
func TestCache(t *testing.T) {
	st := memstore.New()
	ul, err := usrloc.NewWithStore(st, 1024, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Cleanup()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ul.SetClock(func() time.Time { return now })
	ctx := context.Background()
	const aor = "sip:alice@example.com"

	if _, err := ul.Update(ctx, "location", aor, func([]usrloc.Binding) ([]usrloc.Binding, error) {
		return []usrloc.Binding{binding(aor, "sip:a@h", now.Add(time.Minute))}, nil
	}); err != nil {
		t.Fatal(err)
	}
	lookup := func() []usrloc.Binding {
		bs, err := ul.Lookup(ctx, "location", aor)
		if err != nil {
			t.Fatal(err)
		}
		return bs
	}
	// Fill the cache (ristretto admits new keys asynchronously: retry).
	deadline := time.Now().Add(2 * time.Second)
	for {
		lookup()
		set(t, st, aor, binding(aor, "sip:behind-the-cache@h", now.Add(time.Minute)))
		if bs := lookup(); bs[0].Contact == "sip:a@h" {
			break // served from the cache
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache never served a lookup")
		}
		set(t, st, aor, binding(aor, "sip:a@h", now.Add(time.Minute)))
		time.Sleep(10 * time.Millisecond)
	}
	// A remote change to this AoR invalidates it.
	ul.Invalidate("location", aor)
	if bs := lookup(); bs[0].Contact != "sip:behind-the-cache@h" {
		t.Fatalf("after Invalidate: %v", bs[0].Contact)
	}
	// Refill, change behind the cache, then drop everything.
	deadline = time.Now().Add(2 * time.Second)
	for {
		set(t, st, aor, binding(aor, "sip:v2@h", now.Add(time.Minute)))
		if bs := lookup(); bs[0].Contact == "sip:behind-the-cache@h" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache never served a lookup")
		}
		ul.Invalidate("location", aor)
		set(t, st, aor, binding(aor, "sip:behind-the-cache@h", now.Add(time.Minute)))
		lookup()
		time.Sleep(10 * time.Millisecond)
	}
	ul.Invalidate("location", "")
	if bs := lookup(); bs[0].Contact != "sip:v2@h" {
		t.Fatalf("after dropping the cache: %v", bs[0].Contact)
	}
	// Expired bindings are filtered even from the cache.
	now = now.Add(2 * time.Minute)
	if bs := lookup(); len(bs) != 0 {
		t.Fatalf("expired binding returned: %+v", bs)
	}
}

// A local write is visible to the very next lookup, whatever the cache did.
func TestCacheReadYourWrites(t *testing.T) {
	ul, err := usrloc.NewWithStore(memstore.New(), 1024, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Cleanup()
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // readers racing with the writer to fill the cache
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = ul.Lookup(ctx, "location", "sip:bob@example.com")
			}
		}
	}()
	for i := 0; i < 300; i++ {
		c := "sip:bob@h" + string(rune('a'+i%26))
		if _, err := ul.Update(ctx, "location", "sip:bob@example.com", func([]usrloc.Binding) ([]usrloc.Binding, error) {
			return []usrloc.Binding{binding("sip:bob@example.com", c, time.Now().Add(time.Hour))}, nil
		}); err != nil {
			t.Fatal(err)
		}
		bs, err := ul.Lookup(ctx, "location", "sip:bob@example.com")
		if err != nil || len(bs) != 1 || bs[0].Contact != c {
			close(stop)
			t.Fatalf("write %d: lookup saw %+v (%v), want %s", i, bs, err, c)
		}
	}
	close(stop)
	wg.Wait()
}

// An Update of an AoR the cache does not hold leaves the cache alone: it
// costs the cache key and nothing more (ristretto's Del would allocate an
// item and wake its policy goroutine with it). Stale entries are still
// never served: TestCache and TestCacheReadYourWrites.
func TestCacheUpdateOfUncachedAoR(t *testing.T) {
	allocs := func(cacheSize int64) float64 {
		ul, err := usrloc.NewWithStore(memstore.New(), cacheSize, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer ul.Cleanup()
		ctx := context.Background()
		b := binding("sip:carol@example.com", "sip:carol@h", time.Now().Add(time.Hour))
		fn := func([]usrloc.Binding) ([]usrloc.Binding, error) { return []usrloc.Binding{b}, nil }
		return testing.AllocsPerRun(200, func() {
			if _, err := ul.Update(ctx, "location", "sip:carol@example.com", fn); err != nil {
				t.Fatal(err)
			}
		})
	}
	without, with := allocs(0), allocs(1024)
	if with > without+1 {
		t.Errorf("Update of an uncached AoR: %.0f allocations with the cache, %.0f without; want at most one more (the key)", with, without)
	}
}
