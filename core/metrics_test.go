package core_test

import (
	"log/slog"
	"testing"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestEngineMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	code := 200
	eng := core.NewEngine(routerFunc(func(m *core.Msg) error { return m.Reply(code, "") }), slog.New(slog.DiscardHandler), 0, "")
	eng.SetMetrics(core.NewMetrics(reg, eng))
	for i := 0; i < 3; i++ {
		m, _ := coretest.Msg(t, coretest.Register)
		eng.Process(m)
	}
	code = 599 // not a pre-resolved pair
	m, _ := coretest.Msg(t, coretest.Register)
	eng.Process(m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "locus_core_requests_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			key := ""
			for _, l := range mt.GetLabel() {
				key += l.GetName() + "=" + l.GetValue() + " "
			}
			got[key] = mt.GetCounter().GetValue()
		}
	}
	if got["code=200 method=REGISTER "] != 3 || got["code=599 method=REGISTER "] != 1 {
		t.Fatalf("requests_total = %v", got)
	}
	if n := testutil.CollectAndCount(reg, "locus_script_duration_seconds"); n != 1 {
		t.Fatalf("script duration histogram: %d series", n)
	}
}
