package sqlitestore

import (
	"testing"

	"github.com/locus-sip/locus/core/coretest"
)

func TestREADME(t *testing.T) {
	coretest.CheckREADME(t, "README.md", "sqlitestore", nil)
}
