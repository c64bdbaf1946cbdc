package pike_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/pike"
	"github.com/locus-sip/locus/modules/sl"
)

func BenchmarkCheck(b *testing.B) {
	d := pike.NewDetector(pike.Options{Unit: 2 * time.Second, Density: 30, RemoveLatency: 2 * time.Minute, MaxEntries: 100000})
	addrs := make([]netip.Addr, 4096)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{127, 0, byte(i >> 8), byte(i)})
	}
	b.Run("known", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			d.Check(addrs[i&4095])
			i++
		}
	})
	b.Run("parse+check", func(b *testing.B) {
		p := pike.NewWithDetector(d, nil)
		b.ReportAllocs()
		for b.Loop() {
			p.CheckIP("192.0.2.10")
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				d.Check(addrs[i&4095])
				i++
			}
		})
	})
	b.Run("new-sources-at-bound", func(b *testing.B) {
		small := pike.NewDetector(pike.Options{Unit: 2 * time.Second, Density: 30, RemoveLatency: 2 * time.Minute, MaxEntries: 10000})
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			small.Check(netip.AddrFrom4([4]byte{127, byte(i >> 16), byte(i >> 8), byte(i)}))
			i++
		}
	})
}

// BenchmarkLua measures pike_check_req through the script runtime.
func BenchmarkLua(b *testing.B) {
	p := pike.NewWithDetector(pike.NewDetector(pike.Options{Unit: 2 * time.Second, Density: 1 << 30, RemoveLatency: 2 * time.Minute}), nil)
	src := `function ksr_request_route()
	if KSR.pike.pike_check_req() < 0 then KSR.x.drop() end
	KSR.x.drop()
end`
	rt := coretest.Runtime(b, src, coretest.Export("pike", p), coretest.Export("sl", &sl.SL{}))
	m, _ := coretest.Msg(b, coretest.Register)
	b.ReportAllocs()
	for b.Loop() {
		m.Dropped = false
		if err := rt.Route(m); err != nil {
			b.Fatal(err)
		}
	}
}
