// Package admin is locus's admin HTTP API: the location service, script
// reload and statistics under /api/v1, Prometheus metrics on /metrics,
// and the health probes /healthz and /readyz. It listens on the top-level
// admin address (loopback by default) and may require a bearer token.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/registrar"
	"github.com/locus-sip/locus/modules/usrloc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "admin", New: func() core.Module { return New() }})
}

// DefaultShutdownTimeout bounds Cleanup when the core configuration
// gives no shutdown_timeout.
const DefaultShutdownTimeout = 10 * time.Second

// Admin is the admin module: its configuration, what it found of the
// other modules, and the HTTP server.
type Admin struct {
	// Token, when set, is the bearer token every /api/v1 request must
	// carry (Authorization: Bearer TOKEN).
	Token string `yaml:"token"`
	// TokenFile holds the token instead (read once at start, trimmed),
	// so that it stays out of the config file.
	TokenFile string `yaml:"token_file"`
	// ProtectMetrics requires the token on /metrics too; the probes
	// /healthz and /readyz are always open.
	ProtectMetrics bool `yaml:"protect_metrics"`
	// PProf serves Go's profiler under /debug/pprof/ (CPU, heap,
	// goroutines, …). Off by default: a profile costs CPU while it runs
	// and shows the program's internals; it needs the token when one is
	// set.
	PProf bool `yaml:"pprof"`

	log             *slog.Logger
	host            *core.Host
	addr            string // the listen address, "" or "off" for none
	token           []byte // the effective token, nil for none
	ul              usrloc.Service
	stores          storeProvider
	caseSensitive   bool // AoR user parts, as the registrar compares them
	started         time.Time
	shutdownTimeout time.Duration
	now             func() time.Time
	mux             *http.ServeMux

	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// storeProvider is what the admin API needs of usrloc beyond
// usrloc.Service: the store itself, to list and count.
type storeProvider interface {
	Store() usrloc.Store
}

// New returns the module with its defaults, unprovisioned.
func New() *Admin {
	return &Admin{caseSensitive: true, now: time.Now, log: slog.New(slog.DiscardHandler)}
}

// Provision reads the token, finds the location service and registers
// the Go runtime and process collectors on the metrics registry.
func (a *Admin) Provision(_ context.Context, h *core.Host) error {
	a.log, a.host, a.started = h.Log, h, a.now()
	a.shutdownTimeout = DefaultShutdownTimeout
	if h.Config != nil {
		a.addr = h.Config.Admin
		if h.Config.ShutdownTimeout > 0 {
			a.shutdownTimeout = time.Duration(h.Config.ShutdownTimeout)
		}
	}
	if a.Token != "" && a.TokenFile != "" {
		return errors.New("admin: set token or token_file, not both")
	}
	switch {
	case a.Token != "":
		a.token = []byte(a.Token)
	case a.TokenFile != "":
		b, err := os.ReadFile(a.TokenFile)
		if err != nil {
			return fmt.Errorf("admin: token_file: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return fmt.Errorf("admin: token_file %s is empty", a.TokenFile)
		}
		a.token = []byte(tok)
	}
	if m, ok := h.Module("usrloc"); ok {
		a.ul, _ = m.(usrloc.Service)
		a.stores, _ = m.(storeProvider)
	}
	if m, ok := h.Module("registrar"); ok {
		if r, ok := m.(*registrar.Registrar); ok {
			a.caseSensitive = r.CaseSensitiveUser
		}
	}
	if h.Metrics != nil {
		for _, c := range []prometheus.Collector{
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		} {
			// Another module may have registered them already.
			if err := h.Metrics.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
				return fmt.Errorf("admin: metrics: %w", err)
			}
		}
	}
	a.mux = a.routes()
	return nil
}

// Validate checks the token: an HTTP header cannot carry every byte.
func (a *Admin) Validate() error {
	for _, c := range a.token {
		if c <= ' ' || c >= 0x7f {
			return errors.New("admin: the token must be printable ASCII without spaces")
		}
	}
	return nil
}

// Start opens the admin listener, unless the admin address is "off", and
// logs "admin listening" with the bound address.
func (a *Admin) Start(context.Context) error {
	if a.addr == "" || a.addr == "off" {
		a.log.Info("admin API off")
		return nil
	}
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return fmt.Errorf("admin: listen %s: %w", a.addr, err)
	}
	a.ln = ln
	a.srv = &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	a.done = make(chan struct{})
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("admin listener failed", "error", err)
		}
	}()
	a.log.Info("admin listening", "addr", ln.Addr().String(), "token", a.token != nil)
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() && a.token == nil {
		a.log.Warn("admin API reachable beyond loopback without a token: set modules.admin.token_file", "addr", ln.Addr().String())
	}
	return nil
}

// Addr is the bound admin address, "" when not listening.
func (a *Admin) Addr() string {
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// Handler is the admin API as an http.Handler, for tests and embedding.
func (a *Admin) Handler() http.Handler { return a }

// Cleanup stops the listener: requests in progress may finish within the
// shutdown timeout, then their connections are closed.
func (a *Admin) Cleanup() error {
	if a.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.shutdownTimeout)
	defer cancel()
	err := a.srv.Shutdown(ctx)
	if err != nil {
		_ = a.srv.Close()
		err = fmt.Errorf("admin: shutdown: %w", err)
	}
	<-a.done
	a.srv = nil
	return err
}

// Interface guards.
var (
	_ core.Provisioner  = (*Admin)(nil)
	_ core.Validator    = (*Admin)(nil)
	_ core.Starter      = (*Admin)(nil)
	_ core.CleanerUpper = (*Admin)(nil)
	_ http.Handler      = (*Admin)(nil)
)
