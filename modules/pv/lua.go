package pv

import (
	"strconv"

	"github.com/locus-sip/locus/core"
	lua "github.com/yuin/gopher-lua"
)

// What the KSR.pv getters return for $null, as Kamailio's KEMI does: get
// nil, gete "" and getw "<null>".
var (
	nullEmpty lua.LValue = lua.LString("")
	nullPrint lua.LValue = lua.LString("<null>")
)

// LuaExports lists KSR.pv.
func (p *PV) LuaExports() []core.LuaFunc {
	return []core.LuaFunc{
		{Name: "get", Fn: p.luaGet(lua.LNil)},
		{Name: "gete", Fn: p.luaGet(nullEmpty)},
		{Name: "getw", Fn: p.luaGet(nullPrint)},
		{Name: "geti", Fn: func(env *core.Env, L *lua.LState) int {
			v, ok := p.get(env, L)
			if !ok {
				return core.LuaInt(L, 0)
			}
			return core.LuaInt(L, toInt(v))
		}},
		{Name: "getvs", Fn: func(env *core.Env, L *lua.LState) int {
			v, ok := p.get(env, L)
			def := core.CheckString(L, 2)
			if !ok || v.Type == Null {
				L.Push(lua.LString(def))
				return 1
			}
			return push(L, v, lua.LNil)
		}},
		{Name: "getvn", Fn: func(env *core.Env, L *lua.LState) int {
			v, ok := p.get(env, L)
			def := core.CheckInt(L, 2)
			if !ok || v.Type == Null {
				return core.LuaInt(L, def)
			}
			return push(L, v, lua.LNil)
		}},
		{Name: "sets", Fn: func(env *core.Env, L *lua.LState) int {
			return p.set(env, L, StrValue(core.CheckString(L, 2)))
		}},
		{Name: "seti", Fn: func(env *core.Env, L *lua.LState) int {
			return p.set(env, L, IntValue(core.CheckInt(L, 2)))
		}},
		{Name: "unset", Fn: func(env *core.Env, L *lua.LState) int {
			return p.set(env, L, Value{})
		}},
		{Name: "is_null", Fn: func(env *core.Env, L *lua.LState) int {
			v, ok := p.get(env, L)
			// Kamailio answers true for a name it cannot parse too.
			return core.LuaBool(L, !ok || v.Type == Null)
		}},
	}
}

// luaGet returns KSR.pv.get and its variants, which differ only in what
// they return for $null or an unknown name.
func (p *PV) luaGet(null lua.LValue) func(*core.Env, *lua.LState) int {
	return func(env *core.Env, L *lua.LState) int {
		v, ok := p.get(env, L)
		if !ok {
			L.Push(null)
			return 1
		}
		return push(L, v, null)
	}
}

// get reads the pseudo-variable named by argument 1; ok is false (and the
// error logged, as Kamailio does) when the name is not one.
func (p *PV) get(env *core.Env, L *lua.LState) (Value, bool) {
	m := core.CheckMsg(env, L)
	name := core.CheckString(L, 1)
	s, err := p.parse(name)
	if err != nil {
		env.Log.Error("pv: cannot get pseudo-variable", "error", err)
		return Value{}, false
	}
	return p.Get(m, s), true
}

// set sets the pseudo-variable named by argument 1 and pushes Kamailio's
// boolean result.
func (p *PV) set(env *core.Env, L *lua.LState, v Value) int {
	m := core.CheckMsg(env, L)
	name := core.CheckString(L, 1)
	s, err := p.parse(name)
	if err == nil {
		err = p.Set(m, s, v)
	}
	if err != nil {
		env.Log.Error("pv: cannot set pseudo-variable", "name", clip(name), "error", err)
		return core.LuaBool(L, false)
	}
	return core.LuaBool(L, true)
}

// push pushes v: Int as a Lua number, Str as a string, Null as null.
func push(L *lua.LState, v Value, null lua.LValue) int {
	switch v.Type {
	case Int:
		return core.LuaInt(L, v.N)
	case Str:
		L.Push(lua.LString(v.S))
	default:
		L.Push(null)
	}
	return 1
}

// toInt is KSR.pv.geti's conversion, as Kamailio's str2sint leaves it:
// integers as they are, strings by their leading digits ("12ab" is 12,
// " 12" is 0), $null 0.
func toInt(v Value) int {
	switch v.Type {
	case Int:
		return v.N
	case Str:
		s := v.S
		end := 0
		if end < len(s) && (s[end] == '-' || s[end] == '+') {
			end++
		}
		for end < len(s) && s[end] >= '0' && s[end] <= '9' {
			end++
		}
		n, err := strconv.Atoi(s[:end])
		if err != nil {
			return 0
		}
		return n
	}
	return 0
}
