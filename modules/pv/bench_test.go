package pv_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/pv"
	lua "github.com/yuin/gopher-lua"
)

var sink pv.Value

// BenchmarkPVGet measures reading pseudo-variables: go/ is Parse + Get
// (the name is parsed on every call; there is no cache), lua/ is one
// KSR.pv.get call from a Lua loop, and lua/nop the same loop calling a Go
// function that does nothing, the floor for a call from Lua.
func BenchmarkPVGet(b *testing.B) {
	m, _ := coretest.Msg(b, invite)
	m.LocalIP, m.LocalPort = "198.51.100.1", 5080
	p := &pv.PV{}
	if err := p.Set(m, pv.Spec{Kind: pv.Var, Arg: "user"}, pv.StrValue("alice")); err != nil {
		b.Fatal(err)
	}
	names := []string{"$ru", "$si", "$sp", "$rU", "$fu", "$ci", "$hdr(X-Custom)", "$var(user)"}
	for _, name := range names {
		b.Run("go/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s, err := pv.Parse(name)
				if err != nil {
					b.Fatal(err)
				}
				sink = p.Get(m, s)
			}
		})
	}

	env := &core.Env{Msg: m, Ctx: context.Background(), Log: slog.New(slog.DiscardHandler)}
	L := lua.NewState()
	defer L.Close()
	tbl := L.NewTable()
	for _, f := range p.LuaExports() {
		fn := f.Fn
		tbl.RawSetString(f.Name, L.NewFunction(func(L *lua.LState) int { return fn(env, L) }))
	}
	tbl.RawSetString("nop", L.NewFunction(func(L *lua.LState) int { return 0 }))
	L.SetGlobal("pv", tbl)
	if err := L.DoString(`
function loop(f, name, n)
  for i = 1, n do f(name) end
end`); err != nil {
		b.Fatal(err)
	}
	loop := L.GetGlobal("loop")
	run := func(b *testing.B, f lua.LValue, name string) {
		b.ReportAllocs()
		b.ResetTimer()
		if err := L.CallByParam(lua.P{Fn: loop, Protect: true}, f, lua.LString(name), lua.LNumber(b.N)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("lua/nop", func(b *testing.B) { run(b, tbl.RawGetString("nop"), "$ru") })
	for _, name := range names {
		b.Run("lua/"+name, func(b *testing.B) { run(b, tbl.RawGetString("get"), name) })
	}
}

// BenchmarkParse is the cost of parsing a name, which every KSR.pv call
// pays.
func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"$ru", "$proto", "$hdr(X-Custom)", "$var(user)"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := pv.Parse(name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
