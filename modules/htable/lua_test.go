package htable_test

import (
	"strings"
	"testing"
	"time"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/core/script"
	"github.com/locus-sip/locus/modules/hdr"
	"github.com/locus-sip/locus/modules/htable"
	"github.com/locus-sip/locus/modules/pv"
	"github.com/locus-sip/locus/modules/sl"
)

// preamble gives scripts an assertion that names the failing check.
const preamble = `
local function eq(got, want, what)
	if got ~= want then error(what .. ": got " .. tostring(got) .. ", want " .. tostring(want)) end
end
`

func exports(h *htable.HTable) []script.Export {
	p := &pv.PV{}
	p.AddClasses(h.PVClasses())
	return []script.Export{coretest.Export("htable", h), coretest.Export("pv", p),
		coretest.Export("sl", &sl.SL{}), coretest.Export("hdr", &hdr.Hdr{})}
}

func TestLua(t *testing.T) {
	c := newClock()
	h, err := htable.NewWithTables(c.Now,
		htable.TableConfig{Name: "a", AutoExpire: 60},
		htable.TableConfig{Name: "init", InitVal: ptr(int64(5))},
		htable.TableConfig{Name: "tiny", MaxItems: 1},
	)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, body string }{
		{"get missing", `eq(KSR.htable.sht_get("a", "x"), nil, "get"); eq(KSR.htable.sht_gete("a", "x"), "", "gete"); eq(KSR.htable.sht_getw("a", "x"), "<null>", "getw")`},
		{"sets and get", `eq(KSR.htable.sht_sets("a", "s", "v"), 1, "sets"); eq(KSR.htable.sht_get("a", "s"), "v", "get"); eq(KSR.htable.sht_gete("a", "s"), "v", "gete")`},
		{"seti and get", `eq(KSR.htable.sht_seti("a", "i", 42), 1, "seti"); eq(KSR.htable.sht_get("a", "i"), 42, "get"); eq(KSR.htable.sht_getw("a", "i"), 42, "getw")`},
		{"inc dec", `eq(KSR.htable.sht_inc("a", "n"), 1, "inc"); eq(KSR.htable.sht_inc("a", "n"), 2, "inc"); eq(KSR.htable.sht_dec("a", "n"), 1, "dec")`},
		{"inc large", `KSR.htable.sht_seti("a", "big", 1000); eq(KSR.htable.sht_inc("a", "big"), 1001, "inc")`},
		{"inc on a string", `KSR.htable.sht_sets("a", "str", "x"); eq(KSR.htable.sht_inc("a", "str"), -255, "inc")`},
		{"is_null", `eq(KSR.htable.sht_is_null("a", "nothing"), 1, "missing"); KSR.htable.sht_seti("a", "there", 0); eq(KSR.htable.sht_is_null("a", "there"), -1, "present"); eq(KSR.htable.sht_is_null("nosuch", "k"), 2, "no table")`},
		{"rm", `KSR.htable.sht_seti("a", "gone", 1); eq(KSR.htable.sht_rm("a", "gone"), 1, "rm"); eq(KSR.htable.sht_get("a", "gone"), nil, "after rm"); eq(KSR.htable.sht_rm("nosuch", "gone"), -1, "no table")`},
		{"unknown table", `eq(KSR.htable.sht_get("nosuch", "k"), nil, "get"); eq(KSR.htable.sht_sets("nosuch", "k", "v"), -1, "sets"); eq(KSR.htable.sht_inc("nosuch", "k"), -255, "inc"); eq(KSR.htable.sht_reset("nosuch"), -1, "reset")`},
		{"initval", `eq(KSR.htable.sht_get("init", "k"), 5, "get"); eq(KSR.htable.sht_inc("init", "k"), 6, "inc"); eq(KSR.htable.sht_is_null("init", "never"), 1, "is_null")`},
		{"full", `eq(KSR.htable.sht_seti("tiny", "one", 1), 1, "first"); eq(KSR.htable.sht_seti("tiny", "two", 2), -1, "second"); eq(KSR.htable.sht_inc("tiny", "two"), -255, "inc"); eq(KSR.htable.sht_seti("tiny", "one", 3), 1, "update")`},
		{"match and rm by name", `KSR.htable.sht_seti("a", "m::1", 1); KSR.htable.sht_sets("a", "m::2", "sip:x"); KSR.htable.sht_seti("a", "keep", 1)
			eq(KSR.htable.sht_match_name("a", "sw", "m::"), 1, "match sw"); eq(KSR.htable.sht_has_name("a", "eq", "m::3"), -1, "has eq")
			eq(KSR.htable.sht_match_str_value("a", "sw", "sip:"), 1, "value sw"); eq(KSR.htable.sht_has_str_value("a", "eq", "1"), -1, "int is no string")
			eq(KSR.htable.sht_match_name("a", "zz", "m"), -1, "bad op"); eq(KSR.htable.sht_rm_name_re("a", "("), -1, "bad regexp")
			eq(KSR.htable.sht_rm_value_re("a", "^sip:"), 1, "rm value re"); eq(KSR.htable.sht_get("a", "m::2"), nil, "m::2 removed")
			eq(KSR.htable.sht_rm_name_re("a", "^m::"), 1, "rm name re"); eq(KSR.htable.sht_get("a", "m::1"), nil, "m::1 removed")
			eq(KSR.htable.sht_get("a", "keep"), 1, "keep")
			KSR.htable.sht_sets("a", "v1", "abc"); eq(KSR.htable.sht_rm_value("a", "in", "b"), 1, "rm value in"); eq(KSR.htable.sht_get("a", "v1"), nil, "v1 removed")
			eq(KSR.htable.sht_rm_name("a", "eq", "keep"), 1, "rm name eq"); eq(KSR.htable.sht_get("a", "keep"), nil, "keep removed")`},
		{"pv", `KSR.htable.sht_sets("a", "pv", "val"); KSR.htable.sht_seti("a", "pvi", 7)
			eq(KSR.pv.get("$sht(a=>pv)"), "val", "$sht str"); eq(KSR.pv.get("$sht(a=>pvi)"), 7, "$sht int")
			eq(KSR.pv.get("$sht(a=>none)"), nil, "$sht missing"); eq(KSR.pv.get("$sht(nosuch=>pv)"), nil, "$sht no table")
			eq(KSR.pv.get("$shtex(a=>pv)"), 60, "$shtex"); eq(KSR.pv.get("$shtex(init=>x)"), nil, "$shtex missing")
			eq(KSR.pv.sets("$sht(a=>pv)", "x"), false, "read-only")`},
		{"setex and setx", `KSR.htable.sht_seti("a", "e", 1); eq(KSR.htable.sht_setex("a", "e", 5), 1, "setex"); eq(KSR.pv.get("$shtex(a=>e)"), 5, "$shtex")
			eq(KSR.htable.sht_setex("a", "nothing", 5), -1, "setex missing")
			eq(KSR.htable.sht_setxs("a", "xs", "v", 7), 1, "setxs"); eq(KSR.pv.get("$shtex(a=>xs)"), 7, "xs ttl")
			eq(KSR.htable.sht_setxi("a", "xi", 3, 0), 1, "setxi"); eq(KSR.pv.get("$shtex(a=>xi)"), 60, "xi ttl autoexpire")`},
		{"reset", `KSR.htable.sht_seti("a", "r", 1); eq(KSR.htable.sht_reset("a"), 1, "reset"); eq(KSR.htable.sht_get("a", "r"), nil, "after reset")`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := preamble + "function ksr_request_route()\n" + tc.body + "\nKSR.sl.send_reply(200, \"OK\")\nend\n"
			rec, _ := coretest.Route(t, src, coretest.Register, exports(h)...)
			if rec.Code() != 200 {
				t.Fatalf("reply %d, want 200 (an assertion in the script failed)", rec.Code())
			}
		})
	}
}

