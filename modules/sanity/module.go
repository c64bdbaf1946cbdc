// Package sanity is locus's request sanity checking module: KSR.sanity,
// after Kamailio's sanity module.
package sanity

import (
	"fmt"

	"github.com/locus-sip/locus/core"
)

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "sanity", New: func() core.Module { return New() }})
}

// Sanity checks requests against RFC 3261 rules the parser lets through
// and answers the ones that fail, as Kamailio's sanity module does.
type Sanity struct {
	// DefaultChecks are the checks sanity_check_defaults runs.
	DefaultChecks Checks `yaml:"default_checks"`
	// URIChecks are the URIs the parse-URIs check (1024) looks at by default.
	URIChecks URIChecks `yaml:"uri_checks"`
	// ProxyRequire lists the option tags accepted in Proxy-Require.
	ProxyRequire []string `yaml:"proxy_require"`
	// NoReply leaves replying to the script: a failed check only returns
	// -1 and records the reply for KSR.sanity.sanity_reply.
	NoReply bool `yaml:"noreply"`
}

// New returns the module with Kamailio's defaults.
func New() *Sanity {
	return &Sanity{DefaultChecks: DefaultChecks, URIChecks: DefaultURIChecks, ProxyRequire: []string{}}
}

// Validate checks the configuration.
func (s *Sanity) Validate() error {
	if s.DefaultChecks&^AllChecks != 0 {
		return fmt.Errorf("sanity: default_checks %d has unknown bits (valid: 0-%d)", s.DefaultChecks, AllChecks)
	}
	if s.URIChecks&^AllURIChecks != 0 {
		return fmt.Errorf("sanity: uri_checks %d has unknown bits (valid: 0-%d)", s.URIChecks, AllURIChecks)
	}
	for _, tag := range s.ProxyRequire {
		if !isToken(tag) {
			return fmt.Errorf("sanity: proxy_require %q is not an option tag", tag)
		}
	}
	return nil
}

// Interface guards.
var (
	_ core.Validator   = (*Sanity)(nil)
	_ core.LuaExporter = (*Sanity)(nil)
)
