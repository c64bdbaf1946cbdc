package sanity_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/sanity"
)

// register is coretest.Register with old replaced by new.
func register(old, new string) string {
	if !strings.Contains(coretest.Register, old) {
		panic("register: no " + old)
	}
	return strings.Replace(coretest.Register, old, new, 1)
}

// padded is a REGISTER with 40 headers, more than the checks sort in
// place (32), with last (if any) after them.
func padded(last string) string {
	var b strings.Builder
	for i := range 29 {
		fmt.Fprintf(&b, "X-Pad-%d: %d\n", i, i)
	}
	if last != "" {
		b.WriteString(last + "\n")
	}
	return register("User-Agent: coretest\n", "User-Agent: coretest\n"+b.String())
}

// authorized is a REGISTER carrying the given credentials line(s).
func authorized(lines string) string {
	return register("User-Agent: coretest\n", "User-Agent: coretest\n"+lines+"\n")
}

const goodDigest = `Authorization: Digest username="alice", realm="example.com", nonce="abc", uri="sip:example.com", response="0123456789abcdef0123456789abcdef", qop=auth, nc=00000001, cnonce="xyz"`

// generic replaces name's headers in req by a generic header with value,
// as a script could, for what sipgo refuses to parse.
func generic(name, value string) func(*sip.Request) {
	return func(req *sip.Request) {
		for req.RemoveHeader(name) {
		}
		req.AppendHeader(sip.NewHeader(name, value))
	}
}

