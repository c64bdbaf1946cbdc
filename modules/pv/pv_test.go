package pv_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/core/script"
	"github.com/locus-sip/locus/modules/pv"
	"github.com/locus-sip/locus/modules/sl"
)

// invite exercises most pseudo-variables: an R-URI with user, port and a
// parameter, display names, a body.
const invite = `INVITE sip:bob@example.com:5070;transport=tcp SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-pv-1
Max-Forwards: 70
From: "Alice Smith" <sip:alice@example.org>;tag=a1
To: Bob <sip:bob@example.com>
Call-ID: pv-1@192.0.2.10
CSeq: 42 INVITE
Contact: <sip:alice@192.0.2.10:5060>
User-Agent: pvtest/1.0
X-Custom: hello world
Content-Type: text/plain
Content-Length: 5

hello`

// bare has no User-Agent, no display names and an R-URI without user or port.
const bare = `OPTIONS sip:example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-pv-2
From: <sip:alice@example.org>;tag=a1
To: <sip:example.com>
Call-ID: pv-2
CSeq: 1 OPTIONS
Content-Length: 0

`

// preamble gives route snippets an assertion helper that also checks the
// Lua type, so "5060" and 5060 differ.
const preamble = `
local function eq(got, want, what)
  if got ~= want or type(got) ~= type(want) then
    error(string.format("%s: got %s (%s), want %s (%s)", what, tostring(got), type(got), tostring(want), type(want)))
  end
end
`

// route runs snippet as ksr_request_route over raw with KSR.pv and KSR.sl;
// setup may adjust the message first. A script error (an eq mismatch)
// fails the test.
func route(t *testing.T, snippet, raw string, setup func(*core.Msg)) (*core.Msg, *coretest.Recorder) {
	t.Helper()
	src := preamble + "function ksr_request_route()\n" + snippet + "\nend\n"
	rt := coretest.Runtime(t, src, coretest.Export("pv", &pv.PV{}), coretest.Export("sl", &sl.SL{}))
	m, rec := coretest.Msg(t, raw)
	if setup != nil {
		setup(m)
	}
	if err := rt.Route(m); err != nil {
		t.Fatalf("route: %v", err)
	}
	return m, rec
}

func local(m *core.Msg) { m.LocalIP, m.LocalPort, m.Transport = "198.51.100.1", 5080, "tcp" }

