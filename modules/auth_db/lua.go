package authdb

import (
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/auth"
	lua "github.com/yuin/gopher-lua"
)

// LuaExports lists KSR.auth_db.
func (d *AuthDB) LuaExports() []core.LuaFunc {
	authenticate := func(k auth.Kind, withMethod bool) func(*core.Env, *lua.LState) int {
		return func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			realm, table := core.CheckString(L, 1), core.CheckString(L, 2)
			method := ""
			if withMethod || L.GetTop() >= 3 {
				method = core.CheckString(L, 3)
			}
			res, err := d.Authenticate(env.Ctx, m, realm, table, k, method)
			auth.LogResult(env.Log, m, res, err)
			return core.LuaInt(L, int(res))
		}
	}
	return []core.LuaFunc{
		{Name: "auth_check", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			realm, table, flags := core.CheckString(L, 1), core.CheckString(L, 2), auth.Flags(L, 3)
			res, err := d.AuthCheck(env.Ctx, m, realm, table, flags)
			auth.LogResult(env.Log, m, res, err)
			return core.LuaInt(L, int(res))
		}},
		{Name: "www_authenticate", Fn: authenticate(auth.WWW, false)},
		{Name: "www_authenticate_method", Fn: authenticate(auth.WWW, true)},
		{Name: "proxy_authenticate", Fn: authenticate(auth.Proxy, false)},
		{Name: "is_subscriber", Fn: func(env *core.Env, L *lua.LState) int {
			uri, table, flags := core.CheckString(L, 1), core.CheckString(L, 2), auth.Flags(L, 3)
			ok, err := d.IsSubscriber(env.Ctx, uri, table, flags)
			if err != nil {
				env.Log.Error("auth_db: is_subscriber failed", "error", err)
				return core.LuaInt(L, -1)
			}
			if ok {
				return core.LuaInt(L, 1)
			}
			return core.LuaInt(L, -1)
		}},
	}
}
