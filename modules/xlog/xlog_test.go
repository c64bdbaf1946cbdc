package xlog_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/pv"
	"github.com/locus-sip/locus/modules/xlog"
)

func TestParseLevel(t *testing.T) {
	cases := []struct {
		name string
		want xlog.Level
		slog slog.Level
	}{
		{"L_ALERT", xlog.LevelAlert, slog.LevelError},
		{"L_BUG", xlog.LevelBug, slog.LevelError},
		{"L_CRIT2", xlog.LevelCrit2, slog.LevelError},
		{"L_CRIT", xlog.LevelCrit, slog.LevelError},
		{"L_ERR", xlog.LevelErr, slog.LevelError},
		{"L_WARN", xlog.LevelWarn, slog.LevelWarn},
		{"L_NOTICE", xlog.LevelNotice, slog.LevelInfo},
		{"L_INFO", xlog.LevelInfo, slog.LevelInfo},
		{"L_DBG", xlog.LevelDbg, slog.LevelDebug},
		{"l_dbg", xlog.LevelDbg, slog.LevelDebug},
		{"L_Info", xlog.LevelInfo, slog.LevelInfo},
		{"info", xlog.LevelInfo, slog.LevelInfo},
		{"warn", xlog.LevelWarn, slog.LevelWarn},
		{"L_DEBUG", xlog.LevelErr, slog.LevelError},
		{"", xlog.LevelErr, slog.LevelError},
		{"L_", xlog.LevelErr, slog.LevelError},
		{"verbose", xlog.LevelErr, slog.LevelError},
		{"L_INFOX", xlog.LevelErr, slog.LevelError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := xlog.ParseLevel(tc.name)
			if got != tc.want || got.Slog() != tc.slog {
				t.Fatalf("ParseLevel(%q) = %d (slog %v), want %d (slog %v)", tc.name, got, got.Slog(), tc.want, tc.slog)
			}
		})
	}
}

// classes are pseudo-variables another module provides, as auth and the
// registrar do.
func classes() *pv.PV {
	p := &pv.PV{}
	p.AddClasses(map[string]core.PVClass{
		"au": func(*core.Msg, string, int) any { return "alice" },
		"ulc": func(_ *core.Msg, inner string, index int) any {
			if inner == "p=>addr" && index < 2 {
				return []string{"sip:a@192.0.2.1", "sip:b@192.0.2.2"}[index]
			}
			return nil
		},
	})
	return p
}

func TestCompileExpand(t *testing.T) {
	cases := []struct {
		format  string
		want    string
		unknown []string
	}{
		{"plain text", "plain text", nil},
		{"", "", nil},
		{"$rm from $fu to $tu", "REGISTER from sip:alice@example.com to sip:alice@example.com", nil},
		{"$si:$sp over $pr", "192.0.2.10:5060 over udp", nil},
		{"$si$sp", "192.0.2.105060", nil},
		{"[$ci] $ua", "[c1@192.0.2.10] coretest", nil},
		{"expires $hdr(Expires)", "expires 3600", nil},
		{"$hdr(X-None)", "<null>", nil},
		{"$rU@$rd", "<null>@example.com", nil},
		{"user $var(user) n $var(n) unset $var(none)", "user bob n 7 unset 0", nil},
		{"$(ru) $(hdr(Expires))", "sip:example.com 3600", nil},
		{"$$ $$$ru $$si", "$ $sip:example.com $si", nil},
		{"auth $au", "auth alice", nil},
		{"$ulc(p=>addr) $(ulc(p=>addr)[1])", "sip:a@192.0.2.1 sip:b@192.0.2.2", nil},
		{"contact $ct", "contact <null>", []string{"$ct"}},
		{"$(ru{uri.user}) $(fu{uri.user}{s.len})", "<null> <null>", []string{"$(ru{uri.user})", "$(fu{uri.user}{s.len})"}},
		{"$avp(x) $time(%H)", "<null> <null>", []string{"$avp(x)", "$time(%H)"}},
		{"$(hdr(Via)[1])", "<null>", []string{"$(hdr(Via)[1])"}},
		{"end $ru.", "end <null>", []string{"$ru."}},
		{"nested $hdr(X(1))", "nested <null>", []string{"$hdr(X(1))"}},
		{"line\n", "line\n", nil},
	}
	m, _ := coretest.Msg(t, coretest.Register)
	m.Vars = map[string]any{"user": "bob", "n": 7}
	p := classes()
	for _, tc := range cases {
		t.Run(tc.format, func(t *testing.T) {
			f, err := xlog.Compile(tc.format, p.ParseName)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(f.Expand(m, p, nil)); got != tc.want {
				t.Errorf("expanded %q, want %q", got, tc.want)
			}
			if strings.Join(f.Unknown, " ") != strings.Join(tc.unknown, " ") {
				t.Errorf("unknown %q, want %q", f.Unknown, tc.unknown)
			}
		})
	}
}