// TestLuaSharedAcrossRequests: what one request stores, the next one (on
// any pooled state) reads; expiry is seen at read time.
func TestLuaSharedAcrossRequests(t *testing.T) {
	c := newClock()
	h, err := htable.NewWithTables(c.Now, htable.TableConfig{Name: "ban", AutoExpire: 300})
	if err != nil {
		t.Fatal(err)
	}
	src := `function ksr_request_route()
	local src = KSR.pv.get("$si")
	if KSR.htable.sht_get("ban", src) ~= nil then
		KSR.sl.send_reply(403, "Banned")
		KSR.x.exit()
	end
	KSR.htable.sht_seti("ban", src, 1)
	KSR.sl.send_reply(200, "OK")
end`
	rt := coretest.Runtime(t, src, exports(h)...)
	want := []int{200, 403, 403}
	for i, code := range want {
		m, rec := coretest.Msg(t, coretest.Register)
		if err := rt.Route(m); err != nil {
			t.Fatal(err)
		}
		if rec.Code() != code {
			t.Fatalf("request %d: reply %d, want %d", i, rec.Code(), code)
		}
	}
	c.Advance(300 * time.Second)
	m, rec := coretest.Msg(t, coretest.Register)
	if err := rt.Route(m); err != nil || rec.Code() != 200 {
		t.Fatalf("after the ban expired: %v, reply %d", err, rec.Code())
	}
}

