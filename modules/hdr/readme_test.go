package hdr_test

import (
	"testing"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/hdr"
	"github.com/locus-sip/locus/modules/sl"
)

// The README is part of the module: fixed sections, every function
// documented, and its Lua examples run.
func TestREADME(t *testing.T) {
	examples := coretest.CheckREADME(t, "README.md", "hdr", (&hdr.Hdr{}).LuaExports())
	if len(examples) == 0 {
		t.Fatal("no Lua examples")
	}
	for i, src := range examples {
		rt := coretest.Runtime(t, src, coretest.Export("hdr", &hdr.Hdr{}), coretest.Export("sl", &sl.SL{}))
		m, _ := coretest.Msg(t, coretest.Register)
		if err := rt.Route(m); err != nil {
			t.Errorf("example %d: %v\n%s", i+1, err, src)
		}
	}
}