func TestLuaGet(t *testing.T) {
	cases := []struct {
		name  string
		raw   string
		setup func(*core.Msg)
		expr  string // Lua expression
		want  string // Lua literal
	}{
		{"$rm", invite, nil, `KSR.pv.get("$rm")`, `"INVITE"`},
		{"$ru", invite, nil, `KSR.pv.get("$ru")`, `"sip:bob@example.com:5070;transport=tcp"`},
		{"$rU", invite, nil, `KSR.pv.get("$rU")`, `"bob"`},
		{"$rU absent is nil", bare, nil, `KSR.pv.get("$rU")`, `nil`},
		{"$rd", invite, nil, `KSR.pv.get("$rd")`, `"example.com"`},
		{"$rp is a string", invite, nil, `KSR.pv.get("$rp")`, `"5070"`},
		{"$rp defaults to 5060", bare, nil, `KSR.pv.get("$rp")`, `"5060"`},
		{"$rp defaults to 5061 for sips", strings.Replace(bare, "OPTIONS sip:", "OPTIONS sips:", 1), nil, `KSR.pv.get("$rp")`, `"5061"`},
		{"$rp defaults to 5061 for transport=tls", strings.Replace(bare, "sip:example.com SIP", "sip:example.com;transport=TLS SIP", 1), nil, `KSR.pv.get("$rp")`, `"5061"`},
		{"$fu", invite, nil, `KSR.pv.get("$fu")`, `"sip:alice@example.org"`},
		{"$fU", invite, nil, `KSR.pv.get("$fU")`, `"alice"`},
		{"$fd", invite, nil, `KSR.pv.get("$fd")`, `"example.org"`},
		{"$fn unquoted", invite, nil, `KSR.pv.get("$fn")`, `"Alice Smith"`},
		{"$fn absent", bare, nil, `KSR.pv.get("$fn")`, `nil`},
		{"$tu", invite, nil, `KSR.pv.get("$tu")`, `"sip:bob@example.com"`},
		{"$tU", invite, nil, `KSR.pv.get("$tU")`, `"bob"`},
		{"$tU absent", bare, nil, `KSR.pv.get("$tU")`, `nil`},
		{"$td", invite, nil, `KSR.pv.get("$td")`, `"example.com"`},
		{"$tn", invite, nil, `KSR.pv.get("$tn")`, `"Bob"`},
		{"$ci", invite, nil, `KSR.pv.get("$ci")`, `"pv-1@192.0.2.10"`},
		{"$cs is a string", invite, nil, `KSR.pv.get("$cs")`, `"42"`},
		{"$ua", invite, nil, `KSR.pv.get("$ua")`, `"pvtest/1.0"`},
		{"$ua absent", bare, nil, `KSR.pv.get("$ua")`, `nil`},
		{"$si", invite, nil, `KSR.pv.get("$si")`, `"192.0.2.10"`},
		{"$sp is a number", invite, nil, `KSR.pv.get("$sp")`, `5060`},
		{"$pr", invite, nil, `KSR.pv.get("$pr")`, `"udp"`},
		{"$pr tcp", invite, local, `KSR.pv.get("$pr")`, `"tcp"`},
		{"$proto", invite, local, `KSR.pv.get("$proto")`, `"tcp"`},
		{"$Ri unknown", invite, nil, `KSR.pv.get("$Ri")`, `nil`},
		{"$Ri", invite, local, `KSR.pv.get("$Ri")`, `"198.51.100.1"`},
		{"$Rp", invite, local, `KSR.pv.get("$Rp")`, `5080`},
		{"$rb", invite, nil, `KSR.pv.get("$rb")`, `"hello"`},
		{"$rb empty", bare, nil, `KSR.pv.get("$rb")`, `""`},
		{"$hdr", invite, nil, `KSR.pv.get("$hdr(X-Custom)")`, `"hello world"`},
		{"$hdr case-insensitive", invite, nil, `KSR.pv.get("$hdr(x-custom)")`, `"hello world"`},
		{"$hdr compact name", invite, nil, `KSR.pv.get("$hdr(i)")`, `"pv-1@192.0.2.10"`},
		{"$hdr absent", invite, nil, `KSR.pv.get("$hdr(X-None)")`, `nil`},
		{"$var never set reads 0", invite, nil, `KSR.pv.get("$var(x)")`, `0`},
		{"unknown is nil", invite, nil, `KSR.pv.get("$xyz")`, `nil`},
		{"no dollar", invite, nil, `KSR.pv.get("ru")`, `nil`},
		{"trailing space", invite, nil, `KSR.pv.get("$ru ")`, `nil`},
		{"names are case-sensitive", invite, nil, `KSR.pv.get("$RU")`, `nil`},
		{"empty $var name", invite, nil, `KSR.pv.get("$var()")`, `nil`},
		{"bad $hdr name", invite, nil, `KSR.pv.get("$hdr(a b)")`, `nil`},
		{"gete present", invite, nil, `KSR.pv.gete("$fU")`, `"alice"`},
		{"gete null", bare, nil, `KSR.pv.gete("$fn")`, `""`},
		{"gete unknown", invite, nil, `KSR.pv.gete("$xyz")`, `""`},
		{"gete number", invite, nil, `KSR.pv.gete("$sp")`, `5060`},
		{"getw null", bare, nil, `KSR.pv.getw("$fn")`, `"<null>"`},
		{"getw unknown", invite, nil, `KSR.pv.getw("$xyz")`, `"<null>"`},
		{"getw present", invite, nil, `KSR.pv.getw("$rd")`, `"example.com"`},
		{"geti int", invite, nil, `KSR.pv.geti("$sp")`, `5060`},
		{"geti numeric string", invite, nil, `KSR.pv.geti("$cs")`, `42`},
		{"geti text", invite, nil, `KSR.pv.geti("$ru")`, `0`},
		{"geti null", bare, nil, `KSR.pv.geti("$fn")`, `0`},
		{"geti unknown", invite, nil, `KSR.pv.geti("$xyz")`, `0`},
		{"getvs default", bare, nil, `KSR.pv.getvs("$fn", "anonymous")`, `"anonymous"`},
		{"getvs value", invite, nil, `KSR.pv.getvs("$fn", "anonymous")`, `"Alice Smith"`},
		{"getvn default", bare, nil, `KSR.pv.getvn("$ua", 7)`, `7`},
		{"getvn unknown", invite, nil, `KSR.pv.getvn("$xyz", 9)`, `9`},
		{"getvn value", invite, nil, `KSR.pv.getvn("$sp", 9)`, `5060`},
		{"is_null null", bare, nil, `KSR.pv.is_null("$tn")`, `true`},
		{"is_null set", invite, nil, `KSR.pv.is_null("$tn")`, `false`},
		{"is_null unknown", invite, nil, `KSR.pv.is_null("$xyz")`, `true`},
		{"is_null $var", invite, nil, `KSR.pv.is_null("$var(x)")`, `false`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			route(t, fmt.Sprintf("eq(%s, %s, %q)", tc.expr, tc.want, tc.expr), tc.raw, tc.setup)
		})
	}
}

