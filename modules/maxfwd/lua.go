package maxfwd

import (
	"github.com/locus-sip/locus/core"
	lua "github.com/yuin/gopher-lua"
)

// LuaExports lists KSR.maxfwd.
func (f *MaxFwd) LuaExports() []core.LuaFunc {
	return []core.LuaFunc{
		{Name: "process_maxfwd", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			limit := core.CheckInt(L, 1)
			res, err := f.Process(m.Req, limit)
			if err != nil {
				env.Log.Error("maxfwd: process_maxfwd failed", "limit", limit, "error", err, "src", m.SourceAddr())
			}
			return core.LuaInt(L, int(res))
		}},
		{Name: "is_maxfwd_lt", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			limit := core.CheckInt(L, 1)
			rc, err := f.LessThan(m.Req, limit)
			if err != nil {
				env.Log.Error("maxfwd: is_maxfwd_lt failed", "limit", limit, "error", err, "src", m.SourceAddr())
			}
			return core.LuaInt(L, rc)
		}},
	}
}
