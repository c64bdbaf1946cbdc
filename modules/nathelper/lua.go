package nathelper

import (
	"github.com/locus-sip/locus/core"
	lua "github.com/yuin/gopher-lua"
)

// LuaExports lists KSR.nathelper: Kamailio's KEMI nathelper functions.
func (n *NATHelper) LuaExports() []core.LuaFunc {
	return []core.LuaFunc{
		{Name: "nat_uac_test", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			if n.UACTest(m, core.CheckInt(L, 1)) != 0 {
				return core.LuaInt(L, 1)
			}
			return core.LuaInt(L, -1)
		}},
		{Name: "is_rfc1918", Fn: func(env *core.Env, L *lua.LState) int {
			return core.LuaInt(L, n.IsRFC1918(core.CheckString(L, 1)))
		}},
		{Name: "fix_nated_contact", Fn: func(env *core.Env, L *lua.LState) int {
			return result(env, "fix_nated_contact", n.FixNatedContact(core.CheckMsg(env, L)), L)
		}},
		{Name: "fix_nated_register", Fn: func(env *core.Env, L *lua.LState) int {
			_, err := n.FixNatedRegister(core.CheckMsg(env, L))
			return result(env, "fix_nated_register", err, L)
		}},
		{Name: "add_rcv_param", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			_, err := n.AddRcvParam(m, L.OptInt(1, 0) != 0)
			return result(env, "add_rcv_param", err, L)
		}},
		{Name: "set_contact_alias", Fn: func(env *core.Env, L *lua.LState) int {
			return result(env, "set_contact_alias", n.SetContactAlias(core.CheckMsg(env, L)), L)
		}},
		{Name: "add_contact_alias", Fn: func(env *core.Env, L *lua.LState) int {
			added, err := n.AddContactAlias(core.CheckMsg(env, L))
			return added12(env, "add_contact_alias", added, err, L)
		}},
		{Name: "add_contact_alias_addr", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			added, err := n.AddContactAliasAddr(m, core.CheckString(L, 1), core.CheckString(L, 2), core.CheckString(L, 3))
			return added12(env, "add_contact_alias_addr", added, err, L)
		}},
		{Name: "handle_ruri_alias", Fn: func(env *core.Env, L *lua.LState) int {
			found, err := n.HandleRURIAlias(core.CheckMsg(env, L))
			return added12(env, "handle_ruri_alias", found, err, L)
		}},
	}
}

// result pushes 1, or -1 and logs err.
func result(env *core.Env, fn string, err error, L *lua.LState) int {
	if err != nil {
		env.Log.Debug("nathelper: "+fn+" failed", "error", err)
		return core.LuaInt(L, -1)
	}
	return core.LuaInt(L, 1)
}

// added12 pushes 1 when done, 2 when there was nothing to do, -1 on err.
func added12(env *core.Env, fn string, done bool, err error, L *lua.LState) int {
	switch {
	case err != nil:
		return result(env, fn, err, L)
	case done:
		return core.LuaInt(L, 1)
	}
	return core.LuaInt(L, 2)
}