func TestCheck(t *testing.T) {
	const all, allURIs = sanity.AllChecks, sanity.AllURIChecks
	cases := []struct {
		name        string
		raw         string
		edit        func(*sip.Request)
		checks      sanity.Checks
		uris        sanity.URIChecks
		supported   []string
		check       sanity.Checks // the failing check, 0 when it passes
		code        int
		reason      string
		unsupported []string
	}{
		{name: "well-formed REGISTER passes everything", raw: coretest.Register, checks: all, uris: allURIs},
		{name: "well-formed Digest credentials pass", raw: authorized(goodDigest), checks: all, uris: allURIs},
		{name: "no checks chosen", raw: mismatch01, checks: 0},
		{name: "disabled Via checks do nothing", raw: badvers, checks: sanity.CheckViaVersion | sanity.CheckViaProtocol},

		{name: "badvers: SIP/7.0", raw: badvers, checks: sanity.DefaultChecks,
			check: sanity.CheckRURIVersion, code: 505, reason: "Version Not Supported (R-URI)"},
		{name: "version without slash gets no reply", raw: strings.Replace(coretest.Register, "SIP/2.0\n", "SIPX\n", 1),
			checks: sanity.CheckRURIVersion, check: sanity.CheckRURIVersion},
		{name: "lower-case sip/2.0 is 2.0", raw: strings.Replace(coretest.Register, "SIP/2.0\n", "sip/2.0\n", 1),
			checks: sanity.CheckRURIVersion},

		{name: "unkscm: unknown Request-URI scheme", raw: unkscm, checks: sanity.DefaultChecks,
			check: sanity.CheckRURIScheme, code: 416, reason: "Unsupported URI Scheme in Request URI"},
		{name: "SIP Request-URI without host", raw: register("REGISTER sip:example.com", "REGISTER sip:alice@"),
			checks: sanity.CheckRURIScheme, check: sanity.CheckRURIScheme, code: 400, reason: "Bad Request URI"},
		{name: "tel Request-URI is supported", raw: register("REGISTER sip:example.com", "REGISTER tel:+15551234"),
			checks: sanity.CheckRURIScheme},

		{name: "insuf: missing From, To, Call-ID gets no reply", raw: insuf, checks: sanity.DefaultChecks,
			check: sanity.CheckRequiredHeaders, reason: "missing From"},
		{name: "multi01: repeated headers get no reply", raw: multi01, checks: sanity.DefaultChecks,
			check: sanity.CheckRequiredHeaders, reason: "repeated From"},
		{name: "missing Via", raw: coretest.Register, edit: func(r *sip.Request) { r.RemoveHeader("Via") },
			checks: sanity.CheckRequiredHeaders, check: sanity.CheckRequiredHeaders, reason: "missing Via"},
		{name: "Via without host", raw: register("Via: SIP/2.0/UDP 192.0.2.10:5060", "Via: SIP/2.0/UDP "),
			checks: sanity.CheckVia1, check: sanity.CheckVia1},
		{name: "Via with port only", raw: register("Via: SIP/2.0/UDP 192.0.2.10:5060", "Via: SIP/2.0/UDP :5060"),
			checks: sanity.CheckVia1, check: sanity.CheckVia1},
		{name: "Via with IPv6 host", raw: register("Via: SIP/2.0/UDP 192.0.2.10:5060", "Via: SIP/2.0/UDP [2001:db8::1]:5060"),
			checks: sanity.CheckVia1 | sanity.CheckRequiredHeaders},
		{name: "Via1 missing", raw: coretest.Register, edit: func(r *sip.Request) { r.RemoveHeader("Via") },
			checks: sanity.CheckVia1, check: sanity.CheckVia1},

		{name: "mismatch01: CSeq method differs", raw: mismatch01, checks: sanity.DefaultChecks,
			check: sanity.CheckCSeqMethod, code: 400, reason: "CSeq method does not match request method"},
		{name: "mismatch02: unknown method, CSeq differs", raw: mismatch02, checks: sanity.DefaultChecks,
			check: sanity.CheckCSeqMethod, code: 400, reason: "CSeq method does not match request method"},
		{name: "intmeth: extension method matches its CSeq", raw: intmeth, checks: all, uris: allURIs},
		{name: "CSeq with extra white space", raw: register("CSeq: 1 REGISTER", "CSeq: 1 \t REGISTER"), checks: all},
		{name: "CSeq without method", raw: coretest.Register, edit: generic("CSeq", "12"),
			checks: sanity.CheckCSeqMethod, check: sanity.CheckCSeqMethod, code: 400, reason: "Missing method in CSeq header"},
		{name: "CSeq missing gets no reply", raw: coretest.Register, edit: func(r *sip.Request) { r.RemoveHeader("CSeq") },
			checks: sanity.CheckCSeqMethod, check: sanity.CheckCSeqMethod},
		{name: "CSeq number not a number", raw: coretest.Register, edit: generic("CSeq", "x1 REGISTER"),
			checks: sanity.CheckCSeqValue, check: sanity.CheckCSeqValue, code: 400, reason: "CSeq number is illegal"},
		{name: "CSeq number above 32 bits", raw: coretest.Register, edit: generic("CSeq", "4294967296 REGISTER"),
			checks: sanity.CheckCSeqValue, check: sanity.CheckCSeqValue, code: 400, reason: "CSeq number is illegal"},
		{name: "CSeq number at 32 bits", raw: coretest.Register, edit: generic("CSeq", "4294967295 REGISTER"),
			checks: sanity.CheckCSeqValue | sanity.CheckCSeqMethod},

		{name: "mcl01: Content-Length values disagree", raw: mcl01, checks: sanity.DefaultChecks,
			check: sanity.CheckContentLength, code: 400, reason: "Content-Length mis-match"},
		{name: "body with matching Content-Length", raw: mismatch02, checks: sanity.CheckContentLength},
		{name: "Content-Length longer than the body", raw: coretest.Register, edit: generic("Content-Length", "10"),
			checks: sanity.CheckContentLength, check: sanity.CheckContentLength, code: 400, reason: "Content-Length mis-match"},
		{name: "Content-Length not a number", raw: coretest.Register, edit: generic("Content-Length", "ten"),
			checks: sanity.CheckContentLength, check: sanity.CheckContentLength, code: 400, reason: "Content-Length Failure"},

		{name: "Expires not a number", raw: register("Expires: 3600", "Expires: soon"), checks: sanity.DefaultChecks,
			check: sanity.CheckExpires, code: 400, reason: "Expires value is illegal"},
		{name: "Expires as an RFC 2543 date", raw: register("Expires: 3600", "Expires: Thu, 01 Dec 2040 16:00:00 GMT"),
			checks: sanity.CheckExpires, check: sanity.CheckExpires, code: 400, reason: "Expires value is illegal"},
		{name: "Expires negative", raw: register("Expires: 3600", "Expires: -1"),
			checks: sanity.CheckExpires, check: sanity.CheckExpires, code: 400, reason: "Expires value is illegal"},
		{name: "Expires above 32 bits", raw: register("Expires: 3600", "Expires: 4294967296"),
			checks: sanity.CheckExpires, check: sanity.CheckExpires, code: 400, reason: "Expires value is illegal"},
		{name: "Expires empty", raw: register("Expires: 3600", "Expires:"),
			checks: sanity.CheckExpires, check: sanity.CheckExpires, code: 400, reason: "Bad Expires Header"},
		{name: "second Expires is checked too", raw: register("Expires: 3600", "Expires: 3600\nExpires: x"),
			checks: sanity.CheckExpires, check: sanity.CheckExpires, code: 400, reason: "Expires value is illegal"},
		{name: "Expires zero and trailing text", raw: register("Expires: 3600", "Expires: 0 ;x"), checks: sanity.CheckExpires},

		{name: "bext01: unsupported Proxy-Require tags", raw: bext01, checks: sanity.DefaultChecks,
			check: sanity.CheckProxyRequire, code: 420, reason: "Bad Proxy Require Extension",
			unsupported: []string{"noProxiesSupportThis", "norDoAnyProxiesSupportThis"}},
		{name: "supported tags are compared case-insensitively", raw: bext01, checks: sanity.CheckProxyRequire,
			supported: []string{"noproxiessupportthis"}, check: sanity.CheckProxyRequire, code: 420,
			reason: "Bad Proxy Require Extension", unsupported: []string{"norDoAnyProxiesSupportThis"}},
		{name: "all tags supported", raw: bext01, checks: sanity.CheckProxyRequire,
			supported: []string{"noProxiesSupportThis", "norDoAnyProxiesSupportThis"}},
		{name: "tags over several headers, repeated once", raw: register("Expires: 3600", "Proxy-Require: a, b\nProxy-Require: A,c,"),
			checks: sanity.CheckProxyRequire, check: sanity.CheckProxyRequire, code: 420,
			reason: "Bad Proxy Require Extension", unsupported: []string{"a", "b", "c"}},
		{name: "empty Proxy-Require", raw: register("Expires: 3600", "Proxy-Require:"),
			checks: sanity.CheckProxyRequire, check: sanity.CheckProxyRequire, code: 400, reason: "Bad Proxy Require Header"},
		{name: "Proxy-Require tag that is not a token", raw: register("Expires: 3600", "Proxy-Require: foo bar"),
			checks: sanity.CheckProxyRequire, check: sanity.CheckProxyRequire, code: 400, reason: "Bad Proxy Require Header"},

		{name: "unksm2: From URI scheme", raw: unksm2, checks: sanity.CheckParseURIs, uris: sanity.DefaultURIChecks,
			check: sanity.CheckParseURIs, code: 400, reason: "Invalid From Header"},
		{name: "unksm2: To URI scheme", raw: unksm2, checks: sanity.CheckParseURIs, uris: sanity.URITo,
			check: sanity.CheckParseURIs, code: 400, reason: "Invalid To Header"},
		{name: "unksm2: Contact URI scheme", raw: unksm2, checks: sanity.CheckParseURIs, uris: sanity.URIContact,
			check: sanity.CheckParseURIs, code: 400, reason: "Bad Contact URI"},
		{name: "unksm2 passes the default checks", raw: unksm2, checks: sanity.DefaultChecks, uris: sanity.DefaultURIChecks},
		{name: "unknown Request-URI scheme by the URI check", raw: unkscm, checks: sanity.CheckParseURIs, uris: sanity.URIRequest,
			check: sanity.CheckParseURIs, code: 400, reason: "Bad Request URI"},
		{name: "Contact star", raw: register("Contact: <sip:alice@192.0.2.10:5060>", "Contact: *"),
			checks: sanity.CheckParseURIs, uris: allURIs},
		{name: "second Contact is checked", raw: register("Contact: <sip:alice@192.0.2.10:5060>", "Contact: <sip:a@b>, <mailto:a@b>"),
			checks: sanity.CheckParseURIs, uris: sanity.URIContact, check: sanity.CheckParseURIs, code: 400, reason: "Bad Contact URI"},
		{name: "generic Contact that does not parse", raw: coretest.Register, edit: generic("Contact", "<sip:a@b"),
			checks: sanity.CheckParseURIs, uris: sanity.URIContact, check: sanity.CheckParseURIs, code: 400, reason: "Bad Contact Header"},
		{name: "missing From for the URI check gets no reply", raw: insuf, checks: sanity.CheckParseURIs, uris: sanity.URIFrom,
			check: sanity.CheckParseURIs},
		{name: "cparam01", raw: cparam01, checks: all, uris: allURIs},
		{name: "cparam02", raw: cparam02, checks: all, uris: allURIs},
		{name: "regescrt", raw: regescrt, checks: all, uris: allURIs},

		{name: "regaut01: unknown scheme fails digest without reply", raw: regaut01, checks: sanity.DefaultChecks,
			check: sanity.CheckDigest},
		{name: "regaut01: unknown scheme passes authorization", raw: regaut01, checks: sanity.CheckAuthorization},
		{name: "Basic credentials fail digest", raw: authorized("Authorization: Basic YWxpY2U6c2VjcmV0"), checks: sanity.CheckDigest,
			check: sanity.CheckDigest},
		{name: "missing nonce", raw: authorized(`Authorization: Digest username="alice", realm="example.com", uri="sip:example.com", response="00"`),
			checks: sanity.CheckDigest, check: sanity.CheckDigest, code: 400, reason: "Bad Auth Credentials"},
		{name: "qop=auth without cnonce", raw: authorized(`Authorization: Digest username="alice", realm="r", nonce="n", uri="sip:example.com", response="00", qop=auth, nc=00000001`),
			checks: sanity.CheckDigest, check: sanity.CheckDigest, code: 400, reason: "Bad Auth Credentials"},
		{name: "other qop needs no cnonce", raw: authorized(`Authorization: Digest username="alice", realm="r", nonce="n", uri="sip:example.com", response="00", qop=other`),
			checks: sanity.CheckDigest},
		{name: "empty username", raw: authorized(`Authorization: Digest username="", realm="r", nonce="n", uri="sip:example.com", response="00"`),
			checks: sanity.CheckDigest, check: sanity.CheckDigest, code: 400, reason: "Auth Empty User"},
		{name: "empty nonce", raw: authorized(`Authorization: Digest username="alice", realm="r", nonce="", uri="sip:example.com", response="00"`),
			checks: sanity.CheckDigest, check: sanity.CheckDigest, code: 400, reason: "Auth Empty Nonce"},
		{name: "empty response", raw: authorized(`Authorization: Digest username="alice", realm="r", nonce="n", uri="sip:example.com", response=""`),
			checks: sanity.CheckDigest, check: sanity.CheckDigest, code: 400, reason: "Auth Empty Response"},
		{name: "unterminated quoted string", raw: authorized(`Authorization: Digest username="alice, realm="r"`),
			checks: sanity.CheckDigest, check: sanity.CheckDigest, code: 400, reason: "Bad Auth Header"},
		{name: "escaped quote inside a value", raw: authorized(`Authorization: Digest username="al\"ice", realm="r", nonce="n", uri="sip:example.com", response="00"`),
			checks: sanity.CheckDigest},
		{name: "garbage between parameters", raw: authorized(`Authorization: Digest username="alice" realm="r"`),
			checks: sanity.CheckDigest, check: sanity.CheckDigest, code: 400, reason: "Bad Auth Header"},
		{name: "bad Proxy-Authorization after Basic, authorization check", raw: authorized("Authorization: Basic YWxpY2U6c2VjcmV0\nProxy-Authorization: Digest username=\"alice\""),
			checks: sanity.CheckAuthorization, check: sanity.CheckAuthorization, code: 400, reason: "Bad Auth Credentials"},

		{name: "tags spelt twice in From", raw: register(";tag=a1", ";tag=a1;TAG=b2"), checks: sanity.CheckDupTags,
			check: sanity.CheckDupTags, code: 400, reason: "Many From Tag Params"},
		{name: "tags spelt twice in To", raw: register("To: <sip:alice@example.com>", "To: <sip:alice@example.com>;tag=x;Tag=y"),
			checks: sanity.CheckDupTags, check: sanity.CheckDupTags, code: 400, reason: "Many To Tag Params"},

		{name: "40 headers pass everything", raw: padded(""), checks: all, uris: allURIs},
		{name: "a second CSeq past the 32nd header", raw: padded("CSeq: 2 REGISTER"), checks: all,
			check: sanity.CheckRequiredHeaders, reason: "repeated CSeq"},
		{name: "a bad Expires past the 32nd header", raw: padded("Expires: 1x"), checks: all,
			check: sanity.CheckExpires, code: 400, reason: "Expires value is illegal"},
		{name: "a compact Content-Length past the 32nd header", raw: padded("l: 7"), checks: all,
			check: sanity.CheckContentLength, code: 400, reason: "Content-Length mis-match"},

		{name: "the first failing check in Kamailio's order wins", raw: register("CSeq: 1 REGISTER", "CSeq: 1 INVITE\nExpires: x"),
			checks: sanity.CheckExpires | sanity.CheckCSeqMethod, check: sanity.CheckCSeqMethod, code: 400,
			reason: "CSeq method does not match request method"},
		{name: "zeromf is maxfwd's business", raw: zeromf, checks: all, uris: allURIs},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := coretest.Request(t, tc.raw)
			if tc.edit != nil {
				tc.edit(req)
			}
			s := sanity.New()
			s.ProxyRequire = tc.supported
			f := s.Check(req, tc.checks, tc.uris)
			if tc.check == 0 {
				if f != nil {
					t.Fatalf("failed: %v", f)
				}
				return
			}
			if f == nil {
				t.Fatalf("passed, want %s to fail", tc.check)
			}
			if f.Check != tc.check || f.Code != tc.code {
				t.Fatalf("got %v, want %s %d %s", f, tc.check, tc.code, tc.reason)
			}
			if tc.reason != "" && f.Reason != tc.reason {
				t.Fatalf("reason %q, want %q", f.Reason, tc.reason)
			}
			if !slices.Equal(f.Unsupported, tc.unsupported) {
				t.Fatalf("unsupported %q, want %q", f.Unsupported, tc.unsupported)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	cases := []struct {
		name       string
		msg, uri   int
		wantChecks sanity.Checks
		wantURIs   sanity.URIChecks
		wantErr    bool
	}{
		{"Kamailio defaults", 3047, 7, sanity.DefaultChecks, sanity.DefaultURIChecks, false},
		{"kamailio.cfg's REQINIT", 17895, 7, sanity.CheckRURIVersion | sanity.CheckRURIScheme | sanity.CheckRequiredHeaders |
			sanity.CheckCSeqMethod | sanity.CheckCSeqValue | sanity.CheckContentLength | sanity.CheckExpires |
			sanity.CheckParseURIs | sanity.CheckVia1, sanity.DefaultURIChecks, false},
		{"everything", 32767, 15, sanity.AllChecks, sanity.AllURIChecks, false},
		{"nothing", 0, 0, 0, 0, false},
		{"negative", -1, 7, 0, 0, true},
		{"unknown check bit", 32768, 7, 0, 0, true},
		{"unknown URI bit", 1024, 16, 0, 0, true},
		{"bits beyond 32", 1<<32 | 1, 7, 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, u, err := sanity.ParseFlags(tc.msg, tc.uri)
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, sanity.ErrFlags)) {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if c != tc.wantChecks || u != tc.wantURIs {
				t.Fatalf("got %d, %d; want %d, %d", c, u, tc.wantChecks, tc.wantURIs)
			}
		})
	}
}

