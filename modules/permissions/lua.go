package permissions

import (
	"net/netip"

	"github.com/locus-sip/locus/core"
	lua "github.com/yuin/gopher-lua"
)

// LuaExports lists KSR.permissions.
func (p *Permissions) LuaExports() []core.LuaFunc {
	return []core.LuaFunc{
		{Name: "allow_source_address", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			group := L.OptInt(1, 1)
			return p.result(L, p.AllowSource(m, group))
		}},
		{Name: "allow_address", Fn: func(env *core.Env, L *lua.LState) int {
			group, ip, port := core.CheckInt(L, 1), core.CheckString(L, 2), core.CheckInt(L, 3)
			a, ok := parseIP(env, "allow_address", ip)
			return p.result(L, ok && p.Allow(group, a, port))
		}},
		{Name: "allow_source_address_group", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			return p.group(L, p.SourceGroup(m))
		}},
		{Name: "allow_address_group", Fn: func(env *core.Env, L *lua.LState) int {
			ip, port := core.CheckString(L, 1), core.CheckInt(L, 2)
			g := -1
			if a, ok := parseIP(env, "allow_address_group", ip); ok {
				g = p.Table().Group(a, port)
			}
			return p.group(L, g)
		}},
	}
}

func parseIP(env *core.Env, fn, ip string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		env.Log.Error("permissions: not an IP address", "function", fn, "error", err)
		return a, false
	}
	return a, true
}

func (p *Permissions) result(L *lua.LState, ok bool) int {
	p.metrics.checked(ok)
	if ok {
		return core.LuaInt(L, 1)
	}
	return core.LuaInt(L, -1)
}

func (p *Permissions) group(L *lua.LState, g int) int {
	p.metrics.checked(g >= 0)
	return core.LuaInt(L, g)
}

// Allow reports whether ip and port belong to group.
func (p *Permissions) Allow(group int, ip netip.Addr, port int) bool {
	return p.Table().Allow(group, ip, port)
}

// AllowSource reports whether the request's source address and port
// belong to group.
func (p *Permissions) AllowSource(m *core.Msg, group int) bool {
	a, err := netip.ParseAddr(m.SrcIP)
	return err == nil && p.Allow(group, a, m.SrcPort)
}

// SourceGroup is the lowest group the request's source belongs to, or -1.
func (p *Permissions) SourceGroup(m *core.Msg) int {
	a, err := netip.ParseAddr(m.SrcIP)
	if err != nil {
		return -1
	}
	return p.Table().Group(a, m.SrcPort)
}
