package auth

import (
	"context"
	"errors"
	"log/slog"
	"strconv"

	"github.com/locus-sip/locus/core"
	lua "github.com/yuin/gopher-lua"
)

// LuaExports lists KSR.auth.
func (a *Auth) LuaExports() []core.LuaFunc {
	challenge := func(kind func(*core.Msg) Kind) func(*core.Env, *lua.LState) int {
		return func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			realm, flags := core.CheckString(L, 1), Flags(L, 2)
			rc, err := a.Challenge(m, realm, flags, kind(m))
			if err != nil {
				env.Log.Error("auth: challenge failed", "error", err, "src", m.SourceAddr())
			}
			return core.LuaInt(L, rc)
		}
	}
	pvAuth := func(kind Kind, withMethod bool) func(*core.Env, *lua.LState) int {
		return func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			realm, password, flags := core.CheckString(L, 1), core.CheckString(L, 2), Flags(L, 3)
			method := ""
			if withMethod {
				method = core.CheckString(L, 4)
			}
			res, err := a.PVAuthenticate(env.Ctx, m, realm, password, flags, kind, method)
			LogResult(env.Log, m, res, err)
			return core.LuaInt(L, int(res))
		}
	}
	return []core.LuaFunc{
		{Name: "auth_challenge", Fn: challenge(func(m *core.Msg) Kind { return KindOf(m.Req) })},
		{Name: "www_challenge", Fn: challenge(func(*core.Msg) Kind { return WWW })},
		{Name: "proxy_challenge", Fn: challenge(func(*core.Msg) Kind { return Proxy })},
		{Name: "consume_credentials", Fn: func(env *core.Env, L *lua.LState) int {
			if err := ConsumeCredentials(core.CheckMsg(env, L)); err != nil {
				env.Log.Debug(err.Error())
				return core.LuaInt(L, -1)
			}
			return core.LuaInt(L, 1)
		}},
		{Name: "has_credentials", Fn: func(env *core.Env, L *lua.LState) int {
			if HasCredentials(core.CheckMsg(env, L), core.CheckString(L, 1)) {
				return core.LuaInt(L, 1)
			}
			return core.LuaInt(L, -1)
		}},
		{Name: "pv_www_authenticate", Fn: pvAuth(WWW, false)},
		{Name: "pv_www_authenticate_method", Fn: pvAuth(WWW, true)},
		{Name: "pv_proxy_authenticate", Fn: pvAuth(Proxy, false)},
		{Name: "pv_auth_check", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			realm, password := core.CheckString(L, 1), core.CheckString(L, 2)
			flags, checks := Flags(L, 3), Flags(L, 4)
			res, err := a.PVAuthCheck(env.Ctx, m, realm, password, flags, checks)
			LogResult(env.Log, m, res, err)
			return core.LuaInt(L, int(res))
		}},
		{Name: "auth_algorithm", Fn: func(env *core.Env, L *lua.LState) int {
			if err := a.SetAlgorithm(core.CheckMsg(env, L), core.CheckString(L, 1)); err != nil {
				env.Log.Error(err.Error())
				return core.LuaInt(L, -1)
			}
			return core.LuaInt(L, 1)
		}},
	}
}

// Flags reads a flags argument given as a number or as a numeric string
// ("1", "0x10"), as Kamailio scripts pass them; nil is 0.
func Flags(L *lua.LState, n int) int {
	switch v := L.Get(n).(type) {
	case *lua.LNilType:
		return 0
	case lua.LNumber:
		return int(v)
	case lua.LString:
		f, err := strconv.ParseInt(string(v), 0, 32)
		if err != nil {
			L.ArgError(n, "flags: want a number")
		}
		return int(f)
	}
	L.ArgError(n, "flags: want a number")
	return 0
}

// LogResult logs why an authentication failed, at debug level for what a
// client sent (anyone can send garbage; a log line per packet would let
// them flood the log) and at error level for locus's own failures. It
// never logs credentials.
func LogResult(log *slog.Logger, m *core.Msg, res Result, err error) {
	if err == nil {
		return
	}
	lvl := slog.LevelDebug
	if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotDigest) {
		lvl = slog.LevelError
	}
	log.Log(context.Background(), lvl, "auth: authentication failed", "result", int(res), "error", err, "src", m.SourceAddr())
}
