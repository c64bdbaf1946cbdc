package usrloc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/locus-sip/locus/core"
)

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "usrloc", New: func() core.Module { return New() }})
}

// Provision opens the store named by the top-level store DSN.
func (u *Usrloc) Provision(ctx context.Context, h *core.Host) error {
	dsn := h.Config.Store
	if dsn == "" {
		dsn = core.DefaultStore
	}
	st, err := Open(ctx, dsn)
	if err != nil {
		return err
	}
	u.metrics = newMetrics(h.Metrics, st)
	return u.init(st, h.Log)
}

// Validate checks the configuration.
func (u *Usrloc) Validate() error {
	switch u.Cache {
	case "auto", "on", "off":
	default:
		return fmt.Errorf("usrloc: cache %q: want auto, on or off", u.Cache)
	}
	if u.CacheSize <= 0 {
		return errors.New("usrloc: cache_size must be positive")
	}
	if u.CacheTTL <= 0 || u.TimerInterval <= 0 {
		return errors.New("usrloc: cache_ttl and timer_interval must be positive")
	}
	return nil
}

// Start runs the expiry sweeper and follows the store's change feed.
func (u *Usrloc) Start(ctx context.Context) error {
	ctx, u.cancel = context.WithCancel(ctx)
	u.done = make(chan struct{})
	go u.run(ctx)
	return nil
}

func (u *Usrloc) run(ctx context.Context) {
	defer close(u.done)
	t := time.NewTicker(u.TimerInterval)
	defer t.Stop()
	changes := u.store.Changes()
	for {
		select {
		case <-ctx.Done():
			return
		case c, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			u.Invalidate(c.Table, c.AOR)
		case <-t.C:
			sctx, cancel := context.WithTimeout(ctx, u.TimerInterval)
			if _, err := u.Sweep(sctx); err != nil {
				u.log.Warn("expiry sweep failed", "error", err)
			}
			cancel()
		}
	}
}

// Cleanup stops the background work and closes the store.
func (u *Usrloc) Cleanup() error {
	if u.cancel != nil {
		u.cancel()
		<-u.done
	}
	if u.cache != nil {
		u.cache.Close()
	}
	if u.store != nil {
		return u.store.Close()
	}
	return nil
}

// Ready reports whether the store answers (for /readyz).
func (u *Usrloc) Ready(ctx context.Context) error {
	if _, err := u.store.Get(ctx, "location", "sip:locus-readiness-probe.invalid"); err != nil {
		return fmt.Errorf("usrloc: store: %w", err)
	}
	return nil
}

// Interface guards.
var (
	_ core.Provisioner  = (*Usrloc)(nil)
	_ core.Validator    = (*Usrloc)(nil)
	_ core.Starter      = (*Usrloc)(nil)
	_ core.CleanerUpper = (*Usrloc)(nil)
	_ core.Readiness    = (*Usrloc)(nil)
	_ Service           = (*Usrloc)(nil)
)
