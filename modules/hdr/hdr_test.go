package hdr_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/core/script"
	"github.com/locus-sip/locus/modules/hdr"
	"github.com/locus-sip/locus/modules/sl"
)

// compact is a REGISTER written with compact header names and some
// repeated and extension headers.
const compact = `REGISTER sip:example.com SIP/2.0
v: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-c-1
Max-Forwards: 70
f: <sip:alice@example.com>;tag=a1
t: <sip:alice@example.com>
i: compact-1@192.0.2.10
CSeq: 7 REGISTER
m: <sip:alice@192.0.2.10:5060>
k: path
X-Dup: one
x-dup: two
User-Agent: coretest
l: 0

`

// preamble gives route snippets an assertion helper.
const preamble = `
local function eq(got, want, what)
  if got ~= want then
    error(string.format("%s: got %s (%s), want %s (%s)", what, tostring(got), type(got), tostring(want), type(want)))
  end
end
`

// route runs snippet as ksr_request_route over raw with KSR.hdr and KSR.sl
// and fails the test on a script error (an eq mismatch).
func route(t *testing.T, snippet, raw string) (*core.Msg, *coretest.Recorder) {
	t.Helper()
	src := preamble + "function ksr_request_route()\n" + snippet + "\nend\n"
	rt := coretest.Runtime(t, src, coretest.Export("hdr", &hdr.Hdr{}), coretest.Export("sl", &sl.SL{}))
	m, rec := coretest.Msg(t, raw)
	if err := rt.Route(m); err != nil {
		t.Fatalf("route: %v", err)
	}
	return m, rec
}

// reparse serialises the request as it would go on the wire and parses it
// back: whatever the script did, the result must still be one well-formed
// message.
func reparse(t *testing.T, req *sip.Request) *sip.Request {
	t.Helper()
	raw := req.String()
	msg, err := sip.NewParser().ParseSIP([]byte(raw))
	if err != nil {
		t.Fatalf("request no longer parses: %v\n%s", err, raw)
	}
	out, ok := msg.(*sip.Request)
	if !ok {
		t.Fatalf("not a request:\n%s", raw)
	}
	return out
}

func TestLuaGet(t *testing.T) {
	cases := []struct {
		name    string
		raw     string
		snippet string
	}{
		{"full name", coretest.Register, `eq(KSR.hdr.get("User-Agent"), "coretest", "ua")`},
		{"case-insensitive", coretest.Register, `eq(KSR.hdr.get("uSER-aGENT"), "coretest", "ua")`},
		{"typed header body", coretest.Register, `eq(KSR.hdr.get("Call-ID"), "c1@192.0.2.10", "call-id")`},
		{"extension header", coretest.Register, `eq(KSR.hdr.get("Expires"), "3600", "expires")`},
		{"full name finds compact header", compact, `eq(KSR.hdr.get("Call-ID"), "compact-1@192.0.2.10", "call-id")`},
		{"compact name finds compact header", compact, `eq(KSR.hdr.get("i"), "compact-1@192.0.2.10", "i")`},
		{"upper-case compact name", compact, `eq(KSR.hdr.get("I"), "compact-1@192.0.2.10", "I")`},
		{"Supported from k", compact, `eq(KSR.hdr.get("Supported"), "path", "supported")`},
		{"k from Supported", "REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-s\nFrom: <sip:a@example.com>;tag=1\nTo: <sip:a@example.com>\nCall-ID: s1\nCSeq: 1 REGISTER\nSupported: path, outbound\nContent-Length: 0\n\n",
			`eq(KSR.hdr.get("k"), "path, outbound", "k")`},
		{"first of repeated headers", compact, `eq(KSR.hdr.get("X-Dup"), "one", "x-dup")`},
		{"contact via m", compact, `eq(KSR.hdr.get("Contact"), "<sip:alice@192.0.2.10:5060>", "contact")`},
		{"missing is nil", coretest.Register, `eq(KSR.hdr.get("X-None"), nil, "get")`},
		{"gete missing is empty", coretest.Register, `eq(KSR.hdr.gete("X-None"), "", "gete")`},
		{"getw missing is <null>", coretest.Register, `eq(KSR.hdr.getw("X-None"), "<null>", "getw")`},
		{"gete present", coretest.Register, `eq(KSR.hdr.gete("Expires"), "3600", "gete")`},
		{"getw present", coretest.Register, `eq(KSR.hdr.getw("Expires"), "3600", "getw")`},
		{"invalid name is nil", coretest.Register, `eq(KSR.hdr.get("User Agent"), nil, "get")`},
		{"empty name is nil", coretest.Register, `eq(KSR.hdr.get(""), nil, "get")`},
		{"name with CRLF is nil", coretest.Register, `eq(KSR.hdr.get("Expires\r\nX"), nil, "get")`},
		{"is_present", coretest.Register, `eq(KSR.hdr.is_present("Expires"), 1, "is_present")`},
		{"is_present missing", coretest.Register, `eq(KSR.hdr.is_present("X-None"), -1, "is_present")`},
		{"is_present compact", compact, `eq(KSR.hdr.is_present("Contact"), 1, "contact"); eq(KSR.hdr.is_present("m"), 1, "m"); eq(KSR.hdr.is_present("s"), -1, "s")`},
		{"is_present invalid name", coretest.Register, `eq(KSR.hdr.is_present("X:Y"), -1, "is_present")`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			route(t, tc.snippet, tc.raw)
		})
	}
}

