package pike_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/core/script"
	"github.com/locus-sip/locus/modules/htable"
	"github.com/locus-sip/locus/modules/pike"
	"github.com/locus-sip/locus/modules/pv"
	"github.com/locus-sip/locus/modules/sl"
)

func detector(c *clock, density int) *pike.Detector {
	return pike.NewDetector(pike.Options{Unit: time.Second, Density: density, RemoveLatency: time.Minute, Now: c.Now})
}

// TestLuaCheckReq drives pike_check_req through the script runtime: the
// route replies with the return code.
func TestLuaCheckReq(t *testing.T) {
	c := newClock()
	p := pike.NewWithDetector(detector(c, 2), nil)
	src := `function ksr_request_route()
	local rc = KSR.pike.pike_check_req()
	KSR.sl.send_reply(200, tostring(rc))
end`
	rt := coretest.Runtime(t, src, coretest.Export("pike", p), coretest.Export("sl", &sl.SL{}))
	for i, want := range []string{"1", "1", "-2", "-1"} {
		m, rec := coretest.Msg(t, coretest.Register)
		if err := rt.Route(m); err != nil {
			t.Fatal(err)
		}
		if f := rec.Final(); f == nil || f.Reason != want {
			t.Fatalf("request %d: reply %v, want reason %s", i, f, want)
		}
	}
	// Another source is not affected.
	m, rec := coretest.Msg(t, coretest.Register)
	m.SrcIP = "192.0.2.11"
	if err := rt.Route(m); err != nil || rec.Final().Reason != "1" {
		t.Fatalf("other source: %v %v", err, rec.Final())
	}
}

func TestLuaCheckIP(t *testing.T) {
	c := newClock()
	p := pike.NewWithDetector(detector(c, 1), nil)
	cases := []struct{ call, want string }{
		{`pike_check_ip("2001:db8::7")`, "1"},
		{`pike_check_ip("2001:db8::7")`, "-2"},
		{`pike_check_ip("2001:db8::7")`, "-1"},
		{`pike_check_ip("not an address")`, "1"},
		{`pike_check_ip("")`, "1"},
		{`pike_check_ip("10.0.0.1")`, "1"},
	}
	for i, tc := range cases {
		src := fmt.Sprintf("function ksr_request_route() KSR.sl.send_reply(200, tostring(KSR.pike.%s)) end", tc.call)
		rec, _ := coretest.Route(t, src, coretest.Register, coretest.Export("pike", p), coretest.Export("sl", &sl.SL{}))
		if f := rec.Final(); f == nil || f.Reason != tc.want {
			t.Fatalf("case %d %s: reply %v, want %s", i, tc.call, f, tc.want)
		}
	}
	src := `function ksr_request_route() KSR.pike.pike_check_ip() end`
	if rec, _ := coretest.Route(t, src, coretest.Register, coretest.Export("pike", p)); rec.Code() != 500 {
		t.Fatalf("missing argument: reply %d, want the fallback 500", rec.Code())
	}
}

type settings struct{ unit, density, latency, max int }

func TestConfig(t *testing.T) {
	cases := []struct {
		name, yaml, wantErr string
		want                settings
	}{
		{"defaults", "", "", settings{2, 30, 120, 100000}},
		{"set", "modules:\n  pike:\n    sampling_time_unit: 10\n    reqs_density_per_unit: 16\n    remove_latency: 10\n    max_entries: 5\n", "",
			settings{10, 16, 10, 5}},
		{"unit", "modules:\n  pike:\n    sampling_time_unit: 0\n", "sampling_time_unit", settings{}},
		{"density", "modules:\n  pike:\n    reqs_density_per_unit: -3\n", "reqs_density_per_unit", settings{}},
		{"latency below unit", "modules:\n  pike:\n    sampling_time_unit: 10\n    remove_latency: 5\n", "remove_latency 5", settings{}},
		{"max_entries", "modules:\n  pike:\n    max_entries: 0\n", "max_entries", settings{}},
		{"unknown key", "modules:\n  pike:\n    pike_log_level: 1\n", "pike_log_level", settings{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := coretest.LoadModule(t, tc.yaml, "pike")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := m.(*pike.Pike)
			got := settings{p.SamplingTimeUnit, p.ReqsDensityPerUnit, p.RemoveLatency, p.MaxEntries}
			if got != tc.want || p.Detector() == nil {
				t.Fatalf("config %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestMetrics checks the counters through the host's registry.
func TestMetrics(t *testing.T) {
	h, err := coretest.LoadModules(t, "modules:\n  pike:\n    reqs_density_per_unit: 1\n    max_entries: 1\n")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := h.Module("pike")
	p := m.(*pike.Pike)
	for _, ip := range []string{"192.0.2.1", "192.0.2.1", "192.0.2.1", "192.0.2.2"} {
		if _, err := p.CheckIP(ip); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := h.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mm := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range mm.GetLabel() {
				name += "/" + l.GetValue()
			}
			got[name] = mm.GetCounter().GetValue() + mm.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"locus_pike_checks_total/ok": 2, "locus_pike_checks_total/new_flood": 1, "locus_pike_checks_total/flooding": 1,
		"locus_pike_tracked_ips": 1, "locus_pike_flooding_ips": 0, "locus_pike_evicted_ips_total": 1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestREADME loads the README's configuration and runs its example: the
// flooding source is dropped, and stays banned after it slows down.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	yamls := coretest.Fences(t, string(b), "yaml")
	if _, err := coretest.LoadModule(t, yamls[0], "pike"); err != nil {
		t.Fatalf("README configuration: %v", err)
	}
	if _, err := coretest.LoadModule(t, yamls[1], "htable"); err != nil {
		t.Fatalf("README htable configuration: %v", err)
	}
	c := newClock()
	p := pike.NewWithDetector(detector(c, 3), nil)
	srcs := coretest.CheckREADME(t, "README.md", "pike", p.LuaExports())
	ht, err := htable.NewWithTables(c.Now, htable.TableConfig{Name: "ban", AutoExpire: 300})
	if err != nil {
		t.Fatal(err)
	}
	pvm := &pv.PV{}
	rt := coretest.Runtime(t, srcs[0], []script.Export{coretest.Export("pike", p), coretest.Export("htable", ht),
		coretest.Export("pv", pvm), coretest.Export("sl", &sl.SL{})}...)
	route := func() (code int, dropped bool) {
		m, rec := coretest.Msg(t, coretest.Register)
		if err := rt.Route(m); err != nil {
			t.Fatal(err)
		}
		return rec.Code(), m.Dropped
	}
	for i := range 3 {
		if code, _ := route(); code != 200 {
			t.Fatalf("request %d: %d, want 200", i, code)
		}
	}
	if code, dropped := route(); code != 0 || !dropped {
		t.Fatalf("4th request: reply %d, dropped %v; want dropped", code, dropped)
	}
	c.Advance(time.Minute) // slow again, still banned
	if code, dropped := route(); code != 0 || !dropped {
		t.Fatalf("banned source: reply %d, dropped %v; want dropped", code, dropped)
	}
	c.Advance(5 * time.Minute) // the ban expired
	if code, _ := route(); code != 200 {
		t.Fatalf("after the ban: %d, want 200", code)
	}
}
