package tm_test

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/tm"
)

// The README's example runs as a proxy: the q=0.9 device rings first, the
// q=0.5 one after it fails.
func TestREADME(t *testing.T) {
	examples := coretest.CheckREADME(t, "README.md", "tm", tm.New().LuaExports())
	if len(examples) != 1 {
		t.Fatalf("%d examples", len(examples))
	}
	px := startProxy(t, strings.Replace(examples[0], "function ksr_request_route()", `function ksr_request_route()
	if KSR.is_REGISTER() then KSR.registrar.save("location", 0) return end
	if KSR.is_ACK() then return end`, 1), "")
	alice, hi, lo := newPhone(t, "alice"), newPhone(t, "hi"), newPhone(t, "lo")
	hi.register(px, "bob", "", ";q=0.9")
	lo.register(px, "bob", "", ";q=0.5")
	alice.invite(px.udp, "bob", "readme-call")
	i := hi.expectRequest(sip.INVITE, wait)
	hi.reply(px.udp, i, 486)
	j := lo.expectRequest(sip.INVITE, wait)
	lo.reply(px.udp, j, 200)
	alice.expectResponse(200, wait)
}

func TestConfigValidation(t *testing.T) {
	for _, bad := range []string{"fr_timer: 0", "t1: 5s\n    t2: 1s", "max_transactions: -1", "no_such_key: 1"} {
		if _, err := coretest.LoadModules(t, "store: \"memory:\"\nmodules:\n  tm:\n    "+bad+"\n"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := coretest.LoadModules(t, "store: \"memory:\"\nmodules:\n  tm:\n    fr_timer: 5\n    auto_inv_100: false\n"); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}
