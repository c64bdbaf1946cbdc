package script

import (
	"strings"
	"testing"

	"github.com/yuin/gopher-lua/parse"
)

// exitCases are scripts with the exits exitReturns should rewrite: the
// cases of TestExitReturns and seeds of FuzzExitReturns.
var exitCases = func() []struct {
	name, src string
	want      int
} {
	const helper = "function helper() KSR.x.exit() end\n"
	return []struct {
		name, src string
		want      int
	}{
		{"route body, blocks and loops", `function ksr_request_route()
			if KSR.is_REGISTER() then KSR.registrar.save("location", 0) KSR.x.exit() end
			if a then b() elseif c then KSR.x.exit() else KSR.x.exit() end
			do KSR.x.exit() end
			while a do KSR.x.exit() end
			repeat KSR.x.exit() until a
			for i = 1, 2 do KSR.x.exit() end
			for k, v in pairs(t) do KSR.x.exit() end
			KSR.sl.sl_send_reply(404, "Not Found")
			KSR.x.exit()
		end`, 9},
		{"not in a function defined in the route", `function ksr_request_route()
			pcall(function() KSR.x.exit() end)
			local f = function() KSR.x.exit() end
			KSR.x.exit()
		end`, 1},
		{"sub-route", helper + `function ksr_request_route() helper() KSR.x.exit() end`, 2},
		{"nested sub-routes", `function a() if x then KSR.x.exit() end b() end
			function b() for i = 1, 2 do KSR.x.exit() end end
			function ksr_request_route() if y then a() end KSR.x.exit() end`, 3},
		{"sub-route the engine calls", `function failure() KSR.x.exit() end
			function ksr_request_route() KSR.x.exit() end`, 2},
		{"not a sub-route used as a value", helper + `function ksr_request_route() pcall(helper) KSR.x.exit() end`, 1},
		{"not a sub-route called in an expression", helper + `function ksr_request_route() if helper() then end KSR.x.exit() end`, 1},
		{"not a sub-route called from a closure", helper + `function ksr_request_route() local f = function() helper() end KSR.x.exit() end`, 1},
		{"not a sub-route called at load", helper + `helper()
			function ksr_request_route() helper() KSR.x.exit() end`, 1},
		{"not a sub-route named in a string", helper + `function ksr_request_route() helper() local s = "helper" KSR.x.exit() end`, 1},
		{"not a sub-route defined twice", helper + helper + `function ksr_request_route() helper() KSR.x.exit() end`, 1},
		{"not a sub-route called only from one that is not", `function a() KSR.x.exit() end
			function b() a() end
			local f = b
			function ksr_request_route() b() KSR.x.exit() end`, 1},
		{"no sub-routes when the sentinel's name is taken", helper + `local __locus_exit = 1
			function ksr_request_route() helper() KSR.x.exit() end`, 1},
		{"not with arguments", `function ksr_request_route() KSR.x.exit(1) end`, 0},
		{"not drop", `function ksr_request_route() KSR.x.drop() end`, 0},
		{"no route", helper, 0},
		{"route defined twice", `function ksr_request_route() KSR.x.exit() end
			function ksr_request_route() KSR.x.exit() end`, 0},
		{"route called from Lua", `function ksr_request_route() KSR.x.exit() end
			function other() ksr_request_route() end`, 0},
		{"route named in a string", `function ksr_request_route() KSR.x.exit() end
			local n = "ksr_request_route"`, 0},
		{"local KSR", `local KSR = KSR
			function ksr_request_route() KSR.x.exit() end`, 0},
		{"KSR parameter", `function f(KSR) end
			function ksr_request_route() KSR.x.exit() end`, 0},
		{"KSR loop variable", `function ksr_request_route() for KSR = 1, 2 do end KSR.x.exit() end`, 0},
		{"KSR generic loop variable", `function ksr_request_route() for _, KSR in ipairs({}) do end KSR.x.exit() end`, 0},
		{"exit replaced", `KSR.x.exit = function() end
			function ksr_request_route() KSR.x.exit() end`, 0},
		{"KSR replaced", `KSR = {}
			function ksr_request_route() KSR.x.exit() end`, 0},
		{"exit defined", `function KSR.x.exit() end
			function ksr_request_route() KSR.x.exit() end`, 0},
		{"KSR aliased", `local k = KSR
			function ksr_request_route() KSR.x.exit() end`, 0},
		{"KSR.x aliased", `local x = KSR.x
			function ksr_request_route() KSR.x.exit() end`, 0},
		{"KSR passed on", `function ksr_request_route() f(KSR) KSR.x.exit() end`, 0},
		{"KSR in an expression", `function ksr_request_route() if a and KSR == nil then end KSR.x.exit() end`, 0},
		{"KSR.x in a table", `function ksr_request_route() local t = {f = KSR.x} KSR.x.exit() end`, 0},
		{"KSR.x concatenated", `function ksr_request_route() local s = "" .. -#KSR.x KSR.x.exit() end`, 0},
		{"_G named", helper + `function ksr_request_route() _G["help" .. "er"]() KSR.x.exit() end`, 0},
		{"getfenv named", helper + `function ksr_request_route() getfenv(1).helper() KSR.x.exit() end`, 0},
		{"KSR as a string", `function ksr_request_route() rawset(_G, "KSR", nil) KSR.x.exit() end`, 0},
		{"other KSR tables may be aliased", `local sl = KSR.sl
			function ksr_request_route() sl.sl_send_reply(200, "OK") KSR.x.exit() end`, 1},
	}
}()

// TestExitReturns: which KSR.x.exit() calls become returns, and which
// scripts keep every exit raising because something in them could tell.
func TestExitReturns(t *testing.T) {
	for _, tc := range exitCases {
		t.Run(tc.name, func(t *testing.T) {
			chunk, err := parse.Parse(strings.NewReader(tc.src), "test.lua")
			if err != nil {
				t.Fatal(err)
			}
			if _, got := exitReturns(chunk); got != tc.want {
				t.Fatalf("rewrote %d exits, want %d", got, tc.want)
			}
		})
	}
}
