package htable_test

import (
	"strconv"
	"testing"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/htable"
)

func BenchmarkTable(b *testing.B) {
	tab := htable.NewTable("t", htable.Options{AutoExpire: 60e9, MaxItems: 1 << 20})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "192.0.2." + strconv.Itoa(i)
		tab.Set(keys[i], htable.Int(1))
	}
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			tab.Get(keys[i&1023])
			i++
		}
	})
	b.Run("set", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			tab.Set(keys[i&1023], htable.Int(int64(i)))
			i++
		}
	})
	b.Run("inc", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			tab.Add(keys[i&1023], 1)
			i++
		}
	})
	b.Run("get-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				tab.Get(keys[i&1023])
				i++
			}
		})
	})
	b.Run("inc-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				tab.Add(keys[i&1023], 1)
				i++
			}
		})
	})
}

// BenchmarkLua measures a route that reads a ban entry and counts the
// request, through the script runtime.
func BenchmarkLua(b *testing.B) {
	h, err := htable.NewWithTables(nil, htable.TableConfig{Name: "ban", AutoExpire: 300}, htable.TableConfig{Name: "cnt"})
	if err != nil {
		b.Fatal(err)
	}
	src := `function ksr_request_route()
	if KSR.htable.sht_get("ban", "192.0.2.10") ~= nil then KSR.x.drop() end
	KSR.htable.sht_inc("cnt", "192.0.2.10")
	KSR.x.drop()
end`
	rt := coretest.Runtime(b, src, exports(h)...)
	m, _ := coretest.Msg(b, coretest.Register)
	b.ReportAllocs()
	for b.Loop() {
		m.Dropped = false
		if err := rt.Route(m); err != nil {
			b.Fatal(err)
		}
	}
}
