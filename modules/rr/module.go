// Package rr is locus's record-routing module: KSR.rr, after Kamailio's
// rr module. record_route keeps locus on the path of a dialog's later
// requests; loose_route routes those requests by their Route headers
// (RFC 3261 §16.4 and §16.6, loose routing with "lr").
package rr

import (
	"context"

	"github.com/locus-sip/locus/core"
)

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "rr", New: func() core.Module { return New() }})
}

// RR holds what the functions need of the running locus.
type RR struct {
	// Myself decides whether a URI host and port name locus itself; it is
	// the server's sockets once locus runs.
	Myself func(host string, port int) bool
	host   *core.Host
}

// New returns the module.
func New() *RR { return &RR{} }

// Provision keeps the host, whose sockets are known only once listening.
func (r *RR) Provision(_ context.Context, h *core.Host) error {
	r.host = h
	return nil
}

func (r *RR) isMyself(host string, port int) bool {
	if r.Myself != nil {
		return r.Myself(host, port)
	}
	if r.host != nil {
		if o := r.host.Outbound(); o != nil {
			return o.IsMyself(host, port)
		}
	}
	return false
}

// Interface guards.
var (
	_ core.Provisioner = (*RR)(nil)
	_ core.LuaExporter = (*RR)(nil)
)
