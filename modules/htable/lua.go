package htable

import (
	"errors"
	"strings"
	"time"

	"github.com/locus-sip/locus/core"
	lua "github.com/yuin/gopher-lua"
)

// NoIntVal is what sht_inc and sht_dec return when they cannot count:
// no such table, a string item, a full table (Kamailio's value).
const NoIntVal = -255

// LuaExports lists KSR.htable.
func (h *HTable) LuaExports() []core.LuaFunc {
	return []core.LuaFunc{
		{Name: "sht_get", Fn: h.luaGet(lua.LNil)},
		{Name: "sht_gete", Fn: h.luaGet(lua.LString(""))},
		{Name: "sht_getw", Fn: h.luaGet(lua.LString("<null>"))},
		{Name: "sht_sets", Fn: func(env *core.Env, L *lua.LState) int {
			return h.luaSet(env, L, "sht_sets", Str(core.CheckString(L, 3)), 0)
		}},
		{Name: "sht_seti", Fn: func(env *core.Env, L *lua.LState) int {
			return h.luaSet(env, L, "sht_seti", Int(L.CheckInt64(3)), 0)
		}},
		{Name: "sht_setxs", Fn: func(env *core.Env, L *lua.LState) int {
			return h.luaSet(env, L, "sht_setxs", Str(core.CheckString(L, 3)), seconds(core.CheckInt(L, 4)))
		}},
		{Name: "sht_setxi", Fn: func(env *core.Env, L *lua.LState) int {
			return h.luaSet(env, L, "sht_setxi", Int(L.CheckInt64(3)), seconds(core.CheckInt(L, 4)))
		}},
		{Name: "sht_setex", Fn: func(env *core.Env, L *lua.LState) int {
			t, key := h.args(env, L, "sht_setex")
			exp := core.CheckInt(L, 3)
			if t == nil || t.SetExpire(key, seconds(exp)) != nil {
				return core.LuaInt(L, -1)
			}
			return core.LuaInt(L, 1)
		}},
		{Name: "sht_inc", Fn: func(env *core.Env, L *lua.LState) int { return h.luaAdd(env, L, "sht_inc", 1) }},
		{Name: "sht_dec", Fn: func(env *core.Env, L *lua.LState) int { return h.luaAdd(env, L, "sht_dec", -1) }},
		{Name: "sht_rm", Fn: func(env *core.Env, L *lua.LState) int {
			t, key := h.args(env, L, "sht_rm")
			if t == nil {
				return core.LuaInt(L, -1)
			}
			t.Delete(key)
			return core.LuaInt(L, 1)
		}},
		{Name: "sht_is_null", Fn: func(env *core.Env, L *lua.LState) int {
			t, key := h.args(env, L, "sht_is_null")
			switch {
			case t == nil:
				return core.LuaInt(L, 2)
			case hasItem(t, key):
				return core.LuaInt(L, -1)
			}
			return core.LuaInt(L, 1)
		}},
		{Name: "sht_reset", Fn: func(env *core.Env, L *lua.LState) int {
			t := h.table(env, "sht_reset", core.CheckString(L, 1))
			if t == nil {
				return core.LuaInt(L, -1)
			}
			t.Reset()
			return core.LuaInt(L, 1)
		}},
		{Name: "sht_rm_name_re", Fn: h.luaRemove("sht_rm_name_re", Name, "re")},
		{Name: "sht_rm_value_re", Fn: h.luaRemove("sht_rm_value_re", StrValue, "re")},
		{Name: "sht_rm_name", Fn: h.luaRemove("sht_rm_name", Name, "")},
		{Name: "sht_rm_value", Fn: h.luaRemove("sht_rm_value", StrValue, "")},
		{Name: "sht_match_name", Fn: h.luaMatch("sht_match_name", Name)},
		{Name: "sht_has_name", Fn: h.luaMatch("sht_has_name", Name)},
		{Name: "sht_match_str_value", Fn: h.luaMatch("sht_match_str_value", StrValue)},
		{Name: "sht_has_str_value", Fn: h.luaMatch("sht_has_str_value", StrValue)},
	}
}

