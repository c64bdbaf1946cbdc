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

// LuaExports lists KSR.siputils.
func (*SipUtils) LuaExports() []core.LuaFunc {
	return []core.LuaFunc{
		{Name: "has_totag", Fn: func(env *core.Env, L *lua.LState) int {
			if HasToTag(core.CheckMsg(env, L).Req) {
				return core.LuaInt(L, 1)
			}
			return core.LuaInt(L, -1)
		}},
	}
}

var _ core.LuaExporter = (*SipUtils)(nil)
