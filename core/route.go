package core

import (
	"context"
	"time"

	"github.com/emiago/sipgo/sip"
	lua "github.com/yuin/gopher-lua"
)

// Branch is one more destination for a request, added by lookup for
// parallel forking (Kamailio's branches). The request's own R-URI and
// DstURI form the first branch.
type Branch struct {
	URI      string   // the target (contact) URI
	Dst      string   // where to send: "" for URI itself, else a SIP URI of the next hop
	Q        int      // q × 1000, or -1 when unset
	Path     []string // Route set from the binding's Path
	Socket   string   // local socket the binding registered on, "proto:ip:port"
	ConnID   string   // stream connection the binding registered on
	Instance string
	RUID     string
	// AOR and Table name the binding, for removing it when its flow is gone.
	AOR   string
	Table string
}

// ScriptCaller runs a named function of the current routing script; the
// registrar uses it for event routes such as ksr_registrar_event.
type ScriptCaller interface {
	Call(m *Msg, fn string, args ...lua.LValue) error
}

// ScriptInfo describes the script generation serving requests.
type ScriptInfo struct {
	Generation uint64    `json:"generation"`
	Hash       string    `json:"hash"`
	File       string    `json:"file"`
	LoadedAt   time.Time `json:"loaded_at"`
	Reloads    uint64    `json:"reloads"`
	Failures   uint64    `json:"reload_failures"`
	LastError  string    `json:"last_reload_error,omitempty"`
}

// ScriptControl is the routing script as operations see it (admin API).
type ScriptControl interface {
	ScriptCaller
	Info() ScriptInfo
	// ReloadScript reloads the file: changed is false when its content
	// is the current generation's; on error the old generation serves.
	ReloadScript() (info ScriptInfo, changed bool, err error)
}

// Readiness is a module that can tell whether it can serve (a store it
// can reach); /readyz asks every module that implements it.
type Readiness interface {
	Ready(ctx context.Context) error
}

// PVClass resolves one class of pseudo-variables, $name(inner), that a
// module provides (the registrar's $ulc). index is the [i] of the
// $(name(inner)[i]) form, 0 without one. It returns nil when unset; values
// are string, int or nil.
type PVClass func(m *Msg, inner string, index int) any

// PVProvider is a module that adds pseudo-variable classes for KSR.pv.
type PVProvider interface {
	PVClasses() map[string]PVClass
}

// NewEventMsg builds the message an event route runs with: there is no
// request on the wire, so it is a local placeholder that takes no reply.
func NewEventMsg(event string) *Msg {
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: "locus.invalid"})
	req.AppendHeader(sip.NewHeader("X-Locus-Event", event))
	m := &Msg{Req: req, Transport: "local"}
	m.replied.Store(true) // nothing to answer
	m.Event = event
	return m
}

// Set stores per-request data for a module (for example fetched contacts).
func (m *Msg) Set(key string, v any) {
	if m.data == nil {
		m.data = map[string]any{}
	}
	m.data[key] = v
}

// Get returns per-request data stored with Set.
func (m *Msg) Get(key string) any { return m.data[key] }
