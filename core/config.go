package core

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is locus's configuration file. Every key is optional: the zero
// file gives a working server.
type Config struct {
	// Listen holds the SIP sockets, "proto:host:port" (udp, tcp, tls, ws, wss).
	Listen []Listen     `yaml:"listen"`
	Script ScriptConfig `yaml:"script"`
	// Store is the location store DSN (memory:, sqlite:PATH, redis://, postgres://).
	Store string `yaml:"store"`
	// Admin is the admin HTTP listener address, or "off".
	Admin string    `yaml:"admin"`
	Log   LogConfig `yaml:"log"`
	SIP   SIPConfig `yaml:"sip"`
	// ShutdownTimeout bounds how long requests in progress may take to
	// finish after SIGTERM.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// Modules holds one section per module, decoded by the module itself.
	Modules map[string]yaml.Node `yaml:"modules"`
}

// Listen is one SIP socket. In YAML it is either a string
// ("tls:0.0.0.0:5061") or a mapping with the certificate for TLS and WSS.
type Listen struct {
	Socket string `yaml:"socket"`
	Cert   string `yaml:"cert"`
	Key    string `yaml:"key"`
	// Advertise is the host[:port] put in Via/Contact instead of the bound address.
	Advertise string `yaml:"advertise"`
}

// Proto, Host and Port split the socket; Validate has checked it.
func (l Listen) Proto() string { p, _, _ := splitSocket(l.Socket); return p }

// Addr is the host:port part of the socket.
func (l Listen) Addr() string { _, a, _ := splitSocket(l.Socket); return a }

// UnmarshalYAML accepts the short string form.
func (l *Listen) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		l.Socket = n.Value
		return nil
	}
	type plain Listen
	return decodeStrict(*n, (*plain)(l))
}

// ScriptConfig configures the routing script runtime.
type ScriptConfig struct {
	// File is the Lua routing script.
	File string `yaml:"file"`
	// Timeout bounds one run of the request route.
	Timeout Duration `yaml:"timeout"`
	// Pool is the number of Lua states per script generation (0: 32 per CPU).
	Pool int `yaml:"pool"`
	// Watch enables reload when the file changes (default true).
	Watch *bool `yaml:"watch"`
}

// UnmarshalYAML accepts the short form "script: FILE".
func (s *ScriptConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s.File = n.Value
		return nil
	}
	type plain ScriptConfig
	return decodeStrict(*n, (*plain)(s))
}

// LogConfig configures logging.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// SIPConfig holds engine settings.
type SIPConfig struct {
	// MaxInflight bounds the requests being processed at once; beyond it
	// locus answers 503 with Retry-After.
	MaxInflight int `yaml:"max_inflight"`
	// UserAgent is the Server header of locus's replies ("" for none).
	UserAgent *string `yaml:"user_agent"`
	// UDPWorkers is the number of goroutines reading each UDP socket
	// (0: 16 per CPU); requests beyond them wait in the socket buffer.
	UDPWorkers int `yaml:"udp_workers"`
	// UDPMaxQueueDelay is how long a request may wait in a UDP socket's
	// buffer and still be handled; an older one is dropped unread
	// (overload shedding). 0, the default, sheds nothing: a request
	// answered late but within its transaction is still a success. Set
	// well under T1 (200 ms), what is handled is answered before its
	// client retransmits, and what is shed comes back fresh.
	UDPMaxQueueDelay Duration `yaml:"udp_max_queue_delay"`
}

