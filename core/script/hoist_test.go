package script

import (
	"fmt"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// hoistCases are scripts and how many KSR functions hoistKSR should
// hoist from them (known: every name but those starting with "nope"): the
// cases of TestHoistKSR and seeds of FuzzHoistKSR.
var hoistCases = []struct {
	name, src string
	want      int
}{
	{"the benchmark's route", `function ksr_request_route()
		if KSR.sanity.sanity_check_defaults() < 0 then KSR.x.exit() end
		if KSR.maxfwd.process_maxfwd(10) < 0 then KSR.sl.sl_send_reply(483, "Too Many Hops") KSR.x.exit() end
		if KSR.is_REGISTER() then KSR.registrar.save("location", 0) KSR.x.exit() end
		KSR.sl.sl_send_reply(404, "Not Found")
	end`, 6},
	{"each name once", `function ksr_request_route() KSR.t.a() KSR.t.a() KSR.t.b(KSR.t.a()) end`, 2},
	{"everywhere a call can be", `KSR.t.load()
		local function f() return KSR.t.inner() end
		function g(x) return function() return KSR.t.closure(x) end end
		function ksr_request_route() local t = {KSR.t.field(), k = KSR.t.key()} f() g(KSR.t.arg())() end`, 6},
	{"unknown names stay", `function ksr_request_route() if KSR.t.a() then KSR.nope.b() KSR.t.nope() end KSR.t.c() end`, 2},
	{"other identifiers named like KSR's", `local sl = {}
		function sl.send() end
		function ksr_request_route() sl.send() local x = "KSR" KSR.t.a() end`, 1},
	{"a local KSR", `local KSR = KSR function ksr_request_route() KSR.t.a() end`, 0},
	{"KSR as a value", `function ksr_request_route() local k = KSR KSR.t.a() end`, 0},
	{"a module as a value", `function ksr_request_route() local t = KSR.t KSR.t.a() end`, 0},
	{"a function as a value", `function ksr_request_route() local f = KSR.t.a KSR.t.a() end`, 0},
	{"assignment into KSR", `function ksr_request_route() KSR.t.a = print KSR.t.a() end`, 0},
	{"assignment to KSR", `function ksr_request_route() KSR.t.a() KSR = nil end`, 0},
	{"function defined into KSR", `function KSR.t.a() end function ksr_request_route() KSR.t.a() end`, 0},
	{"method call", `function ksr_request_route() KSR.t:a() KSR.t.b() end`, 0},
	{"constant key", `function ksr_request_route() KSR["t"].a() KSR.t["b"]() end`, 2},
	{"computed name", `function ksr_request_route() KSR["t" .. ""].a() KSR.t.b() end`, 0},
	{"deeper than a module", `function ksr_request_route() KSR.t.a.b() KSR.t.c() end`, 0},
	{"KSR passed on", `function ksr_request_route() print(KSR) KSR.t.a() end`, 0},
	{"_G", `function ksr_request_route() KSR.t.a() _G.KSR = nil end`, 0},
	{"getfenv", `function ksr_request_route() KSR.t.a() local g = getfenv(1) end`, 0},
	{"setfenv", `function ksr_request_route() KSR.t.a() setfenv(1, {}) end`, 0},
	{"loop variable", `function ksr_request_route() for KSR = 1, 2 do end KSR.t.a() end`, 0},
	{"generic loop variable", `function ksr_request_route() for _, KSR in ipairs({}) do end KSR.t.a() end`, 0},
	{"parameter", `function f(KSR) end function ksr_request_route() KSR.t.a() end`, 0},
}

func knownButNope(mod, fn string) bool {
	return !strings.HasPrefix(mod, "nope") && !strings.HasPrefix(fn, "nope")
}

// TestHoistKSR: how many functions are hoisted, that every hoisted call
// now calls its local, and that scripts which could reach KSR's tables
// keep every lookup.
func TestHoistKSR(t *testing.T) {
	for _, tc := range hoistCases {
		t.Run(tc.name, func(t *testing.T) {
			chunk, err := parse.Parse(strings.NewReader(tc.src), "test.lua")
			if err != nil {
				t.Fatal(err)
			}
			out, n := hoistKSR(chunk, knownButNope)
			if n != tc.want {
				t.Fatalf("hoisted %d, want %d", n, tc.want)
			}
			left := 0
			var v walker
			v.stmt = func(ast.Stmt) {}
			v.expr = func(e ast.Expr, _ bool) {
				if c, ok := e.(*ast.FuncCallExpr); ok {
					if _, mod, fn, ok := ksrCall(c); ok && knownButNope(mod, fn) {
						left++
					}
				}
			}
			v.stmts(out[min(n, 1):]) // the declaration looks them up, once
			if n > 0 && left != 0 {
				t.Fatalf("%d calls of known functions still look them up", left)
			}
			if _, err := lua.Compile(out, "test.lua"); err != nil {
				t.Fatalf("does not compile: %v", err)
			}
		})
	}
}

// TestHoistFallsBack: a script whose top level uses nearly all of its
// registers has no room for the locals; compile then compiles it as
// written.
func TestHoistFallsBack(t *testing.T) {
	names := make([]string, 198)
	for i := range names {
		names[i] = fmt.Sprintf("v%d", i)
	}
	src := "local " + strings.Join(names, ", ") + " = 1\n" +
		"function ksr_request_route() KSR.t.a() KSR.t.b() KSR.t.c() end\n"
	chunk, err := parse.Parse(strings.NewReader(src), "test.lua")
	if err != nil {
		t.Fatal(err)
	}
	hoisted, n := hoistKSR(chunk, knownButNope)
	if n != 3 {
		t.Fatalf("hoisted %d, want 3", n)
	}
	if _, err := lua.Compile(hoisted, "test.lua"); err == nil {
		t.Fatal("the hoisted script compiled: the test no longer needs the fallback")
	}
	proto, err := compile([]byte(src), "test.lua", knownButNope)
	if err != nil {
		t.Fatalf("compile did not fall back: %v", err)
	}
	if got, _ := traceRun(proto, RequestRoute); !strings.HasPrefix(got, "t.a t.b t.c;") {
		t.Fatalf("the route made the calls %q", got)
	}
}