func TestLuaSet(t *testing.T) {
	cases := []struct {
		name    string
		snippet string
		check   func(t *testing.T, m *core.Msg)
	}{
		{"sets $ru", `eq(KSR.pv.sets("$ru", "sip:carol@example.net:5090;transport=udp"), true, "sets"); eq(KSR.pv.get("$ru"), "sip:carol@example.net:5090;transport=udp", "get"); eq(KSR.pv.get("$rU"), "carol", "rU")`,
			ruri("sip:carol@example.net:5090;transport=udp")},
		{"sets $ru IPv6", `eq(KSR.pv.sets("$ru", "sip:bob@[2001:db8::1]:5060"), true, "sets"); eq(KSR.pv.get("$rd"), "[2001:db8::1]", "rd")`, ruri("sip:bob@[2001:db8::1]:5060")},
		{"sets $ru tel", `eq(KSR.pv.sets("$ru", "tel:+15551234"), true, "sets"); eq(KSR.pv.get("$rU"), nil, "rU")`, ruri("tel:+15551234")},
		{"$ru CRLF injection", `eq(KSR.pv.sets("$ru", "sip:a@example.net SIP/2.0\r\nVia: evil\r\n"), false, "sets")`, unchanged},
		{"$ru CRLF in a parameter", `eq(KSR.pv.sets("$ru", "sip:a@example.net;x=1\r\nVia:evil"), false, "sets")`, unchanged},
		{"$ru space in a parameter", `eq(KSR.pv.sets("$ru", "sip:a@example.net;x=a b"), false, "sets")`, unchanged},
		{"$ru CRLF in a tel URI", `eq(KSR.pv.sets("$ru", "tel:+1555\r\nX: y"), false, "sets")`, unchanged},
		{"$ru LF", `eq(KSR.pv.sets("$ru", "sip:a@example.net\nX: y"), false, "sets")`, unchanged},
		{"$ru NUL", `eq(KSR.pv.sets("$ru", "sip:a@example.net\0"), false, "sets")`, unchanged},
		{"$ru space", `eq(KSR.pv.sets("$ru", "sip:a b@example.net"), false, "sets")`, unchanged},
		{"$ru non-ASCII", `eq(KSR.pv.sets("$ru", "sip:j\195\188rgen@example.net"), false, "sets")`, unchanged},
		{"$ru no scheme", `eq(KSR.pv.sets("$ru", "example.net"), false, "sets")`, unchanged},
		{"$ru no host", `eq(KSR.pv.sets("$ru", "sip:alice@"), false, "sets")`, unchanged},
		{"$ru wildcard", `eq(KSR.pv.sets("$ru", "sip:*"), false, "sets")`, unchanged},
		{"$ru bad user", `eq(KSR.pv.sets("$ru", "sip:a<b@example.net"), false, "sets")`, unchanged},
		{"$ru bad port", `eq(KSR.pv.sets("$ru", "sip:a@example.net:99999"), false, "sets")`, unchanged},
		{"$ru empty", `eq(KSR.pv.sets("$ru", ""), false, "sets")`, unchanged},
		{"$ru int", `eq(KSR.pv.seti("$ru", 5), false, "seti")`, unchanged},
		{"$ru unset", `eq(KSR.pv.unset("$ru"), false, "unset")`, unchanged},
		{"sets $rU", `eq(KSR.pv.sets("$rU", "carol"), true, "sets")`, ruri("sip:carol@example.com:5070;transport=tcp")},
		{"sets $rU escaped", `eq(KSR.pv.sets("$rU", "%41lice+1"), true, "sets")`, ruri("sip:%41lice+1@example.com:5070;transport=tcp")},
		{"$rU empty removes the user", `eq(KSR.pv.sets("$rU", ""), true, "sets"); eq(KSR.pv.get("$rU"), nil, "rU")`, ruri("sip:example.com:5070;transport=tcp")},
		{"unset $rU", `eq(KSR.pv.unset("$rU"), true, "unset")`, ruri("sip:example.com:5070;transport=tcp")},
		{"$rU with @", `eq(KSR.pv.sets("$rU", "a@evil.example"), false, "sets")`, unchanged},
		{"$rU CRLF", `eq(KSR.pv.sets("$rU", "a\r\nX: y"), false, "sets")`, unchanged},
		{"$rU bad escape", `eq(KSR.pv.sets("$rU", "a%4"), false, "sets")`, unchanged},
		{"$rU int", `eq(KSR.pv.seti("$rU", 1), false, "seti")`, unchanged},
		{"sets $rd", `eq(KSR.pv.sets("$rd", "example.net"), true, "sets")`, ruri("sip:bob@example.net:5070;transport=tcp")},
		{"sets $rd IPv6 gets brackets", `eq(KSR.pv.sets("$rd", "2001:db8::1"), true, "sets"); eq(KSR.pv.get("$rd"), "[2001:db8::1]", "rd")`, ruri("sip:bob@[2001:db8::1]:5070;transport=tcp")},
		{"$rd with port", `eq(KSR.pv.sets("$rd", "example.net:5060"), false, "sets")`, unchanged},
		{"$rd space", `eq(KSR.pv.sets("$rd", "exa mple.net"), false, "sets")`, unchanged},
		{"$rd CRLF", `eq(KSR.pv.sets("$rd", "example.net\r\nX: y"), false, "sets")`, unchanged},
		{"$rd empty", `eq(KSR.pv.sets("$rd", ""), false, "sets")`, unchanged},
		{"unset $rd", `eq(KSR.pv.unset("$rd"), false, "unset")`, unchanged},
		{"seti $rp", `eq(KSR.pv.seti("$rp", 5080), true, "seti"); eq(KSR.pv.get("$rp"), "5080", "rp")`, ruri("sip:bob@example.com:5080;transport=tcp")},
		{"sets $rp", `eq(KSR.pv.sets("$rp", "5090"), true, "sets")`, ruri("sip:bob@example.com:5090;transport=tcp")},
		{"sets $rp empty removes the port", `eq(KSR.pv.sets("$rp", ""), true, "sets"); eq(KSR.pv.get("$rp"), "5060", "rp")`, ruri("sip:bob@example.com;transport=tcp")},
		{"unset $rp", `eq(KSR.pv.unset("$rp"), true, "unset")`, ruri("sip:bob@example.com;transport=tcp")},
		{"$rp 0", `eq(KSR.pv.seti("$rp", 0), false, "seti")`, unchanged},
		{"$rp too large", `eq(KSR.pv.seti("$rp", 70000), false, "seti")`, unchanged},
		{"$rp text", `eq(KSR.pv.sets("$rp", "50a"), false, "sets")`, unchanged},
		{"$rp negative", `eq(KSR.pv.sets("$rp", "-1"), false, "sets")`, unchanged},
		{"$rp CRLF", `eq(KSR.pv.sets("$rp", "5060\r\n"), false, "sets")`, unchanged},
		{"$var string", `eq(KSR.pv.sets("$var(a)", "x"), true, "sets"); eq(KSR.pv.get("$var(a)"), "x", "get")`, vars("a", "x")},
		{"$var int", `eq(KSR.pv.seti("$var(n)", 12), true, "seti"); eq(KSR.pv.get("$var(n)"), 12, "get"); eq(KSR.pv.geti("$var(n)"), 12, "geti")`, vars("n", 12)},
		{"$var overwrite type", `KSR.pv.seti("$var(a)", 1); KSR.pv.sets("$var(a)", "one"); eq(KSR.pv.get("$var(a)"), "one", "get")`, vars("a", "one")},
		{"$var unset is 0", `KSR.pv.sets("$var(a)", "x"); eq(KSR.pv.unset("$var(a)"), true, "unset"); eq(KSR.pv.get("$var(a)"), 0, "get"); eq(KSR.pv.is_null("$var(a)"), false, "is_null")`, vars("a", 0)},
		{"$var holds any text", `eq(KSR.pv.sets("$var(a)", "1\r\n2"), true, "sets"); eq(KSR.pv.get("$var(a)"), "1\r\n2", "get")`, vars("a", "1\r\n2")},
		{"$var geti leading digits", `KSR.pv.sets("$var(a)", "12ab"); eq(KSR.pv.geti("$var(a)"), 12, "geti")`, vars("a", "12ab")},
		{"read-only $si", `eq(KSR.pv.sets("$si", "203.0.113.1"), false, "sets"); eq(KSR.pv.get("$si"), "192.0.2.10", "si")`, unchanged},
		{"read-only $sp", `eq(KSR.pv.seti("$sp", 1), false, "seti")`, unchanged},
		{"read-only $hdr", `eq(KSR.pv.sets("$hdr(X-Custom)", "x"), false, "sets"); eq(KSR.pv.get("$hdr(X-Custom)"), "hello world", "hdr")`, unchanged},
		{"read-only $fu unset", `eq(KSR.pv.unset("$fu"), false, "unset")`, unchanged},
		{"unknown", `eq(KSR.pv.sets("$foo", "x"), false, "sets"); eq(KSR.pv.unset("$foo"), false, "unset")`, unchanged},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, rec := route(t, tc.snippet+"\nKSR.sl.send_reply(200, \"OK\")", invite, nil)
			tc.check(t, m)
			// The request still serialises into one well-formed message
			// with the same headers.
			raw := m.Req.String()
			parsed, err := sip.NewParser().ParseSIP([]byte(raw))
			if err != nil {
				t.Fatalf("request no longer parses: %v\n%s", err, raw)
			}
			if got, want := len(parsed.(*sip.Request).Headers()), len(coretest.Request(t, invite).Headers()); got != want {
				t.Fatalf("%d headers after the route, want %d\n%s", got, want, raw)
			}
			if rec.Code() != 200 {
				t.Fatalf("reply %d, want 200", rec.Code())
			}
		})
	}
}

