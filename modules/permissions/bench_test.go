package permissions_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/permissions"
	"github.com/locus-sip/locus/modules/sl"
)

func benchTable(b *testing.B) *permissions.Table {
	g := map[int][]permissions.Rule{}
	for i := range 200 { // 200 hosts and 50 networks in group 1
		r, _ := permissions.ParseRule(fmt.Sprintf("192.0.%d.%d:5060", i/250, i%250+1))
		g[1] = append(g[1], r)
	}
	for i := range 50 {
		r, _ := permissions.ParseRule(fmt.Sprintf("10.%d.0.0/16", i))
		g[1] = append(g[1], r)
	}
	return permissions.Compile(g)
}

func BenchmarkAllow(b *testing.B) {
	tab := benchTable(b)
	for _, tc := range []struct{ name, ip string }{{"host", "192.0.0.7"}, {"network", "10.49.1.1"}, {"denied", "203.0.113.1"}} {
		ip := netip.MustParseAddr(tc.ip)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tab.Allow(1, ip, 5060)
			}
		})
	}
}

// BenchmarkLua measures allow_source_address through the script runtime.
func BenchmarkLua(b *testing.B) {
	p := permissions.NewWithTable(benchTable(b), nil)
	src := `function ksr_request_route()
	if KSR.permissions.allow_source_address(1) < 0 then KSR.x.drop() end
	KSR.x.drop()
end`
	rt := coretest.Runtime(b, src, coretest.Export("permissions", p), coretest.Export("sl", &sl.SL{}))
	m, _ := coretest.Msg(b, coretest.Register)
	b.ReportAllocs()
	for b.Loop() {
		m.Dropped = false
		if err := rt.Route(m); err != nil {
			b.Fatal(err)
		}
	}
}