func TestLuaArgumentErrors(t *testing.T) {
	h, _ := htable.NewWithTables(nil, htable.TableConfig{Name: "a"})
	for _, call := range []string{`KSR.htable.sht_seti("a", "k", "notanumber")`, `KSR.htable.sht_get("a")`,
		`KSR.htable.sht_sets("a", "k", string.rep("x", 70000))`} {
		src := "function ksr_request_route() " + call + " KSR.sl.send_reply(200, \"OK\") end"
		rec, _ := coretest.Route(t, src, coretest.Register, exports(h)...)
		if rec.Code() != 500 {
			t.Fatalf("%s: reply %d, want the fallback 500 for a script error", call, rec.Code())
		}
	}
}

func TestConfig(t *testing.T) {
	cases := []struct {
		name, yaml, wantErr string
		check               func(t *testing.T, h *htable.HTable)
	}{
		{"none", "", "", func(t *testing.T, h *htable.HTable) {
			if _, ok := h.Table("a"); ok {
				t.Fatal("table a exists")
			}
		}},
		{"values", "modules:\n  htable:\n    tables:\n      - name: a\n        initval: 3\n        values: {alice: 2, bob: x}\n", "", func(t *testing.T, h *htable.HTable) {
			tab, _ := h.Table("a")
			if v, _ := tab.Get("alice"); v != htable.Int(2) {
				t.Fatalf("alice %+v", v)
			}
			if v, _ := tab.Get("bob"); v != htable.Str("x") {
				t.Fatalf("bob %+v", v)
			}
			if v, _ := tab.Lookup("carol"); v != htable.Int(3) {
				t.Fatalf("carol %+v", v)
			}
		}},
		{"missing name", "modules:\n  htable:\n    tables:\n      - autoexpire: 3\n", "tables[0].name is missing", nil},
		{"bad name", "modules:\n  htable:\n    tables:\n      - name: a b\n", "tables[0].name", nil},
		{"duplicate", "modules:\n  htable:\n    tables:\n      - name: a\n      - name: a\n", "tables[1].name \"a\": already", nil},
		{"negative autoexpire", "modules:\n  htable:\n    tables:\n      - name: a\n        autoexpire: -1\n", "tables[0].autoexpire", nil},
		{"size", "modules:\n  htable:\n    tables:\n      - name: a\n        size: 40\n", "tables[0].size", nil},
		{"negative max_items", "modules:\n  htable:\n    tables:\n      - name: a\n        max_items: -1\n", "tables[0].max_items", nil},
		{"values above max_items", "modules:\n  htable:\n    tables:\n      - name: a\n        max_items: 1\n        values: {a: 1, b: 2}\n", "tables[0].values", nil},
		{"bad value", "modules:\n  htable:\n    tables:\n      - name: a\n        values: {a: [1]}\n", "tables[0].values.a", nil},
		{"timer_interval", "modules:\n  htable:\n    timer_interval: 0\n", "timer_interval", nil},
		{"unknown key", "modules:\n  htable:\n    tables:\n      - name: a\n        dbtable: x\n", "dbtable", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := coretest.LoadModule(t, tc.yaml, "htable")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, m.(*htable.HTable))
		})
	}
}

// TestMetrics reads the table's metrics from the host's registry.
func TestMetrics(t *testing.T) {
	h, err := coretest.LoadModules(t, "modules:\n  htable:\n    tables:\n      - name: a\n        max_items: 1\n        values: {x: 1}\n")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := h.Module("htable")
	tab, _ := m.(*htable.HTable).Table("a")
	tab.Set("y", htable.Int(1)) // refused: full
	mfs, err := h.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mm := range mf.GetMetric() {
			if mm.GetGauge() != nil {
				got[mf.GetName()] = mm.GetGauge().GetValue()
			}
			if mm.GetCounter() != nil {
				got[mf.GetName()] = mm.GetCounter().GetValue()
			}
		}
	}
	if got["locus_htable_items"] != 1 || got["locus_htable_refused_items_total"] != 1 {
		t.Fatalf("metrics %v", got)
	}
}

// TestPVThroughHost: the pv module finds $sht when both are loaded, as in
// locus.
func TestPVThroughHost(t *testing.T) {
	host, err := coretest.LoadModules(t, "modules:\n  htable:\n    tables:\n      - name: a\n        values: {x: hello}\n")
	if err != nil {
		t.Fatal(err)
	}
	hm, _ := host.Module("htable")
	pm, _ := host.Module("pv")
	src := preamble + `function ksr_request_route()
	eq(KSR.pv.get("$sht(a=>x)"), "hello", "$sht")
	KSR.sl.send_reply(200, "OK")
end`
	rec, _ := coretest.Route(t, src, coretest.Register, coretest.Export("htable", hm.(*htable.HTable)),
		coretest.Export("pv", pm.(*pv.PV)), coretest.Export("sl", &sl.SL{}))
	if rec.Code() != 200 {
		t.Fatalf("reply %d, want 200", rec.Code())
	}
}