func ruri(want string) func(*testing.T, *core.Msg) {
	return func(t *testing.T, m *core.Msg) {
		t.Helper()
		if got := m.Req.Recipient.String(); got != want {
			t.Fatalf("Request-URI %q, want %q", got, want)
		}
		if line := m.Req.StartLine(); line != "INVITE "+want+" SIP/2.0" {
			t.Fatalf("request line %q", line)
		}
	}
}

func unchanged(t *testing.T, m *core.Msg) {
	t.Helper()
	ruri("sip:bob@example.com:5070;transport=tcp")(t, m)
	if m.SrcIP != "192.0.2.10" || m.SrcPort != 5060 {
		t.Fatalf("source changed: %s", m.SourceAddr())
	}
	if h := m.Req.GetHeader("X-Custom"); h == nil || h.Value() != "hello world" {
		t.Fatalf("X-Custom changed: %v", h)
	}
}

func vars(name string, want any) func(*testing.T, *core.Msg) {
	return func(t *testing.T, m *core.Msg) {
		t.Helper()
		if got := m.Vars[name]; got != want {
			t.Fatalf("Vars[%q] = %#v, want %#v", name, got, want)
		}
		unchanged(t, m)
	}
}

func TestVarsArePerRequest(t *testing.T) {
	src := preamble + `function ksr_request_route()
  eq(KSR.pv.get("$var(n)"), 0, "fresh $var")
  KSR.pv.seti("$var(n)", 1)
  KSR.sl.send_reply(200, "OK")
end`
	rt := coretest.Runtime(t, src, coretest.Export("pv", &pv.PV{}), coretest.Export("sl", &sl.SL{}))
	for i := range 3 {
		m, _ := coretest.Msg(t, invite)
		if err := rt.Route(m); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if m.Vars["n"] != 1 {
			t.Fatalf("request %d: Vars = %v", i, m.Vars)
		}
	}
}

