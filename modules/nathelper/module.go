// Package nathelper is locus's NAT traversal helper module:
// KSR.nathelper, after Kamailio's nathelper module. It tells whether a
// request comes from behind a NAT (nat_uac_test), rewrites or annotates
// Contact headers with the address the request came from, and routes
// in-dialog requests by a Contact alias.
package nathelper

import (
	"context"
	"errors"
	"fmt"

	"github.com/locus-sip/locus/core"
)

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "nathelper", New: func() core.Module { return New() }})
}

// NATHelper holds the module's configuration; its functions keep no state.
type NATHelper struct {
	// NATAddrMode 1 counts 192.0.0.0/24 as private besides the default
	// networks; 0 does not (Kamailio's nat_addr_mode).
	NATAddrMode int `yaml:"nat_addr_mode"`
	// Keepalive pings bindings behind NAT (natping_interval and friends).
	Keepalive `yaml:",inline"`
}

// New returns the module with its defaults.
func New() *NATHelper { return &NATHelper{NATAddrMode: 1, Keepalive: defaultKeepalive()} }

// Provision finds the location service and the transaction layer the
// keepalive pings go through.
func (n *NATHelper) Provision(_ context.Context, h *core.Host) error {
	n.Keepalive.log = h.Log.With("module", "nathelper")
	if h.Metrics != nil {
		n.Keepalive.metrics = newKAMetrics(h.Metrics)
	}
	if m, ok := h.Module("usrloc"); ok {
		n.Keepalive.loc, _ = m.(locations)
	}
	if m, ok := h.Module("tm"); ok {
		n.Keepalive.ping, _ = m.(pinger)
	}
	if n.Keepalive.Interval > 0 && (n.Keepalive.loc == nil || n.Keepalive.ping == nil) {
		return errors.New("nathelper: natping_interval needs the usrloc and tm modules")
	}
	return nil
}

// Validate checks the configuration.
func (n *NATHelper) Validate() error {
	if n.NATAddrMode != 0 && n.NATAddrMode != 1 {
		return fmt.Errorf("nathelper: nat_addr_mode %d: want 0 or 1", n.NATAddrMode)
	}
	return n.Keepalive.validate()
}

// Start starts the keepalive pinger when natping_interval is set.
func (n *NATHelper) Start(context.Context) error {
	n.Keepalive.start()
	return nil
}

// Cleanup stops the pinger.
func (n *NATHelper) Cleanup() error {
	n.Keepalive.stop()
	return nil
}

// Interface guards.
var (
	_ core.Provisioner  = (*NATHelper)(nil)
	_ core.Validator    = (*NATHelper)(nil)
	_ core.Starter      = (*NATHelper)(nil)
	_ core.CleanerUpper = (*NATHelper)(nil)
	_ core.LuaExporter  = (*NATHelper)(nil)
)
