// Package nathelper is locus's NAT traversal helper module:
// KSR.nathelper, after Kamailio's nathelper module. It tells whether a
// request comes from behind a NAT (nat_uac_test), rewrites or annotates
// Contact headers with the address the request came from, and routes
// in-dialog requests by a Contact alias.
package nathelper

import (
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
}

// New returns the module with its defaults.
func New() *NATHelper { return &NATHelper{NATAddrMode: 1} }

// Validate checks the configuration.
func (n *NATHelper) Validate() error {
	if n.NATAddrMode != 0 && n.NATAddrMode != 1 {
		return fmt.Errorf("nathelper: nat_addr_mode %d: want 0 or 1", n.NATAddrMode)
	}
	return nil
}

// Interface guards.
var (
	_ core.Validator   = (*NATHelper)(nil)
	_ core.LuaExporter = (*NATHelper)(nil)
)
