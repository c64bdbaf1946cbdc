package registrar

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/usrloc"
)

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "registrar", New: func() core.Module { return New() }})
}

// Provision finds the location service and works out the served domains.
func (r *Registrar) Provision(ctx context.Context, h *core.Host) error {
	m, ok := h.Module("usrloc")
	if !ok {
		return errors.New("registrar: the usrloc module is not compiled in")
	}
	ul, ok := m.(usrloc.Service)
	if !ok {
		return errors.New("registrar: usrloc does not provide usrloc.Service")
	}
	r.init(ul, h.Log, defaultDomains(h.Config))
	r.metrics = newMetrics(h.Metrics)
	r.WatchExpiry(ul, h.Script)
	return nil
}

// WatchExpiry runs the script's ksr_registrar_event for every binding ul
// expires; script returns the routing script of the moment.
func (r *Registrar) WatchExpiry(ul usrloc.Service, script func() core.ScriptCaller) {
	ul.OnExpired(func(x usrloc.Expired) { r.expired(x, script()) })
}

// Validate checks the configuration.
func (r *Registrar) Validate() error {
	switch {
	case r.DefaultExpires < 0 || r.MinExpires < 0 || r.MaxExpires < 0:
		return errors.New("registrar: expires settings must not be negative")
	case r.MaxExpires > 0 && r.MinExpires > r.MaxExpires:
		return fmt.Errorf("registrar: min_expires %d above max_expires %d", r.MinExpires, r.MaxExpires)
	case r.MinExpiresMode != "reject" && r.MinExpiresMode != "clamp":
		return fmt.Errorf("registrar: min_expires_mode %q: want reject or clamp", r.MinExpiresMode)
	case r.MaxContactsMode != "reject" && r.MaxContactsMode != "evict_oldest":
		return fmt.Errorf("registrar: max_contacts_mode %q: want reject or evict_oldest", r.MaxContactsMode)
	case r.ExpiresRange < 0 || r.ExpiresRange > 100:
		return errors.New("registrar: expires_range is a percentage, 0 to 100")
	case r.MaxContacts < 0 || r.CSeqDelay < 0:
		return errors.New("registrar: max_contacts and cseq_delay must not be negative")
	}
	return nil
}

// defaultDomains are the listen addresses (every interface address for a
// wildcard listener), the host name and localhost.
func defaultDomains(cfg *core.Config) []string {
	var ds []string
	wildcard := false
	for _, l := range cfg.Listen {
		host, _, err := net.SplitHostPort(l.Addr())
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			wildcard = true
			continue
		}
		ds = append(ds, host)
		if l.Advertise != "" {
			if h, _, err := net.SplitHostPort(l.Advertise); err == nil {
				ds = append(ds, h)
			} else {
				ds = append(ds, l.Advertise)
			}
		}
	}
	if wildcard {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok {
					ds = append(ds, ipn.IP.String())
				}
			}
		}
	}
	if hn, err := os.Hostname(); err == nil && hn != "" {
		ds = append(ds, strings.ToLower(hn))
	}
	return append(ds, "localhost")
}

// Interface guards.
var (
	_ core.Provisioner = (*Registrar)(nil)
	_ core.Validator   = (*Registrar)(nil)
	_ core.LuaExporter = (*Registrar)(nil)
	_ core.PVProvider  = (*Registrar)(nil)
)
