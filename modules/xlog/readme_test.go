package xlog_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/pv"
	"github.com/locus-sip/locus/modules/sl"
	"github.com/locus-sip/locus/modules/xlog"
)

// TestREADME checks the README's sections, loads its configuration and
// runs its example, checking the lines it writes.
func TestREADME(t *testing.T) {
	examples := coretest.CheckREADME(t, "README.md", "xlog", xlog.New().LuaExports())
	if len(examples) != 1 {
		t.Fatalf("%d Lua examples, want 1", len(examples))
	}
	b := coretest.Fences(t, readFile(t, "README.md"), "yaml")[0]
	m, err := coretest.LoadModule(t, b, "xlog")
	if err != nil {
		t.Fatalf("README configuration: %v", err)
	}
	prefix := m.(*xlog.XLog).Prefix
	noUA := strings.Replace(coretest.Register, "User-Agent: coretest\n", "", 1)
	cases := []struct {
		name string
		raw  string
		want []string
		not  string
	}{
		{"with User-Agent", coretest.Register, []string{
			"INFO " + prefix + "REGISTER sip:alice@example.com from 192.0.2.10:5060 via udp",
			"DEBUG " + prefix + "expires 3600, price $0",
		}, "no User-Agent"},
		{"without User-Agent", noUA, []string{
			"WARN " + prefix + "no User-Agent in REGISTER c1@192.0.2.10",
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCapture(slog.LevelDebug)
			x := xlog.NewWithLogger(slog.New(c), nil)
			x.Prefix = prefix
			rec, _ := coretest.Route(t, examples[0], tc.raw,
				coretest.Export("xlog", x), coretest.Export("pv", &pv.PV{}), coretest.Export("sl", &sl.SL{}))
			if rec.Code() != 200 {
				t.Fatalf("reply %d, want 200", rec.Code())
			}
			for _, w := range tc.want {
				if !c.has(w) {
					t.Errorf("%q not logged:\n%s", w, c)
				}
			}
			if tc.not != "" && strings.Contains(c.String(), tc.not) {
				t.Errorf("%q logged:\n%s", tc.not, c)
			}
		})
	}
}