// TestExpandWithoutRequest: at script load there is no request; every
// pseudo-variable prints <null> and buf's content is kept.
func TestExpandWithoutRequest(t *testing.T) {
	f, err := xlog.Compile("$si:$sp $$ $var(x)", (&pv.PV{}).ParseName)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(f.Expand(nil, &pv.PV{}, []byte("x: "))); got != "x: <null>:<null> $ <null>" {
		t.Fatalf("expanded %q", got)
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		format string
		want   error
	}{
		{"$", xlog.ErrDangling},
		{"cost $ 5", xlog.ErrDangling},
		{"trailing $", xlog.ErrDangling},
		{"$-x", xlog.ErrDangling},
		{"$()", xlog.ErrDangling},
		{"$(ru", xlog.ErrUnterminated},
		{"$(ru x)", xlog.ErrUnterminated},
		{"$hdr(X", xlog.ErrUnterminated},
		{"$hdr(a(b)", xlog.ErrUnterminated},
		{"$hdr()", xlog.ErrEmpty},
		{"$(hdr(Via)[])", xlog.ErrEmpty},
		{"$(ru{uri.user)", xlog.ErrUnterminated},
	}
	p := &pv.PV{}
	for _, tc := range cases {
		t.Run(tc.format, func(t *testing.T) {
			f, err := xlog.Compile(tc.format, p.ParseName)
			if !errors.Is(err, tc.want) || f != nil {
				t.Fatalf("Compile(%q) = %v, %v; want error %v", tc.format, f, err, tc.want)
			}
		})
	}
}

func TestLog(t *testing.T) {
	c := newCapture(slog.LevelInfo)
	x := xlog.NewWithLogger(slog.New(c), classes())
	x.Prefix = "route: "
	m, _ := coretest.Msg(t, coretest.Register)
	ctx := context.Background()
	cases := []struct {
		level xlog.Level
		fmt   string
		rc    int
		want  string // "" for nothing logged
	}{
		{xlog.LevelInfo, "REGISTER $fu from $si:$sp\n", 1, "INFO route: REGISTER sip:alice@example.com from 192.0.2.10:5060"},
		{xlog.LevelNotice, "no variables\r\n", 1, "INFO route: no variables"},
		{xlog.LevelWarn, "$ct", 1, "WARN route: <null>"},
		{xlog.LevelAlert, "alert $au", 1, "ERROR route: alert alice"},
		{xlog.LevelDbg, "not shown $ru", 1, ""},
		{xlog.LevelDbg, "$", 1, ""}, // not formatted at all below the level, as in Kamailio
		{xlog.LevelErr, "bad $", -1, ""},
	}
	for _, tc := range cases {
		before := len(c.entries())
		if rc := x.Log(ctx, m, tc.level, tc.fmt); rc != tc.rc {
			t.Errorf("%q: rc %d, want %d", tc.fmt, rc, tc.rc)
		}
		if tc.want != "" && !c.has(tc.want) {
			t.Errorf("%q: %q not logged:\n%s", tc.fmt, tc.want, c)
		}
		if tc.want == "" && tc.rc > 0 && len(c.entries()) != before {
			t.Errorf("%q logged below the level:\n%s", tc.fmt, c)
		}
	}
	if !c.has("ERROR xlog: bad format") {
		t.Errorf("bad format not reported:\n%s", c)
	}
	if !c.has("WARN xlog: pseudo-variables locus does not know print <null>") {
		t.Errorf("unknown pseudo-variable not reported:\n%s", c)
	}
	// The warning is given once per format, not per call.
	n := len(c.entries())
	x.Log(ctx, m, xlog.LevelWarn, "$ct")
	if got := len(c.entries()); got != n+1 {
		t.Errorf("second call logged %d lines, want 1:\n%s", got-n, c)
	}
}

