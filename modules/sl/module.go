// Package sl is locus's stateless reply module: KSR.sl.
package sl

import "github.com/locus-sip/locus/core"

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "sl", New: func() core.Module { return new(SL) }})
}

// SL sends replies to the current request. It has no configuration.
type SL struct{}

// Interface guards.
var _ core.LuaExporter = (*SL)(nil)