func TestLuaAppend(t *testing.T) {
	cases := []struct {
		name    string
		snippet string
		want    map[string]string // headers present after the route, with their values
		absent  []string
	}{
		{"Kamailio form with CRLF", `eq(KSR.hdr.append("X-Test: yes\r\n"), 1, "append")`, map[string]string{"X-Test": "yes"}, nil},
		{"without CRLF", `eq(KSR.hdr.append("X-Test: yes"), 1, "append")`, map[string]string{"X-Test": "yes"}, nil},
		{"visible at once", `KSR.hdr.append("X-Test: 1\r\n"); eq(KSR.hdr.get("x-test"), "1", "get"); eq(KSR.hdr.is_present("X-Test"), 1, "present")`, map[string]string{"X-Test": "1"}, nil},
		{"typed header", `eq(KSR.hdr.append("Route: <sip:proxy.example.com;lr>\r\n"), 1, "append")`, map[string]string{"Route": "<sip:proxy.example.com;lr>"}, nil},
		{"empty value", `eq(KSR.hdr.append("Subject:\r\n"), 1, "append")`, map[string]string{"Subject": ""}, nil},
		{"second header line injected", `eq(KSR.hdr.append("X-A: 1\r\nX-B: 2\r\n"), -1, "append")`, nil, []string{"X-A", "X-B"}},
		{"bare LF injected", `eq(KSR.hdr.append("X-A: 1\nX-B: 2"), -1, "append")`, nil, []string{"X-A", "X-B"}},
		{"bare CR injected", `eq(KSR.hdr.append("X-A: 1\rX-B: 2"), -1, "append")`, nil, []string{"X-A", "X-B"}},
		{"body injected", `eq(KSR.hdr.append("X-A: 1\r\n\r\nINVITE sip:x SIP/2.0\r\n"), -1, "append")`, nil, []string{"X-A"}},
		{"NUL", `eq(KSR.hdr.append("X-A: 1\0002"), -1, "append")`, nil, []string{"X-A"}},
		{"two trailing CRLFs", `eq(KSR.hdr.append("X-A: 1\r\n\r\n"), -1, "append")`, nil, []string{"X-A"}},
		{"no colon", `eq(KSR.hdr.append("X-A 1\r\n"), -1, "append")`, nil, []string{"X-A"}},
		{"space in name", `eq(KSR.hdr.append("X A: 1\r\n"), -1, "append")`, nil, []string{"X", "X A"}},
		{"empty name", `eq(KSR.hdr.append(": 1\r\n"), -1, "append")`, nil, nil},
		{"Content-Length refused", `eq(KSR.hdr.append("Content-Length: 100\r\n"), -1, "append")`, map[string]string{"Content-Length": "0"}, nil},
		{"unparsable typed value", `eq(KSR.hdr.append("CSeq: many\r\n"), -1, "append")`, map[string]string{"CSeq": "1 REGISTER"}, nil},
	}
	base := len(coretest.Request(t, coretest.Register).Headers())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := route(t, tc.snippet, coretest.Register)
			req := reparse(t, m.Req)
			for name, want := range tc.want {
				if hs := req.GetHeaders(name); len(hs) != 1 || hs[0].Value() != want {
					t.Errorf("%s = %v, want one with %q\n%s", name, hs, want, req)
				}
			}
			for _, name := range tc.absent {
				if h := req.GetHeader(name); h != nil {
					t.Errorf("%s present (%q), want absent\n%s", name, h.Value(), req)
				}
			}
			if got, want := len(req.Headers()), base+len(tc.want); tc.want["CSeq"] == "" && tc.want["Content-Length"] == "" && got != want {
				t.Errorf("%d headers, want %d\n%s", got, want, req)
			}
		})
	}
}

