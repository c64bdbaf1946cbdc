package pv_test

import (
	"testing"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/pv"
	"github.com/locus-sip/locus/modules/sl"
)

// TestProviderClassesAndDstURI reads pseudo-variables another module
// provides, in all three forms, and sets and clears $du.
func TestProviderClassesAndDstURI(t *testing.T) {
	p := &pv.PV{}
	p.AddClasses(map[string]core.PVClass{
		"ulc": func(m *core.Msg, inner string, index int) any {
			switch inner {
			case "p=>count":
				return 2
			case "p=>addr":
				return []string{"sip:a@h1", "sip:b@h2"}[index]
			}
			return nil
		},
		"au": func(m *core.Msg, inner string, index int) any { return "alice" },
	})
	src := preamble + `function ksr_request_route()
		eq(KSR.pv.get("$ulc(p=>count)"), 2, "count")
		eq(KSR.pv.get("$ulc(p=>addr)"), "sip:a@h1", "addr")
		eq(KSR.pv.get("$(ulc(p=>addr)[1])"), "sip:b@h2", "addr[1]")
		eq(KSR.pv.get("$ulc(p=>nope)"), nil, "unknown attr")
		eq(KSR.pv.get("$au"), "alice", "plain name")
		eq(KSR.pv.sets("$ulc(p=>addr)", "x"), false, "read-only")
		eq(KSR.pv.get("$nosuch(x)"), nil, "unknown class")
		eq(KSR.pv.get("$du"), nil, "$du unset")
		eq(KSR.pv.sets("$du", "sip:192.0.2.1:5062;transport=tcp"), true, "set $du")
		eq(KSR.pv.get("$du"), "sip:192.0.2.1:5062;transport=tcp", "$du")
		eq(KSR.pv.sets("$du", "not a uri"), false, "bad $du")
		KSR.sl.send_reply(200, "ok")
	end`
	rt := coretest.Runtime(t, src, coretest.Export("pv", p), coretest.Export("sl", &sl.SL{}))
	m, rec := coretest.Msg(t, bare)
	if err := rt.Route(m); err != nil {
		t.Fatal(err)
	}
	if rec.Code() != 200 || m.DstURI != "sip:192.0.2.1:5062;transport=tcp" {
		t.Fatalf("reply %d, $du %q", rec.Code(), m.DstURI)
	}
}
