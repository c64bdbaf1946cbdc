package script

import (
	"context"
	"log/slog"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	lua "github.com/yuin/gopher-lua"
)

// installKSR builds the global KSR table: the core functions, KSR.x, and
// one sub-table per export. Each function closes over this state's env.
func installKSR(L *lua.LState, env *core.Env, exports []Export) {
	ksr := L.NewTable()
	for _, ex := range withBuiltins(exports) {
		tbl := ksr
		if ex.Name != "" {
			if t, ok := ksr.RawGetString(ex.Name).(*lua.LTable); ok {
				tbl = t
			} else {
				tbl = L.NewTable()
				ksr.RawSetString(ex.Name, tbl)
			}
		}
		for _, f := range ex.Funcs {
			fn := f.Fn
			tbl.RawSetString(f.Name, L.NewFunction(func(L *lua.LState) int { return fn(env, L) }))
		}
	}
	L.SetGlobal("KSR", ksr)
}

// withBuiltins returns the exports with KSR's own functions first.
func withBuiltins(exports []Export) []Export {
	return append([]Export{{Funcs: coreFuncs()}, {Name: "x", Funcs: xFuncs()}}, exports...)
}

// knownFuncs reports which functions KSR has with these exports: fn is
// KSR.fn when mod is empty, else KSR.mod.fn.
func knownFuncs(exports []Export) func(mod, fn string) bool {
	set := map[[2]string]bool{}
	for _, ex := range withBuiltins(exports) {
		for _, f := range ex.Funcs {
			set[[2]string{ex.Name, f.Name}] = true
		}
	}
	return func(mod, fn string) bool { return set[[2]string{mod, fn}] }
}

// xFuncs are KSR.x: stop the route, with or without a reply.
func xFuncs() []core.LuaFunc {
	return []core.LuaFunc{
		{Name: "exit", Fn: func(env *core.Env, L *lua.LState) int {
			panic(exitError) // what L.Error raises, without building it
		}},
		{Name: "drop", Fn: func(env *core.Env, L *lua.LState) int {
			if env.Msg != nil {
				env.Msg.Dropped = true
			}
			panic(exitError)
		}},
	}
}

// methodLetters are KSR.is_method_in's one-letter method codes, as Kamailio has them.
var methodLetters = map[byte]sip.RequestMethod{
	'I': sip.INVITE, 'A': sip.ACK, 'B': sip.BYE, 'C': sip.CANCEL, 'R': sip.REGISTER,
	'O': sip.OPTIONS, 'S': sip.SUBSCRIBE, 'N': sip.NOTIFY, 'M': sip.MESSAGE, 'F': sip.INFO,
	'P': sip.PRACK, 'U': sip.UPDATE, 'E': sip.PUBLISH, 'G': "GET", 'K': "KDMQ",
}

// isMethods are the KSR.is_<METHOD>() predicates.
var isMethods = []sip.RequestMethod{
	sip.INVITE, sip.ACK, sip.BYE, sip.CANCEL, sip.REGISTER, sip.OPTIONS, sip.SUBSCRIBE,
	sip.NOTIFY, sip.MESSAGE, sip.INFO, sip.PRACK, sip.UPDATE, sip.PUBLISH, sip.REFER,
}

func coreFuncs() []core.LuaFunc {
	fs := []core.LuaFunc{
		{Name: "is_method_in", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			codes := L.CheckString(1)
			for i := 0; i < len(codes); i++ {
				if want, ok := methodLetters[codes[i]&^0x20]; ok && m.Req.Method == want {
					return core.LuaBool(L, true)
				}
			}
			return core.LuaBool(L, false)
		}},
		{Name: "is_method", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			return core.LuaBool(L, strings.EqualFold(string(m.Req.Method), L.CheckString(1)))
		}},
		{Name: "setdsturi", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			uri := core.CheckString(L, 1)
			var u sip.Uri
			if err := sip.ParseUri(uri, &u); err != nil || u.Host == "" {
				return core.LuaInt(L, -1)
			}
			m.DstURI, m.DstConn = uri, ""
			return core.LuaInt(L, 1)
		}},
		{Name: "resetdsturi", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			m.DstURI, m.DstConn = "", ""
			return 0
		}},
		{Name: "force_rport", Fn: func(env *core.Env, L *lua.LState) int {
			core.CheckMsg(env, L).ForceRport = true
			return core.LuaInt(L, 1)
		}},
		{Name: "dbg", Fn: logFunc(slog.LevelDebug)},
		{Name: "info", Fn: logFunc(slog.LevelInfo)},
		{Name: "notice", Fn: logFunc(slog.LevelInfo)},
		{Name: "warn", Fn: logFunc(slog.LevelWarn)},
		{Name: "err", Fn: logFunc(slog.LevelError)},
		{Name: "crit", Fn: logFunc(slog.LevelError)},
		{Name: "log", Fn: func(env *core.Env, L *lua.LState) int {
			lvl := slog.LevelInfo
			switch strings.ToLower(L.CheckString(1)) {
			case "dbg", "debug":
				lvl = slog.LevelDebug
			case "warn":
				lvl = slog.LevelWarn
			case "err", "error", "crit", "alert":
				lvl = slog.LevelError
			}
			logMsg(env, lvl, L.CheckString(2))
			return 0
		}},
	}
	for _, method := range isMethods {
		method := method
		fs = append(fs, core.LuaFunc{Name: "is_" + string(method), Fn: func(env *core.Env, L *lua.LState) int {
			return core.LuaBool(L, core.CheckMsg(env, L).Req.Method == method)
		}})
	}
	return fs
}

func logFunc(lvl slog.Level) func(*core.Env, *lua.LState) int {
	return func(env *core.Env, L *lua.LState) int {
		logMsg(env, lvl, L.CheckString(1))
		return 0
	}
}

func logMsg(env *core.Env, lvl slog.Level, s string) {
	if !env.Log.Enabled(context.Background(), lvl) {
		return
	}
	// Kamailio's messages end in "\n"; slog adds its own line end.
	env.Log.Log(context.Background(), lvl, strings.TrimRight(s, "\n"))
}
