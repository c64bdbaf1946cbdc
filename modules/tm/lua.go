package tm

import (
	"context"
	"errors"
	"sort"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	lua "github.com/yuin/gopher-lua"
)

// Per-request data keys.
const (
	onFailureKey = "tm.on_failure"
	onReplyKey   = "tm.on_reply"
	onBranchKey  = "tm.on_branch"
	inFailureKey = "tm.in_failure"
	contactsKey  = "tm.contacts"
)

// LuaExports lists KSR.tm.
func (t *TM) LuaExports() []core.LuaFunc {
	route := func(key string) func(env *core.Env, L *lua.LState) int {
		return func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			m.Set(key, core.CheckString(L, 1))
			return core.LuaInt(L, OK)
		}
	}
	return []core.LuaFunc{
		{Name: "t_relay", Fn: func(env *core.Env, L *lua.LState) int {
			return core.LuaInt(L, t.Relay(ctxOf(env), core.CheckMsg(env, L)))
		}},
		{Name: "t_newtran", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			if m.Req.IsAck() {
				return core.LuaInt(L, Error)
			}
			if _, err := t.newTxn(m); errors.Is(err, errRetransmission) {
				m.Dropped = true
				return core.LuaInt(L, 0)
			} else if err != nil {
				env.Log.Warn("tm: t_newtran", "error", err)
				return core.LuaInt(L, Error)
			}
			return core.LuaInt(L, OK)
		}},
		{Name: "t_check_trans", Fn: func(env *core.Env, L *lua.LState) int {
			return core.LuaInt(L, t.CheckTrans(core.CheckMsg(env, L)))
		}},
		{Name: "t_reply", Fn: func(env *core.Env, L *lua.LState) int {
			m := core.CheckMsg(env, L)
			code, reason := core.CheckInt(L, 1), core.CheckString(L, 2)
			if _, err := t.newTxn(m); err != nil {
				env.Log.Warn("tm: t_reply", "error", err)
				return core.LuaInt(L, Error)
			}
			if err := m.Reply(code, reason); err != nil {
				env.Log.Warn("tm: t_reply", "code", code, "error", err)
				return core.LuaInt(L, Error)
			}
			return core.LuaInt(L, OK)
		}},
		{Name: "t_on_failure", Fn: route(onFailureKey)},
		{Name: "t_on_reply", Fn: route(onReplyKey)},
		{Name: "t_on_branch", Fn: route(onBranchKey)},
		{Name: "t_is_canceled", Fn: func(env *core.Env, L *lua.LState) int {
			if x := txnOf(core.CheckMsg(env, L)); x != nil {
				x.mu.Lock()
				c := x.canceled
				x.mu.Unlock()
				if c {
					return core.LuaInt(L, OK)
				}
			}
			return core.LuaInt(L, Error)
		}},
		{Name: "t_load_contacts", Fn: func(env *core.Env, L *lua.LState) int {
			return core.LuaInt(L, LoadContacts(core.CheckMsg(env, L)))
		}},
		{Name: "t_next_contacts", Fn: func(env *core.Env, L *lua.LState) int {
			return core.LuaInt(L, NextContacts(core.CheckMsg(env, L)))
		}},
	}
}

func ctxOf(env *core.Env) context.Context {
	if env.Ctx != nil {
		return context.WithoutCancel(env.Ctx)
	}
	return context.Background()
}

// CheckTrans tells the script whether the request belongs to a
// transaction: a CANCEL whose INVITE is being forwarded, or a request
// that already has one (t_newtran). Retransmissions and ACKs of non-2xx
// responses never reach the script: tm absorbs them before it.
func (t *TM) CheckTrans(m *core.Msg) int {
	if m.Req.IsCancel() {
		if t.invite(m.Req) != nil {
			return OK
		}
		return Error
	}
	if txnOf(m) != nil {
		return OK
	}
	return Error
}

// LoadContacts takes the Request-URI and the branches as contacts for
// serial forking: groups of equal q, highest first, each forked in
// parallel by NextContacts. It returns OK, or Error without targets.
func LoadContacts(m *core.Msg) int {
	main := core.Branch{URI: m.Req.Recipient.String(), Dst: m.DstURI, ConnID: m.DstConn, Q: -1}
	if b := m.Binding; b != nil && b.URI == main.URI {
		main = *b
		main.Dst, main.ConnID = m.DstURI, m.DstConn
	}
	all := append([]core.Branch{main}, m.Branches...)
	q := func(b core.Branch) int {
		if b.Q < 0 {
			return 1000
		}
		return b.Q
	}
	sort.SliceStable(all, func(i, j int) bool { return q(all[i]) > q(all[j]) })
	var groups [][]core.Branch
	for i, b := range all {
		if i == 0 || q(b) != q(all[i-1]) {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], b)
	}
	m.Branches = nil
	m.Set(contactsKey, groups)
	return OK
}

// NextContacts makes the next group of loaded contacts the request's
// targets: Request-URI, destination and branches. Error when none is left.
func NextContacts(m *core.Msg) int {
	groups, _ := m.Get(contactsKey).([][]core.Branch)
	if len(groups) == 0 {
		return Error
	}
	g := groups[0]
	var ru sip.Uri
	if err := sip.ParseUri(g[0].URI, &ru); err != nil {
		return Error
	}
	m.Req.Recipient = ru
	m.DstURI, m.DstConn = g[0].Dst, g[0].ConnID
	first := g[0]
	m.Binding = &first
	m.Branches = append([]core.Branch(nil), g[1:]...)
	m.Set(contactsKey, groups[1:])
	return OK
}
