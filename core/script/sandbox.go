package script

import (
	"log/slog"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// maxRep caps string.rep results: one long builtin call does not check the
// deadline, so it must not be able to run long.
const maxRep = 1 << 20

// removedGlobals are base functions a routing script must not have: file
// access, code loading at run time, and a full Go GC per call.
var removedGlobals = []string{"dofile", "loadfile", "load", "loadstring", "collectgarbage", "_printregs", "require", "module"}

// openSandbox opens the libraries a routing script may use: base (less
// removedGlobals), table, string and math. No os, io, debug, package or
// coroutine.
func openSandbox(L *lua.LState, log *slog.Logger) {
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	for _, name := range removedGlobals {
		L.SetGlobal(name, lua.LNil)
	}
	// print goes to the log, never to stdout.
	L.SetGlobal("print", L.NewFunction(func(L *lua.LState) int {
		n := L.GetTop()
		parts := make([]string, n)
		for i := 1; i <= n; i++ {
			parts[i-1] = L.ToStringMeta(L.Get(i)).String()
		}
		log.Info(strings.Join(parts, "\t"))
		return 0
	}))
	if str, ok := L.GetGlobal("string").(*lua.LTable); ok {
		rep := str.RawGetString("rep")
		str.RawSetString("rep", L.NewFunction(func(L *lua.LState) int {
			s := L.CheckString(1)
			n := L.CheckInt(2)
			if n > 0 && len(s)*n > maxRep {
				L.RaiseError("string.rep: result larger than %d bytes", maxRep)
			}
			L.Push(rep)
			L.Push(lua.LString(s))
			L.Push(lua.LNumber(n))
			L.Call(2, 1)
			return 1
		}))
	}
}
