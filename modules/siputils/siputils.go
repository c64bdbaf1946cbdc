// Package siputils is locus's SIP helper module: KSR.siputils, after the
// functions of Kamailio's siputils module that routing scripts use most.
package siputils

import (
	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	lua "github.com/yuin/gopher-lua"
)

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "siputils", New: func() core.Module { return &SipUtils{} }})
}

// SipUtils has no configuration.
type SipUtils struct{}

// HasToTag reports whether the request's To header has a tag: the
// request belongs to a dialog.
func HasToTag(req *sip.Request) bool {
	to := req.To()
	return to != nil && to.Params.Has("tag")
}

// IsFirstHop reports whether locus is the first hop of the message: a
// request with a single Via (nobody forwarded it yet), or a response
// with two (locus's and its sender's).
func IsFirstHop(m *core.Msg) bool {
	if m.Res != nil {
		return len(m.Res.GetHeaders("Via")) <= 2
	}
	return len(m.Req.GetHeaders("Via")) <= 1
}

// LuaExports lists KSR.siputils.
func (*SipUtils) LuaExports() []core.LuaFunc {
	pred := func(f func(m *core.Msg) bool) func(env *core.Env, L *lua.LState) int {
		return func(env *core.Env, L *lua.LState) int {
			if f(core.CheckMsg(env, L)) {
				return core.LuaInt(L, 1)
			}
			return core.LuaInt(L, -1)
		}
	}
	return []core.LuaFunc{
		{Name: "has_totag", Fn: pred(func(m *core.Msg) bool { return HasToTag(m.Req) })},
		{Name: "is_request", Fn: pred(func(m *core.Msg) bool { return m.Res == nil })},
		{Name: "is_reply", Fn: pred(func(m *core.Msg) bool { return m.Res != nil })},
		{Name: "is_first_hop", Fn: pred(IsFirstHop)},
	}
}

var _ core.LuaExporter = (*SipUtils)(nil)
