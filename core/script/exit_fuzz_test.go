package script

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// FuzzExitReturns compiles a script twice, as written and with its exits
// rewritten (exitReturns), and runs each global function of it (the
// engine may call any of them: the request route, failure and event
// routes) in both, against a KSR whose every function records its call
// and returns a value that depends on the calls before it. The two must
// make the same calls, in the same order, and end the same way: an exit
// and a return are the same end, as Call sees them.
func FuzzExitReturns(f *testing.F) {
	addScriptSeeds(f)
	f.Fuzz(func(t *testing.T, src string) {
		compareRewrite(t, src, func(chunk []ast.Stmt) []ast.Stmt {
			chunk, _ = exitReturns(chunk)
			return chunk
		})
	})
}

// FuzzHoistKSR does the same for what a Runtime compiles: exits
// rewritten, then every KSR.m.f call hoisted (the fuzzed KSR has them
// all).
func FuzzHoistKSR(f *testing.F) {
	addScriptSeeds(f)
	for _, tc := range hoistCases {
		f.Add(tc.src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		compareRewrite(t, src, func(chunk []ast.Stmt) []ast.Stmt {
			chunk, _ = exitReturns(chunk)
			chunk, _ = hoistKSR(chunk, func(mod, _ string) bool { return mod != "" })
			return chunk
		})
	})
}

// addScriptSeeds adds the cases of TestExitReturns, the shipped scripts
// and examples, and scripts whose branches depend on what KSR returns.
func addScriptSeeds(f *testing.F) {
	for _, tc := range exitCases {
		f.Add(tc.src)
	}
	for _, pattern := range []string{"../../scripts/*.lua", "../../bench/*.lua", "../../examples/*/*.lua"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if src, err := os.ReadFile(file); err == nil {
				f.Add(string(src))
			}
		}
	}
	f.Add(`function a(n) if KSR.t.f() > 0 then KSR.x.exit() end if n > 0 then a(n - 1) end KSR.t.g() end
function b() for i = 1, 3 do a(i) KSR.t.h(i) end end
function ksr_request_route() b() if KSR.t.f() == 0 then a(2) end KSR.t.last() end`)
	f.Add(`function s1() KSR.t.one() if KSR.t.f() < 0 then KSR.x.exit() end return KSR.t.two() end
function s2() while KSR.t.f() >= 0 do s1() end KSR.x.exit() end
function ksr_failure_manage() s1() KSR.x.exit() end
function ksr_request_route() repeat s2() until KSR.t.f() ~= 0 KSR.t.after() end`)

	f.Add(`function stop() KSR.t.before() KSR.x.exit() end
function ksr_request_route() _G["st" .. "op"]() KSR.t.after() end`)
	f.Add(`function stop() KSR.x.exit() end
function ksr_request_route() local f = stop f() KSR.t.after() pcall(stop) KSR.t.last() end`)
}

// compareRewrite compiles src as written and rewritten, runs each global
// function of both, and fails when they make different KSR calls or end
// differently. A script that does not parse or compile as written is no
// test.
func compareRewrite(t *testing.T, src string, rewrite func([]ast.Stmt) []ast.Stmt) {
	plain, err := parse.Parse(strings.NewReader(src), "fuzz.lua")
	if err != nil {
		return
	}
	rewritten, err := parse.Parse(strings.NewReader(src), "fuzz.lua")
	if err != nil {
		t.Fatalf("the second parse failed: %v", err)
	}
	rewritten = rewrite(rewritten)
	want, err := lua.Compile(plain, "fuzz.lua")
	if err != nil {
		return
	}
	got, err := lua.Compile(rewritten, "fuzz.lua")
	if err != nil {
		t.Fatalf("the rewritten script does not compile: %v", err)
	}
	for _, fn := range slices.Sorted(maps.Keys(globalFunctions(plain))) {
		w, wok := traceRun(want, fn)
		g, gok := traceRun(got, fn)
		if !wok || !gok {
			continue // ran out of time: nothing to compare
		}
		if w != g {
			t.Fatalf("%s ran differently once rewritten:\nas written: %s\nrewritten:  %s", fn, w, g)
		}
	}
}

// traceRun runs a compiled chunk in a fresh sandboxed state, then calls
// its global fn, and returns the KSR calls made and how the call ended.
// It reports false when the state ran out of time.
func traceRun(proto *lua.FunctionProto, fn string) (string, bool) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true, CallStackSize: 200, RegistrySize: 1024, RegistryMaxSize: 1 << 16})
	defer L.Close()
	openSandbox(L, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	L.SetContext(ctx)
	var calls []string
	record := func(name string) *lua.LFunction {
		return L.NewFunction(func(L *lua.LState) int {
			calls = append(calls, name)
			L.Push(lua.LNumber(len(calls)%3 - 1)) // -1, 0, 1, then again
			return 1
		})
	}
	// KSR.x.exit raises as the real one does (and is no call to
	// record: the rewrite removes it); any other KSR.a() or KSR.a.b()
	// records its call.
	exit := L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("%s", exitMarker)
		return 0
	})
	ksr := L.NewTable()
	x := L.NewTable()
	x.RawSetString("exit", exit)
	x.RawSetString("drop", exit)
	ksr.RawSetString("x", x)
	meta := L.NewTable()
	meta.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		mod := L.CheckString(2)
		sub := L.NewTable()
		subMeta := L.NewTable()
		subMeta.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
			L.Push(record(mod + "." + L.CheckString(2)))
			return 1
		}))
		subMeta.RawSetString("__call", L.NewFunction(func(L *lua.LState) int {
			calls = append(calls, mod)
			L.Push(lua.LNumber(len(calls)%3 - 1))
			return 1
		}))
		L.SetMetatable(sub, subMeta)
		L.Push(sub)
		return 1
	}))
	L.SetMetatable(ksr, meta)
	L.SetGlobal("KSR", ksr)

	end := run(L, L.NewFunctionFromProto(proto))
	if end == "" {
		if f, ok := L.GetGlobal(fn).(*lua.LFunction); ok {
			end = run(L, f)
		}
	}
	if ctx.Err() != nil {
		return "", false
	}
	return fmt.Sprintf("%s; %s", strings.Join(calls, " "), end), true
}

// exitMarker is the error the fuzzed KSR.x.exit raises.
const exitMarker = "<exit>"

// run calls f and says how it ended: "" when it returned or exited (the
// same end for Call), else its error.
func run(L *lua.LState, f *lua.LFunction) string {
	L.Push(f)
	err := L.PCall(0, 0, nil)
	if err == nil || strings.Contains(err.Error(), exitMarker) {
		return ""
	}
	return "error: " + err.Error()
}
