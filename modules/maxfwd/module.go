// Package maxfwd is locus's Max-Forwards module: KSR.maxfwd, after
// Kamailio's maxfwd module.
package maxfwd

import (
	"fmt"

	"github.com/locus-sip/locus/core"
)

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "maxfwd", New: func() core.Module { return New() }})
}

// DefaultMaxLimit is max_limit when the configuration says nothing, as in
// Kamailio (and RFC 3261's recommended initial value).
const DefaultMaxLimit = 70

// MaxFwd adds, caps and decrements the Max-Forwards header of requests.
type MaxFwd struct {
	// MaxLimit caps the value a request leaves with: a larger value is
	// lowered to MaxLimit instead of being decremented.
	MaxLimit int `yaml:"max_limit"`
}

// New returns the module with its defaults.
func New() *MaxFwd { return &MaxFwd{MaxLimit: DefaultMaxLimit} }

// Validate checks the configuration.
func (f *MaxFwd) Validate() error {
	if f.MaxLimit < 0 || f.MaxLimit > maxValue {
		return fmt.Errorf("maxfwd: max_limit %d out of range 0-%d", f.MaxLimit, maxValue)
	}
	return nil
}

// Interface guards.
var (
	_ core.Validator   = (*MaxFwd)(nil)
	_ core.LuaExporter = (*MaxFwd)(nil)
)
