package sanity

import (
	"github.com/locus-sip/locus/core"
	lua "github.com/yuin/gopher-lua"
)

// LuaExports lists KSR.sanity.
func (s *Sanity) LuaExports() []core.LuaFunc {
	return []core.LuaFunc{
		{Name: "sanity_check", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			checks, uris, err := ParseFlags(core.CheckInt(L, 1), core.CheckInt(L, 2))
			if err != nil {
				env.Log.Error("sanity: sanity_check", "error", err)
				return core.LuaInt(L, -1)
			}
			return core.LuaInt(L, s.luaCheck(env, m, checks, uris))
		}},
		{Name: "sanity_check_defaults", Fn: func(env *core.Env, L *lua.LState) int {
			return core.LuaInt(L, s.luaCheck(env, core.CheckMsg(env, L), s.DefaultChecks, s.URIChecks))
		}},
		{Name: "sanity_reply", Fn: func(env *core.Env, L *lua.LState) int {
			if err := s.Reply(core.CheckMsg(env, L)); err != nil {
				env.Log.Warn("sanity: reply not sent", "error", err)
				return core.LuaInt(L, -1)
			}
			return core.LuaInt(L, 1)
		}},
	}
}

// luaCheck runs CheckMsg and logs the outcome; 1 passed, -1 failed.
func (s *Sanity) luaCheck(env *core.Env, m *core.Msg, checks Checks, uris URIChecks) int {
	f, err := s.CheckMsg(m, checks, uris)
	if f == nil {
		return 1
	}
	env.Log.Debug("sanity: check failed", "check", f.Check.String(), "code", f.Code, "reason", f.Reason,
		"method", string(m.Req.Method), "src", m.SourceAddr())
	if err != nil {
		env.Log.Warn("sanity: reply not sent", "code", f.Code, "error", err)
	}
	return -1
}
