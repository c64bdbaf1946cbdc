package core

import (
	"context"
	"log/slog"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Env is how an exported Lua function reaches the request being routed.
// The script runtime owns one Env per Lua state and points it at each
// request in turn, so adapters find the message without a lookup.
type Env struct {
	// Msg is the current request; nil outside a route (script load).
	Msg *Msg
	// Ctx is cancelled when the route overruns its deadline: pass it to
	// anything that blocks.
	Ctx context.Context
	// Log is the script's logger.
	Log *slog.Logger
}

// LuaFunc is one function a module exports to the script, as Kamailio's
// KEMI export tables list them.
type LuaFunc struct {
	// Name is the function's name in the module's KSR sub-table.
	Name string
	// Fn reads its arguments with L's Check* helpers (a wrong argument is
	// a Lua error naming the function), pushes its results and returns
	// their count. Kamailio's convention: >0 success, <0 failure.
	Fn func(env *Env, L *lua.LState) int
}

// LuaInt pushes a Kamailio-style integer return code. Small codes come
// from a table: boxing a number into an LValue allocates.
func LuaInt(L *lua.LState, n int) int {
	if n >= -smallInts && n <= smallInts {
		L.Push(smallIntValues[n+smallInts])
	} else {
		L.Push(lua.LNumber(n))
	}
	return 1
}

const smallInts = 16

var smallIntValues = func() (v [2*smallInts + 1]lua.LValue) {
	for i := range v {
		v[i] = lua.LNumber(i - smallInts)
	}
	return v
}()

// LuaBool pushes a boolean result.
func LuaBool(L *lua.LState, b bool) int {
	L.Push(lua.LBool(b))
	return 1
}

// CheckMsg returns the current request or raises a Lua error when a
// function that needs one is called outside a route.
func CheckMsg(env *Env, L *lua.LState) *Msg {
	if env.Msg == nil {
		L.RaiseError("no current SIP message (called outside a route)")
	}
	return env.Msg
}

// MaxLuaString caps strings that exported functions accept from Lua, so a
// script cannot make Go build huge values.
const MaxLuaString = 64 << 10

// CheckString reads a string argument bounded by MaxLuaString.
func CheckString(L *lua.LState, n int) string {
	s := L.CheckString(n)
	if len(s) > MaxLuaString {
		L.ArgError(n, "string longer than 64 KiB")
	}
	return s
}

// CheckInt reads argument n as an integer. A numeric string counts, as in
// Lua's own arithmetic and in Kamailio's KEMI ("KSR.sl.send_reply("404",
// ...)" works there): ported scripts pass codes both ways.
func CheckInt(L *lua.LState, n int) int {
	switch v := L.Get(n).(type) {
	case lua.LNumber:
		return int(v)
	case lua.LString:
		if f, err := strconv.ParseFloat(strings.TrimSpace(string(v)), 64); err == nil && f == float64(int(f)) {
			return int(f)
		}
	}
	L.TypeError(n, lua.LTNumber)
	return 0
}
