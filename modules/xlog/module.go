// Package xlog is locus's formatted logging module: KSR.xlog, after
// Kamailio's xlog module. Messages carry pseudo-variables ($ru, $si,
// $hdr(name), ...) that are expanded for the request being routed through
// the pv module, and go to locus's log/slog logger.
package xlog

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/pv"
)

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "xlog", New: func() core.Module { return New() }})
}

// DefaultCacheSize is cache_size when the configuration says nothing.
const DefaultCacheSize = 1024

// XLog writes the script's formatted log messages.
type XLog struct {
	// Prefix is put before every message (Kamailio's xlog "prefix").
	Prefix string `yaml:"prefix"`
	// CacheSize bounds the number of distinct formats kept compiled;
	// formats beyond it are compiled on every call. 0 disables the cache.
	CacheSize int `yaml:"cache_size"`

	log    *slog.Logger
	pv     *pv.PV
	cache  sync.Map // format → *compiled
	cached atomic.Int64
}

// New returns the module with its defaults, logging nowhere and knowing
// only the pv module's own pseudo-variables until it is provisioned.
func New() *XLog {
	return &XLog{CacheSize: DefaultCacheSize, log: slog.New(slog.DiscardHandler), pv: &pv.PV{}}
}

// NewWithLogger returns the module with its defaults writing to log and
// resolving pseudo-variables through p (nil: the pv module's own names),
// for use without a Host.
func NewWithLogger(log *slog.Logger, p *pv.PV) *XLog {
	x := New()
	x.log = log
	if p != nil {
		x.pv = p
	}
	return x
}

// Provision takes the module's logger and the pv module, whose classes
// ($au, $ulc, ...) xlog formats can then print.
func (x *XLog) Provision(_ context.Context, h *core.Host) error {
	x.log = h.Log
	if m, ok := h.Module("pv"); ok {
		if p, ok := m.(*pv.PV); ok {
			x.pv = p
		}
	}
	return nil
}

// Validate checks the configuration.
func (x *XLog) Validate() error {
	if x.CacheSize < 0 {
		return errors.New("xlog: cache_size must not be negative")
	}
	if err := core.CheckHeaderValue(x.Prefix); err != nil {
		return errors.New("xlog: prefix: " + err.Error())
	}
	return nil
}

// Interface guards.
var (
	_ core.Provisioner = (*XLog)(nil)
	_ core.Validator   = (*XLog)(nil)
	_ core.LuaExporter = (*XLog)(nil)
)
