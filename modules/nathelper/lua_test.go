package nathelper_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/nathelper"
	"github.com/locus-sip/locus/modules/registrar"
	"github.com/locus-sip/locus/modules/sl"
	"github.com/locus-sip/locus/modules/store/memstore"
	"github.com/locus-sip/locus/modules/usrloc"
)

// run routes r through src with KSR.nathelper and KSR.sl on the real
// engine and returns the message and the final reply.
func run(t *testing.T, src string, r req) (*core.Msg, *coretest.Recorder) {
	t.Helper()
	rt := coretest.Runtime(t, src, coretest.Export("nathelper", nathelper.New()), coretest.Export("sl", &sl.SL{}))
	m, rec := r.msgRec(t)
	core.NewEngine(rt, slog.New(slog.DiscardHandler), 0, "").Process(m)
	return m, rec
}

// TestLua calls every function from a script and checks return codes.
func TestLua(t *testing.T) {
	src := `
local function eq(got, want, what)
	if got ~= want then error(what .. ": got " .. tostring(got) .. ", want " .. tostring(want)) end
end
function ksr_request_route()
	eq(KSR.nathelper.nat_uac_test(1), 1, "contact private")
	eq(KSR.nathelper.nat_uac_test(2), 1, "via received")
	eq(KSR.nathelper.nat_uac_test(32 + 64), -1, "source public, not ws")
	eq(KSR.nathelper.is_rfc1918("10.1.2.3"), 1, "is_rfc1918 private")
	eq(KSR.nathelper.is_rfc1918("203.0.113.5"), -1, "is_rfc1918 public")
	eq(KSR.nathelper.is_rfc1918("nonsense"), -1, "is_rfc1918 malformed")
	eq(KSR.nathelper.fix_nated_register(), 1, "fix_nated_register")
	eq(KSR.nathelper.add_rcv_param(), 1, "add_rcv_param")
	eq(KSR.nathelper.add_rcv_param(1), 1, "add_rcv_param(1)")
	eq(KSR.nathelper.fix_nated_contact(), 1, "fix_nated_contact")
	eq(KSR.nathelper.nat_uac_test(1 + 128), -1, "contact fixed")
	eq(KSR.nathelper.add_contact_alias(), 2, "add_contact_alias not needed")
	eq(KSR.nathelper.set_contact_alias(), 1, "set_contact_alias")
	eq(KSR.nathelper.add_contact_alias_addr("198.51.100.1", "5070", "tcp"), 1, "add_contact_alias_addr")
	eq(KSR.nathelper.add_contact_alias_addr("bad", "5070", "tcp"), -1, "add_contact_alias_addr bad ip")
	eq(KSR.nathelper.handle_ruri_alias(), 1, "handle_ruri_alias")
	eq(KSR.nathelper.handle_ruri_alias(), 2, "handle_ruri_alias again")
	KSR.sl.send_reply(200, "OK")
end`
	m, rec := run(t, src, req{
		ruri:    "sip:bob@192.168.1.20:5060;alias=198.51.100.2~5062~2",
		via:     "192.168.1.10:5060",
		contact: []string{"<sip:alice@192.168.1.10:5060>"},
	})
	if rec.Code() != 200 {
		t.Fatalf("reply %d, want 200 (a return code check failed)", rec.Code())
	}
	want := `<sip:alice@203.0.113.5:40000;received=sip:203.0.113.5:40000;alias=198.51.100.1~5070~2>;received="sip:203.0.113.5:40000"`
	if got := contacts(m)[0]; got != want {
		t.Errorf("contact %q\nwant    %q", got, want)
	}
	if m.DstURI != "sip:198.51.100.2:5062;transport=tcp" || m.Req.Recipient.String() != "sip:bob@192.168.1.20:5060" {
		t.Errorf("$du %q, R-URI %q", m.DstURI, m.Req.Recipient.String())
	}
	if got, _ := nathelper.Received(m); got != "sip:203.0.113.5:40000" {
		t.Errorf("received %q", got)
	}
}

func TestLuaFailures(t *testing.T) {
	src := `
function ksr_request_route()
	local rc = {
		KSR.nathelper.fix_nated_contact(), KSR.nathelper.set_contact_alias(),
		KSR.nathelper.add_rcv_param(0), KSR.nathelper.add_contact_alias(),
		KSR.nathelper.handle_ruri_alias(),
	}
	KSR.sl.send_reply(200, table.concat(rc, " "))
end`
	_, rec := run(t, src, req{contact: []string{"-"}, ruri: "sip:bob@192.168.1.20;alias=x~y"})
	if f := rec.Final(); f == nil || f.Reason != "-1 -1 -1 2 -1" {
		t.Fatalf("reply %v, want return codes -1 -1 -1 2 -1", f)
	}
	for _, call := range []string{`nat_uac_test("x")`, `is_rfc1918()`, `add_contact_alias_addr("1.2.3.4")`} {
		src := "function ksr_request_route() KSR.nathelper." + call + " KSR.sl.send_reply(200, 'OK') end"
		rec, _ := coretest.Route(t, src, coretest.Register, coretest.Export("nathelper", nathelper.New()), coretest.Export("sl", &sl.SL{}))
		if rec.Code() != 500 {
			t.Errorf("%s: reply %d, want the fallback 500 for a script error", call, rec.Code())
		}
	}
}

