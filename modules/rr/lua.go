package rr

import (
	"github.com/locus-sip/locus/core"
	lua "github.com/yuin/gopher-lua"
)

// LuaExports lists KSR.rr.
func (r *RR) LuaExports() []core.LuaFunc {
	return []core.LuaFunc{
		{Name: "record_route", Fn: func(env *core.Env, L *lua.LState) int {
			return core.LuaInt(L, r.RecordRoute(core.CheckMsg(env, L)))
		}},
		{Name: "loose_route", Fn: func(env *core.Env, L *lua.LState) int {
			return core.LuaInt(L, r.LooseRoute(core.CheckMsg(env, L)))
		}},
	}
}
