package core

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Module is one unit of locus functionality: a SIP helper exported to the
// routing script (sl, hdr, registrar, auth, ...) or a persistence backend.
// A module value is built by its constructor with defaults and no side
// effects; its configuration section is decoded into it before Provision.
type Module any

// ModuleInfo describes a compiled-in module.
type ModuleInfo struct {
	// Name is the module's name: its config section (modules.<name>) and,
	// when it exports Lua functions, its sub-table in KSR (KSR.<name>).
	Name string
	// New returns a new, unprovisioned module with its defaults set.
	New func() Module
}

// Lifecycle, in this order: New → decode config → Provision → Validate →
// Start → ... → Cleanup. Each step is optional.

// Provisioner acquires resources and finds the other modules it needs.
type Provisioner interface {
	Provision(ctx context.Context, h *Host) error
}

// Validator checks the provisioned module; it must not change anything.
type Validator interface {
	Validate() error
}

// Starter starts background work; it must return quickly.
type Starter interface {
	Start(ctx context.Context) error
}

// CleanerUpper releases what Provision and Start acquired. It must work
// after a partial Provision.
type CleanerUpper interface {
	Cleanup() error
}

// LuaExporter is a module that exports functions to the routing script
// under KSR.<name>.
type LuaExporter interface {
	LuaExports() []LuaFunc
}

var (
	modulesMu sync.RWMutex
	modules   = map[string]ModuleInfo{}
)

// RegisterModule makes a module available to locus. It is meant to be
// called from init and panics on an empty or duplicate name.
func RegisterModule(info ModuleInfo) {
	if info.Name == "" {
		panic("core: module registered with an empty name")
	}
	if info.New == nil {
		panic(fmt.Sprintf("core: module %q registered without a constructor", info.Name))
	}
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if _, dup := modules[info.Name]; dup {
		panic(fmt.Sprintf("core: module %q registered twice", info.Name))
	}
	modules[info.Name] = info
}

