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

func TestPredicates(t *testing.T) {
	forwarded := strings.Replace(coretest.Register, "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-test-1\n",
		"Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK-p\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-test-1\n", 1)
	if forwarded == coretest.Register {
		t.Fatal("test request has no Via line to extend")
	}
	src := `function ksr_request_route()
	if KSR.siputils.is_request() ~= 1 or KSR.siputils.is_reply() ~= -1 then error("request") end
	if KSR.siputils.is_first_hop() > 0 then KSR.sl.sl_send_reply(200, "first") else KSR.sl.sl_send_reply(200, "forwarded") end
end`
	for raw, want := range map[string]string{coretest.Register: "first", forwarded: "forwarded"} {
		rec, _ := coretest.Route(t, src, raw, coretest.Export("siputils", &siputils.SipUtils{}), coretest.Export("sl", &sl.SL{}))
		if f := rec.Final(); f == nil || f.Reason != want {
			t.Errorf("got %v, want %s", rec.Replies, want)
		}
	}
}