func TestLuaRemove(t *testing.T) {
	cases := []struct {
		name    string
		raw     string
		snippet string
		gone    []string
		kept    []string
	}{
		{"all repeated headers", compact, `eq(KSR.hdr.remove("X-DUP"), 1, "remove")`, []string{"X-Dup"}, []string{"User-Agent", "Supported"}},
		{"compact name removes full-form header", coretest.Register, `eq(KSR.hdr.remove("m"), 1, "remove"); eq(KSR.hdr.is_present("Contact"), -1, "present")`, []string{"Contact"}, []string{"Expires"}},
		{"full name removes compact header", compact, `eq(KSR.hdr.remove("Supported"), 1, "remove"); eq(KSR.hdr.get("k"), nil, "k")`, []string{"k", "Supported"}, []string{"X-Dup"}},
		{"missing header still 1", coretest.Register, `eq(KSR.hdr.remove("X-None"), 1, "remove")`, nil, []string{"Expires", "User-Agent"}},
		{"invalid name", coretest.Register, `eq(KSR.hdr.remove("User-Agent\r\n"), -1, "remove")`, nil, []string{"User-Agent"}},
		{"Content-Length refused", compact, `eq(KSR.hdr.remove("Content-Length"), -1, "remove"); eq(KSR.hdr.remove("l"), -1, "remove")`, nil, []string{"Content-Length"}},
		{"append then remove", coretest.Register, `KSR.hdr.append("X-T: 1\r\n"); KSR.hdr.append("X-T: 2\r\n"); eq(KSR.hdr.remove("x-t"), 1, "remove"); eq(KSR.hdr.is_present("X-T"), -1, "present")`, []string{"X-T"}, []string{"Expires"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := route(t, tc.snippet, tc.raw)
			req := reparse(t, m.Req)
			for _, n := range tc.gone {
				if hdr.IsPresent(req, n) {
					t.Errorf("%s still present:\n%s", n, req)
				}
			}
			for _, n := range tc.kept {
				if !hdr.IsPresent(req, n) {
					t.Errorf("%s removed:\n%s", n, req)
				}
			}
		})
	}
}

