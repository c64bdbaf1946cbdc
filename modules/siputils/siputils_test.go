package siputils_test

import (
	"strings"
	"testing"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/siputils"
	"github.com/locus-sip/locus/modules/sl"
)

func TestHasToTag(t *testing.T) {
	withTag := strings.Replace(coretest.Register, "To: <sip:alice@example.com>\n", "To: <sip:alice@example.com>;tag=abc\n", 1)
	if withTag == coretest.Register {
		t.Fatal("test request has no To line to tag")
	}
	for _, tc := range []struct {
		raw  string
		code int
	}{{coretest.Register, 200}, {withTag, 481}} {
		for _, src := range coretest.CheckREADME(t, "README.md", "siputils", (&siputils.SipUtils{}).LuaExports()) {
			rec, _ := coretest.Route(t, src, tc.raw, coretest.Export("siputils", &siputils.SipUtils{}), coretest.Export("sl", &sl.SL{}))
			if rec.Code() != tc.code {
				t.Fatalf("answered %d, want %d", rec.Code(), tc.code)
			}
		}
	}
}
