package sl_test

import (
	"testing"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/sl"
)

func TestREADME(t *testing.T) {
	for _, src := range coretest.CheckREADME(t, "README.md", "sl", (&sl.SL{}).LuaExports()) {
		rec, _ := coretest.Route(t, src, coretest.Register, coretest.Export("sl", &sl.SL{}))
		if rec.Code() != 403 {
			t.Fatalf("example answered %d, want 403", rec.Code())
		}
	}
}
