package admin_test

import (
	"testing"

	"github.com/locus-sip/locus/core/coretest"
)

func TestREADME(t *testing.T) {
	// No Lua API: the check is the fixed sections.
	coretest.CheckREADME(t, "README.md", "admin", nil)
}
