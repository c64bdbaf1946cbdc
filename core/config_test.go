package core

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	src := `
listen:
  - udp:127.0.0.1:5060
  - socket: tls:[::1]:5061
    cert: c.pem
    key: k.pem
script:
  file: route.lua
  timeout: 50ms
  pool: 8
store: "memory:"
admin: off
log: {level: debug, format: json}
sip: {max_inflight: 100, user_agent: ""}
modules:
  sl: {}
`
	var cfg Config
	if err := ParseConfig([]byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Listen) != 2 || cfg.Listen[0].Proto() != "udp" || cfg.Listen[1].Addr() != "[::1]:5061" || cfg.Listen[1].Cert != "c.pem" {
		t.Fatalf("listen = %+v", cfg.Listen)
	}
	if cfg.Script.File != "route.lua" || time.Duration(cfg.Script.Timeout) != 50*time.Millisecond || cfg.Script.Pool != 8 {
		t.Fatalf("script = %+v", cfg.Script)
	}
	if cfg.Admin != "off" || cfg.Log.Level != "debug" || cfg.Log.Format != "json" || cfg.SIP.MaxInflight != 100 || *cfg.SIP.UserAgent != "" {
		t.Fatalf("cfg = %+v", cfg)
	}
	if _, ok := cfg.Modules["sl"]; !ok {
		t.Fatal("modules.sl missing")
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var socks []string
	for _, l := range cfg.Listen {
		socks = append(socks, l.Socket)
	}
	if strings.Join(socks, ",") != "udp:0.0.0.0:5060,tcp:0.0.0.0:5060" {
		t.Fatalf("default listen = %v", socks)
	}
	if cfg.Script.File != DefaultScript || time.Duration(cfg.Script.Timeout) != DefaultTimeout || !*cfg.Script.Watch {
		t.Fatalf("default script = %+v", cfg.Script)
	}
	if cfg.Store != DefaultStore || cfg.Admin != DefaultAdmin || *cfg.SIP.UserAgent != DefaultUserAgent {
		t.Fatalf("defaults = %+v", cfg)
	}
}

func TestScriptShortForm(t *testing.T) {
	var cfg Config
	if err := ParseConfig([]byte("script: my.lua\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Script.File != "my.lua" {
		t.Fatalf("script = %+v", cfg.Script)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"unknown top-level key", "listne: []\n", "listne"},
		{"unknown script key", "script: {file: a.lua, timout: 1s}\n", "timout"},
		{"unknown listen key", "listen: [{socket: 'udp:1.2.3.4:5060', crt: x}]\n", "crt"},
		{"bad duration", "script: {timeout: soon}\n", "soon"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cfg Config
			err := ParseConfig([]byte(tc.src), &cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to name %q", err, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"bad proto", func(c *Config) { c.Listen = []Listen{{Socket: "sctp:1.2.3.4:5060"}} }, "unknown protocol"},
		{"no port", func(c *Config) { c.Listen = []Listen{{Socket: "udp:1.2.3.4"}} }, "udp:1.2.3.4"},
		{"bad port", func(c *Config) { c.Listen = []Listen{{Socket: "udp:1.2.3.4:70000"}} }, "bad port"},
		{"tls without cert", func(c *Config) { c.Listen = []Listen{{Socket: "tls:1.2.3.4:5061"}} }, "cert and key"},
		{"bad level", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
		{"bad format", func(c *Config) { c.Log.Format = "xml" }, "log.format"},
		{"bad admin", func(c *Config) { c.Admin = "localhost" }, "admin"},
		{"negative pool", func(c *Config) { c.Script.Pool = -1 }, "script.pool"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{}
			cfg.ApplyDefaults()
			tc.mod(cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLoadConfigFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "locus.yaml")
	if err := os.WriteFile(p, []byte("store: \"memory:\"\nbogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(p)
	if err == nil || !strings.Contains(err.Error(), "bogus") || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(empty); err != nil {
		t.Fatalf("empty file: %v", err)
	}
}
