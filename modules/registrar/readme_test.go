package registrar_test

import (
	"testing"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/registrar"
)

func TestREADME(t *testing.T) {
	if n := len(coretest.CheckREADME(t, "README.md", "registrar", registrar.New().LuaExports())); n < 2 {
		t.Fatalf("%d Lua examples, want the route and the event", n)
	}
	coretest.CheckREADME(t, "../usrloc/README.md", "usrloc", nil)
}
