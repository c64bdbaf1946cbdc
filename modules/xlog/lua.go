package xlog

import (
	"context"

	"github.com/locus-sip/locus/core"
	lua "github.com/yuin/gopher-lua"
)

// LuaExports lists KSR.xlog: Kamailio's KEMI xlog functions.
func (x *XLog) LuaExports() []core.LuaFunc {
	fs := []core.LuaFunc{{Name: "xlog", Fn: func(env *core.Env, L *lua.LState) int {
		l := ParseLevel(core.CheckString(L, 1))
		return core.LuaInt(L, x.Log(context.Background(), env.Msg, l, core.CheckString(L, 2)))
	}}}
	for _, f := range []struct {
		name  string
		level Level
	}{
		{"xdbg", LevelDbg}, {"xinfo", LevelInfo}, {"xnotice", LevelNotice}, {"xwarn", LevelWarn},
		{"xerr", LevelErr}, {"xcrit", LevelCrit}, {"xalert", LevelAlert},
	} {
		level := f.level
		fs = append(fs, core.LuaFunc{Name: f.name, Fn: func(env *core.Env, L *lua.LState) int {
			return core.LuaInt(L, x.Log(context.Background(), env.Msg, level, core.CheckString(L, 1)))
		}})
	}
	return fs
}