func TestFlagValues(t *testing.T) {
	// Kamailio's numbers, which scripts use literally.
	want := map[sanity.Checks]uint32{
		sanity.CheckRURIVersion: 1, sanity.CheckRURIScheme: 2, sanity.CheckRequiredHeaders: 4,
		sanity.CheckViaVersion: 8, sanity.CheckViaProtocol: 16, sanity.CheckCSeqMethod: 32,
		sanity.CheckCSeqValue: 64, sanity.CheckContentLength: 128, sanity.CheckExpires: 256,
		sanity.CheckProxyRequire: 512, sanity.CheckParseURIs: 1024, sanity.CheckDigest: 2048,
		sanity.CheckDupTags: 4096, sanity.CheckAuthorization: 8192, sanity.CheckVia1: 16384,
		sanity.DefaultChecks: 3047,
	}
	for c, v := range want {
		if uint32(c) != v {
			t.Errorf("%s = %d, want %d", c, uint32(c), v)
		}
	}
	if sanity.URIRequest != 1 || sanity.URIFrom != 2 || sanity.URITo != 4 || sanity.URIContact != 8 || sanity.DefaultURIChecks != 7 {
		t.Error("URI check values differ from Kamailio's")
	}
	if got := sanity.CheckExpires.String(); got != "expires_value" {
		t.Errorf("CheckExpires.String() = %q", got)
	}
}
