package script_test

import (
	"testing"
	"time"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/core/script"
	lua "github.com/yuin/gopher-lua"
)

// BenchmarkRoute measures the runtime's own cost per request: borrow a
// state, bind the message, run a route making five KSR calls, return.
func BenchmarkRoute(b *testing.B) {
	nop := script.Export{Name: "t", Funcs: []core.LuaFunc{{
		Name: "nop", Fn: func(env *core.Env, L *lua.LState) int { return core.LuaInt(L, 1) },
	}}}
	for _, bc := range []struct{ name, body string }{
		{"five-calls", `if KSR.is_REGISTER() then KSR.t.nop() KSR.t.nop() KSR.t.nop() KSR.t.nop() end`},
		// Naming _G keeps every KSR lookup: the calls are not hoisted.
		{"five-calls-looked-up", `local g = _G if KSR.is_REGISTER() then KSR.t.nop() KSR.t.nop() KSR.t.nop() KSR.t.nop() end`},
		{"five-calls-exit", `if KSR.is_REGISTER() then KSR.t.nop() KSR.t.nop() KSR.t.nop() KSR.t.nop() KSR.x.exit() end`},
		// An exit in a sub-route returns a sentinel the call site checks.
		{"five-calls-exit-in-sub-route", `if KSR.is_REGISTER() then KSR.t.nop() KSR.t.nop() KSR.t.nop() KSR.t.nop() stop() end`},
		// An exit in a function used as a value is raised, and unwinds the VM.
		{"five-calls-exit-raised", `if KSR.is_REGISTER() then KSR.t.nop() KSR.t.nop() KSR.t.nop() KSR.t.nop() local f = stop f() end`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			file := coretest.WriteScript(b, "function stop() KSR.x.exit() end\nfunction ksr_request_route()\n"+bc.body+"\nend\n")
			rt, err := script.New(script.Options{File: file, Timeout: time.Second, Exports: []script.Export{nop}})
			if err != nil {
				b.Fatal(err)
			}
			defer rt.Close()
			m, _ := coretest.Msg(b, coretest.Register)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := rt.Route(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