// natRoute is a registrar route in Kamailio's style: NAT detection, then
// the fix (fix_nated_register or fix_nated_contact) before save; lookup for the
// rest.
const natRoute = `
function ksr_request_route()
	if KSR.is_REGISTER() then
		if KSR.nathelper.nat_uac_test(19) > 0 and KSR.nathelper.%[1]s() < 0 then
			error("%[1]s failed")
		end
		KSR.registrar.save("location", 0)
		KSR.x.exit()
	end
	if KSR.registrar.lookup("location") < 0 then
		KSR.sl.send_reply(404, "Not Found")
		KSR.x.exit()
	end
	KSR.sl.send_reply(302, "Moved Temporarily")
end`

// TestRegistrarReachesNATedDevice registers a phone behind a NAT (private
// Contact and Via, public source) and looks it up: the request is sent to
// the public source address, through fix_nated_register as through
// fix_nated_contact.
func TestRegistrarReachesNATedDevice(t *testing.T) {
	cases := []struct {
		name    string
		fix     string
		proto   string
		ruri    string
		du      string
		contact string
	}{
		{"fix_nated_register, udp", "fix_nated_register", "udp", "sip:alice@192.168.1.10:5060",
			"sip:203.0.113.5:40000;transport=udp", "sip:alice@192.168.1.10:5060"},
		{"fix_nated_register, tcp", "fix_nated_register", "tcp", "sip:alice@192.168.1.10:5060",
			"sip:203.0.113.5:40000;transport=tcp", "sip:alice@192.168.1.10:5060"},
		{"fix_nated_contact", "fix_nated_contact", "udp", "sip:alice@203.0.113.5:40000", "", "sip:alice@203.0.113.5:40000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log := slog.New(slog.DiscardHandler)
			ul, err := usrloc.NewWithStore(memstore.New(), 0, log)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ul.Cleanup() })
			reg := registrar.NewWithService(ul, []string{"example.com"}, log)
			if err := reg.Validate(); err != nil {
				t.Fatal(err)
			}
			src := fmt.Sprintf(natRoute, tc.fix)
			rt := coretest.Runtime(t, src, coretest.Export("nathelper", nathelper.New()),
				coretest.Export("sl", &sl.SL{}), coretest.Export("registrar", reg))
			eng := core.NewEngine(rt, log, 0, "")

			register := req{method: "REGISTER", ruri: "sip:example.com", via: "192.168.1.10:5060",
				contact: []string{"<sip:alice@192.168.1.10:5060>"}, proto: tc.proto}
			raw := strings.Replace(register.raw(), "To: <sip:bob@example.com>", "To: <sip:alice@example.com>", 1)
			m, rec := coretest.Msg(t, raw)
			setSource(t, m, "203.0.113.5:40000", tc.proto)
			eng.Process(m)
			if rec.Code() != 200 {
				t.Fatalf("REGISTER: %d", rec.Code())
			}
			if got, ok := nathelper.Received(m); (tc.fix == "fix_nated_register") != ok || ok && !strings.HasPrefix(got, "sip:203.0.113.5:40000") {
				t.Fatalf("received %q %v", got, ok)
			}
			bs, err := ul.Lookup(t.Context(), "location", "sip:alice@example.com")
			if err != nil || len(bs) != 1 || bs[0].Contact != tc.contact || bs[0].Received != tc.proto+":203.0.113.5:40000" {
				t.Fatalf("bindings %+v, %v", bs, err)
			}

			inv, rec := coretest.Msg(t, strings.Replace(req{ruri: "sip:alice@example.com", via: "198.51.100.9:5060"}.raw(), "Contact: <sip:alice@", "Contact: <sip:bob@", 1))
			setSource(t, inv, "198.51.100.9:5060", "udp")
			eng.Process(inv)
			if rec.Code() != 302 {
				t.Fatalf("lookup: %d", rec.Code())
			}
			if got := inv.Req.Recipient.String(); got != tc.ruri || inv.DstURI != tc.du {
				t.Fatalf("R-URI %q, $du %q; want %q, %q", got, inv.DstURI, tc.ruri, tc.du)
			}
		})
	}
}