// RegisteredModules returns the compiled-in modules sorted by name.
func RegisteredModules() []ModuleInfo {
	modulesMu.RLock()
	defer modulesMu.RUnlock()
	out := make([]ModuleInfo, 0, len(modules))
	for _, m := range modules {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupModule returns the registration of a module by name.
func LookupModule(name string) (ModuleInfo, bool) {
	modulesMu.RLock()
	defer modulesMu.RUnlock()
	m, ok := modules[name]
	return m, ok
}

// Host is what a module sees of the running locus while it provisions: the
// logger, the core configuration and the other modules.
type Host struct {
	Log    *slog.Logger
	Config *Config
	// Metrics is the Prometheus registry every module registers on.
	Metrics *prometheus.Registry
	mods    map[string]Module
	order   []string
	shared  *hostShared
}

type hostShared struct {
	mu        sync.RWMutex
	script    ScriptCaller
	listeners []string
	outbound  Outbound
}

// SetListeners records the bound SIP sockets ("proto:ip:port").
func (h *Host) SetListeners(addrs []string) {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	h.shared.listeners = append([]string(nil), addrs...)
}

// Listeners returns the bound SIP sockets, empty before they are up.
func (h *Host) Listeners() []string {
	h.shared.mu.RLock()
	defer h.shared.mu.RUnlock()
	return h.shared.listeners
}

// SetScript makes the routing script reachable to modules (event routes).
func (h *Host) SetScript(c ScriptCaller) {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	h.shared.script = c
}

// Script returns the routing script, or nil before it is loaded.
func (h *Host) Script() ScriptCaller {
	h.shared.mu.RLock()
	defer h.shared.mu.RUnlock()
	return h.shared.script
}

// Module returns another provisioned (or being provisioned) module by name.
func (h *Host) Module(name string) (Module, bool) {
	m, ok := h.mods[name]
	return m, ok
}

// Modules returns the instantiated modules in provisioning order.
func (h *Host) Modules() []NamedModule {
	out := make([]NamedModule, 0, len(h.order))
	for _, n := range h.order {
		out = append(out, NamedModule{Name: n, Module: h.mods[n]})
	}
	return out
}

// NamedModule pairs a module instance with its name.
type NamedModule struct {
	Name   string
	Module Module
}

// LoadModules instantiates every compiled-in module, decodes its config
// section, and provisions, validates and starts it. On error the modules
// already provisioned are cleaned up. The returned Host owns the modules;
// call Cleanup when done.
func LoadModules(ctx context.Context, cfg *Config, log *slog.Logger) (*Host, error) {
	h := &Host{Log: log, Config: cfg, Metrics: prometheus.NewRegistry(), mods: map[string]Module{}, shared: &hostShared{}}
	for name := range cfg.Modules {
		if _, ok := LookupModule(name); !ok {
			return nil, fmt.Errorf("config: modules.%s: no such module (compiled in: %s)", name, moduleNames())
		}
	}
	for _, info := range RegisteredModules() {
		m := info.New()
		if node, ok := cfg.Modules[info.Name]; ok {
			if err := decodeStrict(node, m); err != nil {
				return nil, fmt.Errorf("config: modules.%s: %w", info.Name, err)
			}
		}
		h.mods[info.Name] = m
		h.order = append(h.order, info.Name)
	}
	for _, n := range h.order {
		if p, ok := h.mods[n].(Provisioner); ok {
			if err := p.Provision(ctx, h.withModule(n)); err != nil {
				h.Cleanup()
				return nil, fmt.Errorf("module %s: provision: %w", n, err)
			}
		}
	}
	for _, n := range h.order {
		if v, ok := h.mods[n].(Validator); ok {
			if err := v.Validate(); err != nil {
				h.Cleanup()
				return nil, fmt.Errorf("module %s: %w", n, err)
			}
		}
	}
	for _, n := range h.order {
		if s, ok := h.mods[n].(Starter); ok {
			if err := s.Start(ctx); err != nil {
				h.Cleanup()
				return nil, fmt.Errorf("module %s: start: %w", n, err)
			}
		}
	}
	return h, nil
}

func (h *Host) withModule(name string) *Host {
	c := *h
	c.Log = h.Log.With("module", name)
	return &c
}

// Cleanup releases every module in reverse order and returns the first error.
func (h *Host) Cleanup() error {
	var first error
	for i := len(h.order) - 1; i >= 0; i-- {
		if c, ok := h.mods[h.order[i]].(CleanerUpper); ok {
			if err := c.Cleanup(); err != nil && first == nil {
				first = fmt.Errorf("module %s: cleanup: %w", h.order[i], err)
			}
		}
	}
	return first
}

func moduleNames() string {
	s := ""
	for i, m := range RegisteredModules() {
		if i > 0 {
			s += ", "
		}
		s += m.Name
	}
	return s
}

// Reloader is a module with data of its own to reload on demand (a
// credentials or address file): SIGHUP and the admin API's reload call it
// next to the script's.
type Reloader interface {
	Reload() (changed bool, err error)
}

// ModuleReload is the outcome of one module's Reload.
type ModuleReload struct {
	Changed bool   `json:"changed"`
	Error   string `json:"error,omitempty"`
}

// ReloadModules reloads every module that is a Reloader; a failure leaves
// that module's current data in place and is reported, not returned.
func (h *Host) ReloadModules() map[string]ModuleReload {
	out := map[string]ModuleReload{}
	for _, n := range h.order {
		r, ok := h.mods[n].(Reloader)
		if !ok {
			continue
		}
		changed, err := r.Reload()
		res := ModuleReload{Changed: changed}
		if err != nil {
			res.Error = err.Error()
			h.Log.Warn("module reload refused, the current data stays", "module", n, "error", err)
		}
		out[n] = res
	}
	return out
}