func TestLuaAppendToReply(t *testing.T) {
	cases := []struct {
		name    string
		snippet string
		want    map[string]string // reply header → value; "" means absent
	}{
		{"added to the reply", `eq(KSR.hdr.append_to_reply("X-Reply: hi\r\n"), 1, "append_to_reply")`, map[string]string{"X-Reply": "hi"}},
		{"several", `KSR.hdr.append_to_reply("X-A: 1\r\n"); KSR.hdr.append_to_reply("Retry-After: 30")`, map[string]string{"X-A": "1", "Retry-After": "30"}},
		{"CRLF injection refused", `eq(KSR.hdr.append_to_reply("X-A: 1\r\nX-B: 2\r\n"), -1, "append_to_reply")`, map[string]string{"X-A": "", "X-B": ""}},
		{"LF injection refused", `eq(KSR.hdr.append_to_reply("X-A: 1\nContact: <sip:evil@example.com>"), -1, "append_to_reply")`, map[string]string{"X-A": "", "Contact": ""}},
		{"no colon refused", `eq(KSR.hdr.append_to_reply("garbage"), -1, "append_to_reply")`, nil},
		{"Content-Length refused", `eq(KSR.hdr.append_to_reply("Content-Length: 100\r\n"), -1, "append_to_reply")`, map[string]string{"Content-Length": "0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, rec := route(t, tc.snippet+"\nKSR.sl.send_reply(200, \"OK\")", coretest.Register)
			res := rec.Final()
			if res == nil || res.StatusCode != 200 {
				t.Fatalf("no 200 reply: %v", rec.Replies)
			}
			raw := res.String()
			parsed, err := sip.NewParser().ParseSIP([]byte(raw))
			if err != nil {
				t.Fatalf("reply does not parse: %v\n%s", err, raw)
			}
			res = parsed.(*sip.Response)
			for name, want := range tc.want {
				h := res.GetHeader(name)
				switch {
				case want == "" && h != nil:
					t.Errorf("reply has %s: %q, want none", name, h.Value())
				case want != "" && (h == nil || h.Value() != want || len(res.GetHeaders(name)) != 1):
					t.Errorf("reply %s = %v, want one with %q\n%s", name, res.GetHeaders(name), want, raw)
				}
			}
			// The request itself is untouched.
			if m.Req.GetHeader("X-Reply") != nil || m.Req.GetHeader("X-A") != nil {
				t.Errorf("append_to_reply changed the request:\n%s", m.Req)
			}
		})
	}
}

func TestOutsideRoute(t *testing.T) {
	// At load time there is no message: a call is a script error, so the
	// script is refused rather than run against nothing.
	src := "KSR.hdr.get(\"Via\")\nfunction ksr_request_route() end\n"
	_, err := script.New(script.Options{File: coretest.WriteScript(t, src), Exports: []script.Export{coretest.Export("hdr", &hdr.Hdr{})}})
	if err == nil || !strings.Contains(err.Error(), "no current SIP message") {
		t.Fatalf("err = %v, want a no-current-message error", err)
	}
}

