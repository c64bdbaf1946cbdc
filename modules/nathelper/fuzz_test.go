package nathelper_test

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/nathelper"
)

// FuzzParseAlias reads alias parameter values: never a panic, and a value
// accepted gives a SIP URI with an IP address host and a port.
func FuzzParseAlias(f *testing.F) {
	for _, s := range []string{
		"203.0.113.5~40000~1", "[2001:db8::5]~5060~6", "2001:db8::5~1~2", "x~y~z", "~~", "1.2.3.4~65535~3",
		"1.2.3.4~65536~1", "fe80::1%eth0~5060~1", "1.2.3.4~5060~1;lr",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := nathelper.ParseAlias(s)
		if err != nil {
			return
		}
		var uri sip.Uri
		if perr := sip.ParseUri(u, &uri); perr != nil {
			t.Fatalf("%q gave %q, which does not parse: %v", s, u, perr)
		}
		if !strings.HasPrefix(u, "sip:") || uri.Port < 1 {
			t.Fatalf("%q gave %q (host %q port %d)", s, u, uri.Host, uri.Port)
		}
	})
}

// FuzzRequest runs every test and change on arbitrary requests: never a
// panic, a changed request still parses, and after fix_nated_contact the
// Contact tests no longer see a NAT.
func FuzzRequest(f *testing.F) {
	for _, r := range []req{
		{},
		{method: "REGISTER", contact: []string{"<sip:alice@192.168.1.10:5060;maddr=10.0.0.1>;expires=60", "<sip:b@[fd00::1]>"}},
		{method: "REGISTER", contact: []string{"*"}},
		{ruri: "sip:alice@192.168.1.10;alias=203.0.113.5~40000~2", contact: []string{"-"}},
		{ctype: "application/sdp", body: sdpPrivate},
		{body: sdpMedia, via: "phone.example.com"},
	} {
		f.Add(r.raw())
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := coretest.ParseRequest(raw); err != nil {
			return
		}
		fresh := func() *core.Msg {
			req, _ := coretest.ParseRequest(raw)
			m := core.NewMsg(req, nil)
			m.SrcIP, m.SrcPort, m.Transport = "203.0.113.5", 40000, "udp"
			return m
		}
		// Only requests that sipgo writes back parseably can be checked
		// for staying parseable.
		roundTrips := true
		if _, err := coretest.ParseRequest(fresh().Req.String()); err != nil {
			roundTrips = false
		}
		reparses := func(what string, m *core.Msg) {
			if !roundTrips {
				return
			}
			if _, err := coretest.ParseRequest(m.Req.String()); err != nil {
				t.Fatalf("after %s the request no longer parses: %v\n%s", what, err, m.Req.String())
			}
		}
		for _, n := range []*nathelper.NATHelper{{NATAddrMode: 0}, {NATAddrMode: 1}} {
			m := fresh()
			if got := n.UACTest(m, nathelper.AllTests); got&^nathelper.AllTests != 0 {
				t.Fatalf("UACTest answered %d", got)
			}
		}
		n := nathelper.New()
		if m := fresh(); n.FixNatedContact(m) == nil {
			reparses("fix_nated_contact", m)
			if got := n.UACTest(m, nathelper.TestContactPrivate|nathelper.TestContactPort); got != 0 {
				t.Fatalf("after fix_nated_contact, test %d still holds", got)
			}
		}
		if m := fresh(); func() bool { _, err := n.AddRcvParam(m, false); return err == nil }() {
			reparses("add_rcv_param", m)
		}
		if m := fresh(); n.SetContactAlias(m) == nil {
			reparses("set_contact_alias", m)
		}
		if m := fresh(); func() bool { found, err := n.HandleRURIAlias(m); return found && err == nil }() {
			reparses("handle_ruri_alias", m)
			var u sip.Uri
			if err := sip.ParseUri(m.DstURI, &u); err != nil {
				t.Fatalf("$du %q: %v", m.DstURI, err)
			}
		}
	})
}
