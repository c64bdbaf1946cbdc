package hdr

import (
	"github.com/locus-sip/locus/core"
	lua "github.com/yuin/gopher-lua"
)

// What KSR.hdr.get, gete and getw return for a missing header, as
// Kamailio's KEMI does: nil, "" and "<null>".
var (
	nullEmpty lua.LValue = lua.LString("")
	nullPrint lua.LValue = lua.LString("<null>")
)

// LuaExports lists KSR.hdr.
func (h *Hdr) LuaExports() []core.LuaFunc {
	return []core.LuaFunc{
		{Name: "get", Fn: luaGet(lua.LNil)},
		{Name: "gete", Fn: luaGet(nullEmpty)},
		{Name: "getw", Fn: luaGet(nullPrint)},
		{Name: "is_present", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			name := core.CheckString(L, 1)
			if !ValidName(name) {
				env.Log.Error("hdr: is_present: invalid header name", "name", clip(name))
				return core.LuaInt(L, -1)
			}
			if IsPresent(m.Req, name) {
				return core.LuaInt(L, 1)
			}
			return core.LuaInt(L, -1)
		}},
		{Name: "append", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			if err := Append(m.Req, core.CheckString(L, 1)); err != nil {
				env.Log.Error("hdr: append refused", "error", err)
				return core.LuaInt(L, -1)
			}
			return core.LuaInt(L, 1)
		}},
		{Name: "remove", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			name := core.CheckString(L, 1)
			if !ValidName(name) {
				env.Log.Error("hdr: remove: invalid header name", "name", clip(name))
				return core.LuaInt(L, -1)
			}
			// Kamailio returns 1 whether or not a header was there.
			if _, err := Remove(m.Req, name); err != nil {
				env.Log.Error("hdr: remove refused", "error", err)
				return core.LuaInt(L, -1)
			}
			return core.LuaInt(L, 1)
		}},
		{Name: "append_to_reply", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			if err := AppendToReply(m, core.CheckString(L, 1)); err != nil {
				env.Log.Error("hdr: append_to_reply refused", "error", err)
				return core.LuaInt(L, -1)
			}
			return core.LuaInt(L, 1)
		}},
	}
}

// luaGet returns KSR.hdr.get and its variants, which differ only in what
// they return when the header is missing.
func luaGet(missing lua.LValue) func(*core.Env, *lua.LState) int {
	return func(env *core.Env, L *lua.LState) int {
		m := core.CheckMsg(env, L)
		name := core.CheckString(L, 1)
		if !ValidName(name) {
			env.Log.Error("hdr: get: invalid header name", "name", clip(name))
			L.Push(missing)
			return 1
		}
		v, ok := Get(m.Req, name)
		if !ok {
			L.Push(missing)
			return 1
		}
		L.Push(lua.LString(v))
		return 1
	}
}

// clip shortens a script-supplied name for the log.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
