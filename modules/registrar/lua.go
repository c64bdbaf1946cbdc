package registrar

import (
	"errors"
	"strconv"

	"github.com/locus-sip/locus/core"
	lua "github.com/yuin/gopher-lua"
)

// LuaExports lists KSR.registrar.
func (r *Registrar) LuaExports() []core.LuaFunc {
	save := func(env *core.Env, L *lua.LState, table string, flags int, uri string) int {
		code, err := r.Save(env.Ctx, core.CheckMsg(env, L), table, flags, uri)
		if err != nil && code > 0 {
			env.Log.Warn("registrar: reply not sent", "error", err)
		}
		return core.LuaInt(L, code)
	}
	lookup := func(env *core.Env, L *lua.LState, table, uri string) int {
		code, err := r.Lookup(env.Ctx, core.CheckMsg(env, L), table, uri)
		if err != nil {
			env.Log.Error("registrar: lookup failed", "error", err)
		}
		return core.LuaInt(L, code)
	}
	return []core.LuaFunc{
		{Name: "save", Fn: func(env *core.Env, L *lua.LState) int {
			return save(env, L, L.CheckString(1), optFlags(L, 2), "")
		}},
		{Name: "save_uri", Fn: func(env *core.Env, L *lua.LState) int {
			return save(env, L, L.CheckString(1), optFlags(L, 2), core.CheckString(L, 3))
		}},
		{Name: "reg_send_reply", Fn: func(env *core.Env, L *lua.LState) int {
			if err := r.SendReply(core.CheckMsg(env, L)); err != nil {
				env.Log.Warn("registrar: reg_send_reply", "error", err)
				return core.LuaInt(L, -1)
			}
			return core.LuaInt(L, 1)
		}},
		{Name: "lookup", Fn: func(env *core.Env, L *lua.LState) int {
			return lookup(env, L, L.CheckString(1), "")
		}},
		{Name: "lookup_uri", Fn: func(env *core.Env, L *lua.LState) int {
			return lookup(env, L, L.CheckString(1), core.CheckString(L, 2))
		}},
		{Name: "registered", Fn: func(env *core.Env, L *lua.LState) int {
			ok, err := r.Registered(env.Ctx, core.CheckMsg(env, L), L.CheckString(1), L.OptString(2, ""))
			if err != nil {
				env.Log.Error("registrar: registered", "error", err)
				return core.LuaInt(L, -1)
			}
			if ok {
				return core.LuaInt(L, 1)
			}
			return core.LuaInt(L, -1)
		}},
		{Name: "unregister", Fn: func(env *core.Env, L *lua.LState) int {
			_, err := r.Unregister(env.Ctx, L.CheckString(1), core.CheckString(L, 2), L.OptString(3, ""))
			switch {
			case errors.Is(err, ErrNoBinding):
				return core.LuaInt(L, -1)
			case err != nil:
				env.Log.Error("registrar: unregister", "error", err)
				return core.LuaInt(L, -1)
			}
			return core.LuaInt(L, 1)
		}},
		{Name: "reg_fetch_contacts", Fn: func(env *core.Env, L *lua.LState) int {
			n, err := r.FetchContacts(env.Ctx, core.CheckMsg(env, L), L.CheckString(1), core.CheckString(L, 2), L.CheckString(3))
			if err != nil {
				env.Log.Error("registrar: reg_fetch_contacts", "error", err)
				return core.LuaInt(L, -1)
			}
			if n == 0 {
				return core.LuaInt(L, -1)
			}
			return core.LuaInt(L, 1)
		}},
		{Name: "reg_free_contacts", Fn: func(env *core.Env, L *lua.LState) int {
			r.FreeContacts(core.CheckMsg(env, L), L.CheckString(1))
			return core.LuaInt(L, 1)
		}},
	}
}

// optFlags reads save flags as a number or a string ("0x04", "4").
func optFlags(L *lua.LState, n int) int {
	switch v := L.Get(n).(type) {
	case lua.LNumber:
		return int(v)
	case lua.LString:
		f, err := strconv.ParseInt(string(v), 0, 32)
		if err != nil {
			L.ArgError(n, "flags: want a number")
		}
		return int(f)
	case *lua.LNilType:
		return 0
	}
	L.ArgError(n, "flags: want a number")
	return 0
}
