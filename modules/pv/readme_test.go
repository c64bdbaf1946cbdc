package pv

import (
	"os"
	"strings"
	"testing"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/sl"
)

// The README is part of the module: fixed sections, every pseudo-variable
// and function listed, and its Lua examples run.
func TestREADME(t *testing.T) {
	examples := coretest.CheckREADME(t, "README.md", "pv", (&PV{}).LuaExports())
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range names {
		if !strings.Contains(string(b), "`"+name+"`") {
			t.Errorf("README does not list %s", name)
		}
	}
	if len(examples) == 0 {
		t.Fatal("no Lua examples")
	}
	for i, src := range examples {
		rt := coretest.Runtime(t, src, coretest.Export("pv", &PV{}), coretest.Export("sl", &sl.SL{}))
		m, _ := coretest.Msg(t, coretest.Register)
		if err := rt.Route(m); err != nil {
			t.Errorf("example %d: %v\n%s", i+1, err, src)
		}
	}
}