func hasItem(t *Table, key string) bool {
	_, ok := t.Get(key)
	return ok
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

// table finds a table by name, logging an unknown one.
func (h *HTable) table(env *core.Env, fn, name string) *Table {
	t, ok := h.tables[name]
	if !ok {
		env.Log.Error("htable: no such table", "function", fn, "table", name)
	}
	return t
}

// args reads the (table, key) arguments; the table is nil when unknown.
func (h *HTable) args(env *core.Env, L *lua.LState, fn string) (*Table, string) {
	name := core.CheckString(L, 1)
	key := core.CheckString(L, 2)
	return h.table(env, fn, name), key
}

func (h *HTable) luaGet(null lua.LValue) func(*core.Env, *lua.LState) int {
	return func(env *core.Env, L *lua.LState) int {
		t, key := h.args(env, L, "sht_get")
		if t == nil {
			L.Push(null)
			return 1
		}
		v, ok := t.Lookup(key)
		switch {
		case !ok:
			L.Push(null)
		case v.IsStr:
			L.Push(lua.LString(v.S))
		default:
			L.Push(lua.LNumber(v.N))
		}
		return 1
	}
}

func (h *HTable) luaSet(env *core.Env, L *lua.LState, fn string, v Value, exp time.Duration) int {
	t, key := h.args(env, L, fn)
	if t == nil {
		return core.LuaInt(L, -1)
	}
	if err := t.SetWithExpire(key, v, exp); err != nil {
		env.Log.Warn("htable: item not set", "function", fn, "table", t.Name(), "key", clip(key), "error", err)
		return core.LuaInt(L, -1)
	}
	return core.LuaInt(L, 1)
}

func (h *HTable) luaAdd(env *core.Env, L *lua.LState, fn string, delta int64) int {
	t, key := h.args(env, L, fn)
	if t == nil {
		return core.LuaInt(L, NoIntVal)
	}
	n, err := t.Add(key, delta)
	if err != nil {
		if !errors.Is(err, ErrNotInt) {
			env.Log.Warn("htable: item not counted", "function", fn, "table", t.Name(), "key", clip(key), "error", err)
		}
		return core.LuaInt(L, NoIntVal)
	}
	if n >= -16 && n <= 16 {
		return core.LuaInt(L, int(n))
	}
	L.Push(lua.LNumber(n))
	return 1
}

// luaMatch is sht_match_name(table, op, value) and its kin: 1 when an
// item matches, -1 when none does or the arguments are wrong.
func (h *HTable) luaMatch(fn string, target Target) func(*core.Env, *lua.LState) int {
	return func(env *core.Env, L *lua.LState) int {
		t := h.table(env, fn, core.CheckString(L, 1))
		op, operand := core.CheckString(L, 2), core.CheckString(L, 3)
		if t == nil {
			return core.LuaInt(L, -1)
		}
		m, err := NewMatcher(op, operand, h.regex.compile)
		if err != nil {
			env.Log.Error("htable: bad match", "function", fn, "error", err)
			return core.LuaInt(L, -1)
		}
		if t.Match(target, m) {
			return core.LuaInt(L, 1)
		}
		return core.LuaInt(L, -1)
	}
}

// luaRemove is sht_rm_name(table, op, value) and its kin; with a fixed
// op (the _re forms) the arguments are (table, expression). It returns
// 1, or -1 on wrong arguments.
func (h *HTable) luaRemove(fn string, target Target, fixedOp string) func(*core.Env, *lua.LState) int {
	return func(env *core.Env, L *lua.LState) int {
		t := h.table(env, fn, core.CheckString(L, 1))
		op, operand := fixedOp, ""
		if op == "" {
			op, operand = core.CheckString(L, 2), core.CheckString(L, 3)
		} else {
			operand = core.CheckString(L, 2)
		}
		if t == nil {
			return core.LuaInt(L, -1)
		}
		m, err := NewMatcher(op, operand, h.regex.compile)
		if err != nil {
			env.Log.Error("htable: bad match", "function", fn, "error", err)
			return core.LuaInt(L, -1)
		}
		t.DeleteMatching(target, m)
		return core.LuaInt(L, 1)
	}
}

// PVClasses provides $sht(table=>key), the item's value, and
// $shtex(table=>key), its remaining lifetime in seconds (0: forever).
// They are read-only; set items with KSR.htable.
func (h *HTable) PVClasses() map[string]core.PVClass {
	return map[string]core.PVClass{"sht": h.pvSht, "shtex": h.pvShtex}
}

// pvTarget splits "table=>key".
func (h *HTable) pvTarget(inner string) (*Table, string, bool) {
	name, key, ok := strings.Cut(inner, "=>")
	if !ok {
		return nil, "", false
	}
	t, ok := h.tables[name]
	return t, key, ok
}

func (h *HTable) pvSht(_ *core.Msg, inner string, _ int) any {
	t, key, ok := h.pvTarget(inner)
	if !ok {
		return nil
	}
	v, ok := t.Lookup(key)
	switch {
	case !ok:
		return nil
	case v.IsStr:
		return v.S
	}
	return int(v.N)
}

func (h *HTable) pvShtex(_ *core.Msg, inner string, _ int) any {
	t, key, ok := h.pvTarget(inner)
	if !ok {
		return nil
	}
	d, ok := t.TTL(key)
	if !ok {
		return nil
	}
	// Round up: an item with 0.4 s left is still there.
	return int((d + time.Second - 1) / time.Second)
}

// clip shortens a script-supplied key for a log line.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
