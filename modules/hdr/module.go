// Package hdr is locus's header module: KSR.hdr reads, adds and removes
// header fields of the request being routed and adds header fields to the
// reply locus sends for it.
package hdr

import "github.com/locus-sip/locus/core"

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "hdr", New: func() core.Module { return new(Hdr) }})
}

// Hdr exports the header functions to the script. It has no configuration.
type Hdr struct{}

// Interface guards.
var _ core.LuaExporter = (*Hdr)(nil)
