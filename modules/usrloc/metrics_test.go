package usrloc_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/store/memstore"
	"github.com/locus-sip/locus/modules/usrloc"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// loadUsrloc loads the modules of a configuration and returns the host
// (cleaned up with the test) and its usrloc.
func loadUsrloc(t *testing.T, yaml string) (*core.Host, *usrloc.Usrloc) {
	t.Helper()
	var cfg core.Config
	if err := core.ParseConfig([]byte(yaml), &cfg); err != nil {
		t.Fatal(err)
	}
	h, err := core.LoadModules(context.Background(), &cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	m, _ := h.Module("usrloc")
	return h, m.(*usrloc.Usrloc)
}

func TestMetrics(t *testing.T) {
	h, ul := loadUsrloc(t, "store: \"memory:\"\nmodules:\n  usrloc: {cache: on, cache_size: 1024}\n")
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ul.SetClock(func() time.Time { return now })
	ctx := context.Background()
	put := func(aor string, bs ...usrloc.Binding) {
		if _, err := ul.Update(ctx, "location", aor, func([]usrloc.Binding) ([]usrloc.Binding, error) { return bs, nil }); err != nil {
			t.Fatal(err)
		}
	}
	put("sip:a@x", binding("sip:a@x", "sip:a1@h", now.Add(time.Minute)), binding("sip:a@x", "sip:a2@h", now.Add(time.Hour)))
	put("sip:b@x", binding("sip:b@x", "sip:b1@h", now.Add(time.Minute)))
	if _, err := ul.Lookup(ctx, "location", "sip:a@x"); err != nil {
		t.Fatal(err)
	}
	expect := map[string]float64{"locus_usrloc_aors": 2, "locus_usrloc_bindings": 3}
	for name, want := range expect {
		mfs, _ := h.Metrics.Gather()
		got := -1.0
		for _, mf := range mfs {
			if mf.GetName() == name {
				got = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	now = now.Add(2 * time.Minute)
	if n, err := ul.Sweep(ctx); err != nil || n != 2 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if n := testutil.CollectAndCount(h.Metrics, "locus_usrloc_store_duration_seconds"); n != 3 {
		t.Errorf("store duration series: %d, want get, update and expire", n)
	}
	mfs, _ := h.Metrics.Gather()
	values := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			if c := mt.GetCounter(); c != nil {
				values[mf.GetName()] += c.GetValue()
			}
			if g := mt.GetGauge(); g != nil {
				values[mf.GetName()] = g.GetValue()
			}
		}
	}
	if values["locus_usrloc_expired_bindings_total"] != 2 || values["locus_usrloc_bindings"] != 1 || values["locus_usrloc_aors"] != 1 {
		t.Fatalf("after sweep: %v", values)
	}
	if values["locus_usrloc_cache_misses_total"] != 1 {
		t.Fatalf("cache misses %v", values["locus_usrloc_cache_misses_total"])
	}
}

func TestReady(t *testing.T) {
	st := memstore.New()
	ul, err := usrloc.NewWithStore(st, 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := ul.Ready(context.Background()); err != nil {
		t.Fatalf("ready: %v", err)
	}
	_ = st.Close()
	if err := ul.Ready(context.Background()); err == nil {
		t.Fatal("ready with a closed store")
	}
}

// TestUpdateRefusal checks that an error of Update's fn comes back as it
// was returned and is not counted as a store failure, while a store
// failure is.
func TestUpdateRefusal(t *testing.T) {
	h, ul := loadUsrloc(t, "store: \"memory:\"\n")
	ctx := context.Background()
	storeErrors := func() float64 {
		mfs, _ := h.Metrics.Gather()
		sum := 0.0
		for _, mf := range mfs {
			if mf.GetName() == "locus_usrloc_store_errors_total" {
				for _, mt := range mf.GetMetric() {
					sum += mt.GetCounter().GetValue()
				}
			}
		}
		return sum
	}
	refuse := errors.New("refused")
	_, err := ul.Update(ctx, "location", "sip:a@x", func([]usrloc.Binding) ([]usrloc.Binding, error) { return nil, refuse })
	if err != refuse {
		t.Fatalf("fn's error came back as %v, want it as it was", err)
	}
	if n := storeErrors(); n != 0 {
		t.Fatalf("a refusal counted as %v store errors", n)
	}
	_ = ul.Store().Close()
	_, err = ul.Update(ctx, "location", "sip:a@x", func([]usrloc.Binding) ([]usrloc.Binding, error) { return nil, nil })
	if !errors.Is(err, memstore.ErrClosed) {
		t.Fatalf("update of a closed store: %v", err)
	}
	if n := storeErrors(); n != 1 {
		t.Fatalf("a store failure counted as %v store errors, want 1", n)
	}

	// A store that wraps fn's error (the contract says it must not) still
	// gives the caller fn's error.
	wrapping, err := usrloc.NewWithStore(wrapErrors{memstore.New()}, 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrapping.Update(ctx, "location", "sip:a@x", func([]usrloc.Binding) ([]usrloc.Binding, error) { return nil, refuse })
	if err != refuse {
		t.Fatalf("through a wrapping store fn's error came back as %v", err)
	}
}

type wrapErrors struct{ usrloc.Store }

func (w wrapErrors) Update(ctx context.Context, table, aor string, fn func([]usrloc.Binding) ([]usrloc.Binding, error)) ([]usrloc.Binding, error) {
	bs, err := w.Store.Update(ctx, table, aor, fn)
	if err != nil {
		return nil, fmt.Errorf("wrapped: %w", err)
	}
	return bs, nil
}