// Duration is a time.Duration written as "100ms" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if v, err := strconv.ParseFloat(n.Value, 64); err == nil {
		*d = Duration(v * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (like 100ms or 2s)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Defaults used when the file and the flags say nothing.
const (
	DefaultScript          = "scripts/default.lua"
	DefaultStore           = "sqlite:locus.db"
	DefaultAdmin           = "127.0.0.1:5080"
	DefaultTimeout         = 100 * time.Millisecond
	DefaultMaxInflight     = 10000
	DefaultShutdownTimeout = 10 * time.Second
	DefaultUserAgent       = "locus"
)

// DefaultListen is used when no socket is configured.
var DefaultListen = []string{"udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"}

// LoadConfig reads a YAML config file strictly: unknown keys are errors
// naming the key. An empty path gives the defaults.
func LoadConfig(path string) (*Config, error) {
	cfg := &Config{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := ParseConfig(b, cfg); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	return cfg, nil
}

// ParseConfig decodes YAML into cfg, refusing unknown keys.
func ParseConfig(b []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// An empty file decodes as io.EOF: it means "all defaults".
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// ApplyDefaults fills what is unset.
func (c *Config) ApplyDefaults() {
	if len(c.Listen) == 0 {
		for _, s := range DefaultListen {
			c.Listen = append(c.Listen, Listen{Socket: s})
		}
	}
	if c.Script.File == "" {
		c.Script.File = DefaultScript
	}
	if c.Script.Timeout == 0 {
		c.Script.Timeout = Duration(DefaultTimeout)
	}
	if c.Script.Watch == nil {
		t := true
		c.Script.Watch = &t
	}
	if c.Store == "" {
		c.Store = DefaultStore
	}
	if c.Admin == "" {
		c.Admin = DefaultAdmin
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = Duration(DefaultShutdownTimeout)
	}
	if c.SIP.MaxInflight == 0 {
		c.SIP.MaxInflight = DefaultMaxInflight
	}
	if c.SIP.UserAgent == nil {
		ua := DefaultUserAgent
		c.SIP.UserAgent = &ua
	}
}

// Validate checks the core settings (modules validate their own).
func (c *Config) Validate() error {
	for i, l := range c.Listen {
		proto, _, err := splitSocket(l.Socket)
		if err != nil {
			return fmt.Errorf("config: listen[%d]: %w", i, err)
		}
		if (proto == "tls" || proto == "wss") && (l.Cert == "" || l.Key == "") {
			return fmt.Errorf("config: listen[%d]: %s needs cert and key", i, proto)
		}
	}
	if c.Script.Timeout < 0 {
		return errors.New("config: script.timeout must be positive")
	}
	if c.Script.Pool < 0 {
		return errors.New("config: script.pool must not be negative")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log.level %q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fmt.Errorf("config: log.format %q: want text or json", c.Log.Format)
	}
	if c.Admin != "off" {
		if _, _, err := net.SplitHostPort(c.Admin); err != nil {
			return fmt.Errorf("config: admin %q: want host:port or off", c.Admin)
		}
	}
	if c.SIP.MaxInflight < 0 || c.SIP.UDPWorkers < 0 || c.SIP.UDPMaxQueueDelay < 0 {
		return errors.New("config: sip.max_inflight, sip.udp_workers and sip.udp_max_queue_delay must not be negative")
	}
	return nil
}

// splitSocket parses "proto:host:port"; host may be an IPv6 literal in brackets.
func splitSocket(s string) (proto, addr string, err error) {
	proto, addr, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", fmt.Errorf("socket %q: want proto:host:port", s)
	}
	proto = strings.ToLower(proto)
	switch proto {
	case "udp", "tcp", "tls", "ws", "wss":
	default:
		return "", "", fmt.Errorf("socket %q: unknown protocol %q (want udp, tcp, tls, ws or wss)", s, proto)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("socket %q: %w", s, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", "", fmt.Errorf("socket %q: bad port %q", s, port)
	}
	return proto, net.JoinHostPort(host, port), nil
}

// decodeStrict decodes a YAML node into v, refusing unknown keys. yaml's
// Node.Decode is lenient, so the node is re-encoded and decoded strictly.
func decodeStrict(n yaml.Node, v any) error {
	if n.Kind == 0 {
		return nil
	}
	b, err := yaml.Marshal(&n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		// Line numbers of the re-encoded section are meaningless to the user.
		return errors.New(stripLine(err.Error()))
	}
	return nil
}

func stripLine(s string) string {
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n  ")
	if strings.HasPrefix(s, "line ") {
		if i := strings.Index(s, ": "); i > 0 {
			s = s[i+2:]
		}
	}
	return s
}