// TestLogCacheBound: formats beyond cache_size are still formatted right.
func TestLogCacheBound(t *testing.T) {
	c := newCapture(slog.LevelInfo)
	x := xlog.NewWithLogger(slog.New(c), nil)
	x.CacheSize = 2
	m, _ := coretest.Msg(t, coretest.Register)
	for i, f := range []string{"a $si", "b $si", "c $si", "c $si", "a $si"} {
		x.Log(context.Background(), m, xlog.LevelInfo, f)
		want := "INFO " + f[:1] + " 192.0.2.10"
		if got := c.messages()[len(c.messages())-1]; got != want {
			t.Fatalf("call %d: %q, want %q", i, got, want)
		}
	}
	if got := x.CachedFormats(); got != 2 {
		t.Fatalf("%d formats cached, want 2", got)
	}
}

func TestConfig(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		prefix  string
		cache   int
		wantErr string
	}{
		{"default", "", "", xlog.DefaultCacheSize, ""},
		{"set", "modules:\n  xlog:\n    prefix: 'script: '\n    cache_size: 16\n", "script: ", 16, ""},
		{"cache off", "modules:\n  xlog:\n    cache_size: 0\n", "", 0, ""},
		{"negative", "modules:\n  xlog:\n    cache_size: -1\n", "", 0, "cache_size"},
		{"prefix with newline", "modules:\n  xlog:\n    prefix: \"a\\nb\"\n", "", 0, "prefix"},
		{"unknown key", "modules:\n  xlog:\n    buf_size: 1024\n", "", 0, "buf_size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := coretest.LoadModule(t, tc.yaml, "xlog")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			x := m.(*xlog.XLog)
			if x.Prefix != tc.prefix || x.CacheSize != tc.cache {
				t.Fatalf("prefix %q cache_size %d, want %q %d", x.Prefix, x.CacheSize, tc.prefix, tc.cache)
			}
		})
	}
}

// TestProvision: a loaded xlog logs with module=xlog and reads the pv
// classes other modules provide.
func TestProvision(t *testing.T) {
	c := newCapture(slog.LevelDebug)
	var cfg core.Config
	if err := core.ParseConfig([]byte("modules:\n  xlog:\n    prefix: 'x: '\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	h, err := core.LoadModules(context.Background(), &cfg, slog.New(c))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	mod, _ := h.Module("xlog")
	pm, _ := h.Module("pv")
	pm.(*pv.PV).AddClasses(map[string]core.PVClass{"au": func(*core.Msg, string, int) any { return "carol" }})
	m, _ := coretest.Msg(t, coretest.Register)
	mod.(*xlog.XLog).Log(context.Background(), m, xlog.LevelInfo, "user $au at $si")
	for _, e := range c.entries() {
		if e.msg == "x: user carol at 192.0.2.10" {
			if e.attrs["module"] != "xlog" {
				t.Fatalf("module attribute %q, want xlog", e.attrs["module"])
			}
			return
		}
	}
	t.Fatalf("message not logged:\n%s", c)
}
