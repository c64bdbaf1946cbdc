package sl

import (
	"github.com/locus-sip/locus/core"
	lua "github.com/yuin/gopher-lua"
)

// LuaExports lists KSR.sl.
func (s *SL) LuaExports() []core.LuaFunc {
	reply := func(env *core.Env, L *lua.LState) int {
		m := core.CheckMsg(env, L)
		code := core.CheckInt(L, 1)
		reason := core.CheckString(L, 2)
		if err := s.SendReply(m, code, reason); err != nil {
			env.Log.Warn("sl: reply not sent", "code", code, "error", err)
			return core.LuaInt(L, -1)
		}
		return core.LuaInt(L, 1)
	}
	return []core.LuaFunc{
		{Name: "send_reply", Fn: reply},
		{Name: "sl_send_reply", Fn: reply},
		{Name: "sl_reply_error", Fn: func(env *core.Env, L *lua.LState) int {
			if err := s.ReplyError(core.CheckMsg(env, L)); err != nil {
				env.Log.Warn("sl: reply not sent", "error", err)
				return core.LuaInt(L, -1)
			}
			return core.LuaInt(L, 1)
		}},
	}
}
