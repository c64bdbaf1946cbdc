// Package pike is locus's flood detection module: KSR.pike, after
// Kamailio's pike module. It tells the script when a source address sends
// requests faster than a configured rate; what to do about it (drop,
// ban through KSR.htable) is the script's decision.
package pike

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/locus-sip/locus/core"
)

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "pike", New: func() core.Module { return New() }})
}

// Defaults of the configuration, Kamailio's where it has one.
const (
	DefaultSamplingTimeUnit   = 2
	DefaultReqsDensityPerUnit = 30
	DefaultRemoveLatency      = 120
	DefaultMaxEntries         = 100000
)

// Pike is the pike module.
type Pike struct {
	// SamplingTimeUnit is the length in seconds of the window the rate is
	// measured over.
	SamplingTimeUnit int `yaml:"sampling_time_unit"`
	// ReqsDensityPerUnit is how many requests a source may send per
	// sampling_time_unit.
	ReqsDensityPerUnit int `yaml:"reqs_density_per_unit"`
	// RemoveLatency is how long in seconds a source is remembered after
	// its last request.
	RemoveLatency int `yaml:"remove_latency"`
	// MaxEntries bounds the sources remembered at once.
	MaxEntries int `yaml:"max_entries"`

	log  *slog.Logger
	det  *Detector
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// New returns the module with its defaults, unprovisioned.
func New() *Pike {
	return &Pike{
		SamplingTimeUnit:   DefaultSamplingTimeUnit,
		ReqsDensityPerUnit: DefaultReqsDensityPerUnit,
		RemoveLatency:      DefaultRemoveLatency,
		MaxEntries:         DefaultMaxEntries,
	}
}

// NewWithDetector returns a ready module over d, for tests and tools.
func NewWithDetector(d *Detector, log *slog.Logger) *Pike {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := New()
	p.det, p.log = d, log
	return p
}

// Provision checks the configuration and builds the detector.
func (p *Pike) Provision(_ context.Context, h *core.Host) error {
	p.log = h.Log
	if err := p.Validate(); err != nil {
		return err
	}
	p.det = NewDetector(p.options(nil))
	registerMetrics(h.Metrics, p.det)
	return nil
}

// options are the detector options of the configuration.
func (p *Pike) options(now func() time.Time) Options {
	log := p.log
	return Options{
		Unit:          time.Duration(p.SamplingTimeUnit) * time.Second,
		Density:       p.ReqsDensityPerUnit,
		RemoveLatency: time.Duration(p.RemoveLatency) * time.Second,
		MaxEntries:    p.MaxEntries,
		Now:           now,
		OnChange: func(ip netip.Addr, flooding bool) {
			// Once per change, as Kamailio logs a block and its end.
			if flooding {
				log.Warn("pike: source is flooding", "src", ip.String())
			} else {
				log.Info("pike: source no longer flooding", "src", ip.String())
			}
		},
	}
}

// Validate checks the configuration.
func (p *Pike) Validate() error {
	switch {
	case p.SamplingTimeUnit < 1:
		return fmt.Errorf("pike: sampling_time_unit %d: must be at least 1 (seconds)", p.SamplingTimeUnit)
	case p.ReqsDensityPerUnit < 1:
		return fmt.Errorf("pike: reqs_density_per_unit %d: must be at least 1", p.ReqsDensityPerUnit)
	case p.RemoveLatency < p.SamplingTimeUnit:
		return fmt.Errorf("pike: remove_latency %d: must be at least sampling_time_unit (%d s), or a source is forgotten mid-window",
			p.RemoveLatency, p.SamplingTimeUnit)
	case p.MaxEntries < 1:
		return fmt.Errorf("pike: max_entries %d: must be at least 1", p.MaxEntries)
	}
	return nil
}

// Start runs the sweeper that forgets idle sources, once a second.
func (p *Pike) Start(ctx context.Context) error {
	ctx, p.stop = context.WithCancel(ctx)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				p.det.Sweep()
			}
		}
	}()
	return nil
}

// Cleanup stops the sweeper.
func (p *Pike) Cleanup() error {
	if p.stop != nil {
		p.stop()
		p.wg.Wait()
	}
	return nil
}

// Detector is the module's detector.
func (p *Pike) Detector() *Detector { return p.det }

// CheckIP is pike_check_ip: it counts a request from ip (a textual IPv4
// or IPv6 address) and returns Kamailio's code. An address that does not
// parse is an error and returns OK, as Kamailio does.
func (p *Pike) CheckIP(ip string) (Result, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return OK, fmt.Errorf("pike: %w", err)
	}
	return p.det.Check(a), nil
}

// Interface guards.
var (
	_ core.Provisioner  = (*Pike)(nil)
	_ core.Validator    = (*Pike)(nil)
	_ core.Starter      = (*Pike)(nil)
	_ core.CleanerUpper = (*Pike)(nil)
	_ core.LuaExporter  = (*Pike)(nil)
)