func TestFullName(t *testing.T) {
	cases := []struct{ in, want string }{
		{"i", "Call-ID"}, {"I", "Call-ID"}, {"m", "Contact"}, {"e", "Content-Encoding"},
		{"l", "Content-Length"}, {"c", "Content-Type"}, {"f", "From"}, {"s", "Subject"},
		{"k", "Supported"}, {"t", "To"}, {"v", "Via"}, {"o", "Event"}, {"r", "Refer-To"},
		{"x", "Session-Expires"},
		{"g", "g"}, {"z", "z"}, {"1", "1"}, {"Via", "Via"}, {"", ""}, {"ii", "ii"},
	}
	for _, tc := range cases {
		if got := hdr.FullName(tc.in); got != tc.want {
			t.Errorf("FullName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNameEqual(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"Call-ID", "call-id", true},
		{"Call-ID", "i", true},
		{"I", "CALL-ID", true},
		{"m", "Contact", true},
		{"k", "supported", true},
		{"v", "t", false},
		{"Via", "Vía", false},
		{"k", "\u212a", false}, // Kelvin sign folds to k in Unicode, not in SIP
		{"X-A", "X-B", false},
		{"X-@", "X-`", false},
		{"", "", true},
	}
	for _, tc := range cases {
		if got := hdr.NameEqual(tc.a, tc.b); got != tc.want {
			t.Errorf("NameEqual(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestParseLine(t *testing.T) {
	cases := []struct {
		name      string
		txt       string
		wantName  string
		wantValue string
		wantErr   error
	}{
		{"generic", "X-A: 1\r\n", "X-A", "1", nil},
		{"no CRLF", "X-A: 1", "X-A", "1", nil},
		{"spaces around", "X-A  :   1 2  \r\n", "X-A", "1 2", nil},
		{"typed compact", "m: <sip:a@example.com>\r\n", "Contact", "<sip:a@example.com>", nil},
		{"colon in value", "X-Time: 12:00\r\n", "X-Time", "12:00", nil},
		{"CRLF inside", "X-A: 1\r\nX-B: 2\r\n", "", "", hdr.ErrBadLine},
		{"LF", "X-A: 1\n", "", "", hdr.ErrBadLine},
		{"CR", "X-A: 1\r", "", "", hdr.ErrBadLine},
		{"NUL", "X-A: \x00", "", "", hdr.ErrBadLine},
		{"no colon", "X-A", "", "", hdr.ErrBadLine},
		{"empty", "", "", "", hdr.ErrBadLine},
		{"bad name", "X<A>: 1", "", "", hdr.ErrBadName},
		{"leading space", " X-A: 1", "", "", hdr.ErrBadName},
		{"bad typed value", "From: <sip:", "", "", hdr.ErrBadLine},
		{"Content-Length", "Content-Length: 100\r\n", "", "", hdr.ErrManaged},
		{"compact Content-Length", "L: 0", "", "", hdr.ErrManaged},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hs, err := hdr.ParseLine(tc.txt)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(hs) != 1 || hs[0].Name() != tc.wantName || hs[0].Value() != tc.wantValue {
				t.Fatalf("got %v, want %s: %s", hs, tc.wantName, tc.wantValue)
			}
		})
	}
}

func TestRemoveCount(t *testing.T) {
	req := coretest.Request(t, compact)
	before := len(req.Headers())
	if n, err := hdr.Remove(req, "x-dup"); n != 2 || err != nil {
		t.Fatalf("Remove = %d, %v, want 2", n, err)
	}
	if n, err := hdr.Remove(req, "x-dup"); n != 0 || err != nil {
		t.Fatalf("second Remove = %d, %v, want 0", n, err)
	}
	if got := len(req.Headers()); got != before-2 {
		t.Fatalf("%d headers left, want %d", got, before-2)
	}
	// Removing the only Contact clears sipgo's typed accessor too.
	if n, err := hdr.Remove(req, "Contact"); n != 1 || err != nil || req.Contact() != nil {
		t.Fatalf("Remove(Contact) = %d, %v, Contact() = %v", n, err, req.Contact())
	}
	for _, name := range []string{"Content-Length", "l", "content-LENGTH"} {
		if n, err := hdr.Remove(req, name); n != 0 || !errors.Is(err, hdr.ErrManaged) {
			t.Fatalf("Remove(%s) = %d, %v, want ErrManaged", name, n, err)
		}
	}
	if req.ContentLength() == nil {
		t.Fatal("Content-Length removed")
	}
}

func TestGetAndAppendDirect(t *testing.T) {
	req := coretest.Request(t, coretest.Register)
	if err := hdr.Append(req, "Path: <sip:edge.example.com;lr>\r\n"); err != nil {
		t.Fatal(err)
	}
	if v, ok := hdr.Get(req, "path"); !ok || v != "<sip:edge.example.com;lr>" {
		t.Fatalf("Get(path) = %q, %v", v, ok)
	}
	if err := hdr.Append(req, "Path: x\r\nVia: evil"); !errors.Is(err, hdr.ErrBadLine) {
		t.Fatalf("injection: err = %v", err)
	}
	m := core.NewMsg(req, nil)
	if err := hdr.AppendToReply(m, "Min-Expires: 60\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := m.NewReply(423, "")
	if err != nil {
		t.Fatal(err)
	}
	if h := res.GetHeader("Min-Expires"); h == nil || h.Value() != "60" {
		t.Fatalf("reply Min-Expires = %v\n%s", h, res)
	}
}

func TestRefusalIsLogged(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	src := "function ksr_request_route()\n" +
		"if KSR.hdr.append(\"X-A: 1\\r\\nX-B: 2\") ~= -1 then error(\"accepted\") end\n" +
		"if KSR.hdr.append_to_reply(\"X-A: 1\\nX-B: 2\") ~= -1 then error(\"accepted\") end\n" +
		"end\n"
	rt, err := script.New(script.Options{File: coretest.WriteScript(t, src), Log: log,
		Exports: []script.Export{coretest.Export("hdr", &hdr.Hdr{})}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	m, _ := coretest.Msg(t, coretest.Register)
	if err := rt.Route(m); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`level=ERROR msg="hdr: append refused"`, `level=ERROR msg="hdr: append_to_reply refused"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}