func TestReplyWithPV(t *testing.T) {
	// The reason phrase carries the value back through a real reply.
	rec, _ := coretest.Route(t, `function ksr_request_route()
  KSR.sl.send_reply(200, KSR.pv.get("$fU") .. "@" .. KSR.pv.get("$si") .. ":" .. KSR.pv.get("$sp"))
end`, invite, coretest.Export("pv", &pv.PV{}), coretest.Export("sl", &sl.SL{}))
	if f := rec.Final(); f == nil || f.Reason != "alice@192.0.2.10:5060" {
		t.Fatalf("reply %v", f)
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		name     string
		kind     pv.Kind
		arg      string
		writable bool
		err      error
	}{
		{"$ru", pv.RURI, "", true, nil},
		{"$rU", pv.RUser, "", true, nil},
		{"$rd", pv.RHost, "", true, nil},
		{"$rp", pv.RPort, "", true, nil},
		{"$si", pv.SrcIP, "", false, nil},
		{"$proto", pv.Proto, "", false, nil},
		{"$hdr(Expires)", pv.Header, "Expires", false, nil},
		{"$var(a_b.c-1)", pv.Var, "a_b.c-1", true, nil},
		{"$var()", 0, "", false, pv.ErrUnknown},
		{"$var(a b)", 0, "", false, pv.ErrUnknown},
		{"$var(a", 0, "", false, pv.ErrUnknown},
		{"$hdr(X:Y)", 0, "", false, pv.ErrUnknown},
		{"$hdr()", 0, "", false, pv.ErrUnknown},
		{"$RU", 0, "", false, pv.ErrUnknown},
		{"", 0, "", false, pv.ErrUnknown},
		{"$", 0, "", false, pv.ErrUnknown},
	}
	for _, tc := range cases {
		s, err := pv.Parse(tc.name)
		if !errors.Is(err, tc.err) {
			t.Errorf("Parse(%q) err = %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err == nil && (s.Kind != tc.kind || s.Arg != tc.arg || s.Writable() != tc.writable) {
			t.Errorf("Parse(%q) = %+v writable=%v, want kind %d arg %q writable=%v", tc.name, s, s.Writable(), tc.kind, tc.arg, tc.writable)
		}
	}
}

func TestGetSetDirect(t *testing.T) {
	p := &pv.PV{}
	m, _ := coretest.Msg(t, invite)
	must := func(name string) pv.Spec {
		s, err := pv.Parse(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	gets := []struct {
		name string
		want pv.Value
	}{
		{"$ru", pv.StrValue("sip:bob@example.com:5070;transport=tcp")},
		{"$sp", pv.IntValue(5060)},
		{"$cs", pv.StrValue("42")},
		{"$tn", pv.StrValue("Bob")},
		{"$Ri", pv.Value{}},
		{"$var(x)", pv.IntValue(0)},
	}
	for _, g := range gets {
		if got := p.Get(m, must(g.name)); got != g.want {
			t.Errorf("Get(%s) = %v, want %v", g.name, got, g.want)
		}
	}
	sets := []struct {
		name string
		v    pv.Value
		err  error
	}{
		{"$rU", pv.StrValue("dave"), nil},
		{"$rd", pv.StrValue("192.0.2.99"), nil},
		{"$rp", pv.IntValue(5062), nil},
		{"$var(k)", pv.StrValue("v"), nil},
		{"$rd", pv.IntValue(1), pv.ErrBadValue},
		{"$rp", pv.StrValue("x"), pv.ErrBadValue},
		{"$ci", pv.StrValue("x"), pv.ErrReadOnly},
		{"$rb", pv.Value{}, pv.ErrReadOnly},
	}
	for _, s := range sets {
		if err := p.Set(m, must(s.name), s.v); !errors.Is(err, s.err) {
			t.Errorf("Set(%s, %v) = %v, want %v", s.name, s.v, err, s.err)
		}
	}
	if got, want := p.Get(m, must("$ru")), pv.StrValue("sip:dave@192.0.2.99:5062;transport=tcp"); got != want {
		t.Errorf("$ru after sets = %v, want %v", got, want)
	}
	if err := p.Set(m, pv.Spec{}, pv.StrValue("x")); !errors.Is(err, pv.ErrUnknown) {
		t.Errorf("Set(invalid spec) = %v", err)
	}
	if err := p.Unset(m, must("$rp")); err != nil || m.Req.Recipient.Port != 0 {
		t.Errorf("Unset($rp) = %v, port %d", err, m.Req.Recipient.Port)
	}
	if !p.IsNull(m, must("$Ri")) || p.IsNull(m, must("$var(k)")) {
		t.Errorf("IsNull wrong")
	}
}

func TestRefusalIsLogged(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	src := "function ksr_request_route()\n" +
		"if KSR.pv.sets(\"$ru\", \"sip:a@b\\r\\nX: y\") ~= false then error(\"accepted\") end\n" +
		"if KSR.pv.sets(\"$si\", \"1.2.3.4\") ~= false then error(\"accepted\") end\n" +
		"if KSR.pv.get(\"$nope\") ~= nil then error(\"value\") end\n" +
		"end\n"
	rt, err := script.New(script.Options{File: coretest.WriteScript(t, src), Log: log,
		Exports: []script.Export{coretest.Export("pv", &pv.PV{})}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	m, _ := coretest.Msg(t, invite)
	if err := rt.Route(m); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"pv: invalid value: $ru", "pv: read-only pseudo-variable", `pv: unknown pseudo-variable \"$nope\"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "X: y") {
		t.Errorf("log repeats the refused value:\n%s", out)
	}
}
