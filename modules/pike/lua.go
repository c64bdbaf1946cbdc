package pike

import (
	"github.com/locus-sip/locus/core"
	lua "github.com/yuin/gopher-lua"
)

// LuaExports lists KSR.pike.
func (p *Pike) LuaExports() []core.LuaFunc {
	return []core.LuaFunc{
		{Name: "pike_check_req", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			return p.luaCheck(env, L, m.SrcIP)
		}},
		{Name: "pike_check_ip", Fn: func(env *core.Env, L *lua.LState) int {
			return p.luaCheck(env, L, core.CheckString(L, 1))
		}},
	}
}

func (p *Pike) luaCheck(env *core.Env, L *lua.LState, ip string) int {
	res, err := p.CheckIP(ip)
	if err != nil {
		env.Log.Error("pike: address not checked", "error", err)
	}
	return core.LuaInt(L, int(res))
}
