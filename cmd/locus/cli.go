package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/script"
	"github.com/locus-sip/locus/modules/store/redisstore"
)

// CLI is locus's command line.
type CLI struct {
	Run     RunCmd     `cmd:"" help:"Run the SIP server."`
	Check   CheckCmd   `cmd:"" help:"Compile and validate a routing script."`
	Users   UsersCmd   `cmd:"" help:"Maintain the credentials file (auth_db's file source)."`
	Ctl     CtlCmd     `cmd:"" help:"Query and control a running locus through its admin API."`
	Version VersionCmd `cmd:"" help:"Print the version."`
}

// RunCmd is "locus run". Flags override the config file.
type RunCmd struct {
	Config    string   `short:"c" help:"YAML config file." placeholder:"FILE"`
	Listen    []string `sep:"none" help:"SIP socket proto:host:port (udp, tcp, tls, ws, wss); repeatable; replaces the file's list." placeholder:"PROTO:HOST:PORT"`
	Script    string   `help:"Lua routing script." placeholder:"FILE"`
	Store     string   `help:"Location store DSN." placeholder:"DSN"`
	Admin     string   `help:"Admin HTTP listener address, or off." placeholder:"ADDR|off"`
	LogLevel  string   `help:"Log level: debug, info, warn, error." placeholder:"LEVEL"`
	LogFormat string   `help:"Log format: text or json." placeholder:"FORMAT"`
}

// CheckCmd is "locus check".
type CheckCmd struct {
	File string `arg:"" help:"Routing script to check." type:"path"`
}

// VersionCmd is "locus version".
type VersionCmd struct{}

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func versionString() string {
	v := version
	if v == "" {
		v = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok {
			if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					v += "+" + s.Value[:12]
				}
			}
		}
	}
	return v
}

// Run prints the version.
func (VersionCmd) Run() error {
	fmt.Printf("locus %s\n", versionString())
	return nil
}

// Run checks the script: it compiles, loads in the sandbox with every
// compiled-in module's functions, and defines ksr_request_route.
func (c *CheckCmd) Run() error {
	if err := script.Check(c.File, moduleExports(nil)); err != nil {
		return errors.New(trimScriptPrefix(err.Error()))
	}
	fmt.Printf("%s: ok\n", c.File)
	return nil
}

func trimScriptPrefix(s string) string {
	const p = "script: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// config merges the file, the flags and the defaults.
func (c *RunCmd) config() (*core.Config, error) {
	cfg, err := core.LoadConfig(c.Config)
	if err != nil {
		return nil, err
	}
	if len(c.Listen) > 0 {
		// Flags replace the file's sockets; a TLS or WSS socket given as a
		// flag takes the certificate of the file's socket of that protocol.
		certs := map[string]core.Listen{}
		for _, l := range cfg.Listen {
			if l.Cert != "" {
				certs[l.Proto()] = l
			}
		}
		cfg.Listen = nil
		for _, s := range c.Listen {
			l := core.Listen{Socket: s}
			if f, ok := certs[l.Proto()]; ok {
				l.Cert, l.Key = f.Cert, f.Key
			}
			cfg.Listen = append(cfg.Listen, l)
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Script.File, c.Script)
	set(&cfg.Store, c.Store)
	set(&cfg.Admin, c.Admin)
	set(&cfg.Log.Level, c.LogLevel)
	set(&cfg.Log.Format, c.LogFormat)
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func newLogger(cfg core.LogConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// moduleExports lists the Lua functions of the given modules, or of fresh
// unprovisioned instances of every compiled-in module when h is nil.
func moduleExports(h *core.Host) []script.Export {
	if h != nil {
		return script.ExportsOf(h.Modules())
	}
	var mods []core.NamedModule
	for _, info := range core.RegisteredModules() {
		mods = append(mods, core.NamedModule{Name: info.Name, Module: info.New()})
	}
	return script.ExportsOf(mods)
}

// Run runs the server until SIGTERM or SIGINT; SIGHUP reloads the script.
func (c *RunCmd) Run() error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, os.Stderr)
	// Signals are caught from the start: a SIGTERM that comes as soon as
	// "locus started" is logged must still shut down gracefully.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	redisstore.SetLogger(log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	host, err := core.LoadModules(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer host.Cleanup()

	rt, err := script.New(script.Options{
		File:     cfg.Script.File,
		Timeout:  time.Duration(cfg.Script.Timeout),
		PoolSize: cfg.Script.Pool,
		Exports:  moduleExports(host),
		Log:      log,
	})
	if err != nil {
		return err
	}
	defer rt.Close()
	rt.RegisterMetrics(host.Metrics)
	host.SetScript(rt)
	if *cfg.Script.Watch {
		if err := rt.Watch(ctx); err != nil {
			return err
		}
	}

	eng := core.NewEngine(rt, log, cfg.SIP.MaxInflight, *cfg.SIP.UserAgent)
	eng.SetMetrics(core.NewMetrics(host.Metrics, eng))
	srv, err := core.NewServer(eng, log)
	if err != nil {
		return err
	}
	srv.SetUDPWorkers(cfg.SIP.UDPWorkers)
	srv.SetUDPMaxQueueDelay(time.Duration(cfg.SIP.UDPMaxQueueDelay))
	host.SetOutbound(srv)
	wireTransactions(host, eng)
	if err := srv.Listen(cfg.Listen); err != nil {
		return err
	}
	host.SetListeners(srv.Addrs())
	g := rt.Current()
	log.Info("locus started", "version", versionString(), "script", cfg.Script.File,
		"generation", g.ID, "hash", g.Hash[:12], "store", cfg.Store)

	for sig := range sigs {
		if sig == syscall.SIGHUP {
			log.Info("SIGHUP: reloading script")
			_, _, _ = rt.Reload()
			host.ReloadModules()
			continue
		}
		log.Info("shutting down", "signal", sig.String())
		break
	}
	host.SetListeners(nil) // /readyz answers 503 while requests drain
	sctx, scancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownTimeout))
	defer scancel()
	if err := srv.Shutdown(sctx, eng); err != nil {
		log.Warn("shutdown", "error", err)
	}
	log.Info("stopped")
	return nil
}

// wireTransactions hands the engine the module that keeps transactions
// (tm): it sees requests before the script and every response.
func wireTransactions(h *core.Host, eng *core.Engine) {
	var (
		in  core.Interceptor
		res core.ResponseHandler
	)
	for _, nm := range h.Modules() {
		if i, ok := nm.Module.(core.Interceptor); ok && in == nil {
			in = i
		}
		if r, ok := nm.Module.(core.ResponseHandler); ok && res == nil {
			res = r
		}
	}
	eng.SetTransactions(in, res)
}
