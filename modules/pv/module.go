// Package pv is locus's pseudo-variable module: KSR.pv reads parts of the
// request being routed ($ru, $fU, $si, $hdr(name), ...), rewrites the
// Request-URI and keeps per-request script variables ($var(name)).
package pv

import (
	"context"

	"github.com/locus-sip/locus/core"
)

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "pv", New: func() core.Module { return new(PV) }})
}

// PV exports the pseudo-variable functions to the script. It has no
// configuration.
type PV struct {
	// classes are the pseudo-variables other modules provide ($ulc, $au).
	classes map[string]core.PVClass
}

// Provision collects the pseudo-variable classes of the other modules.
func (p *PV) Provision(_ context.Context, h *core.Host) error {
	for _, nm := range h.Modules() {
		if pp, ok := nm.Module.(core.PVProvider); ok {
			p.AddClasses(pp.PVClasses())
		}
	}
	return nil
}

// AddClasses makes a module's pseudo-variable classes readable.
func (p *PV) AddClasses(cs map[string]core.PVClass) {
	if p.classes == nil {
		p.classes = map[string]core.PVClass{}
	}
	for name, c := range cs {
		p.classes[name] = c
	}
}

// Interface guards.
var (
	_ core.LuaExporter = (*PV)(nil)
	_ core.Provisioner = (*PV)(nil)
)
