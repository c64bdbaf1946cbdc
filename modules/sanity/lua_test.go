package sanity_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/sanity"
	"github.com/locus-sip/locus/modules/sl"
)

// route runs src on raw with KSR.sanity (s) and KSR.sl.
func route(t *testing.T, s *sanity.Sanity, src, raw string) (*coretest.Recorder, *core.Msg) {
	t.Helper()
	return coretest.Route(t, src, raw, coretest.Export("sanity", s), coretest.Export("sl", &sl.SL{}))
}

// expect is a route that checks the return code with error() and, when
// the request passes, replies 200.
func expect(call string, rc int) string {
	return fmt.Sprintf(`function ksr_request_route()
	local rc = KSR.sanity.%s
	if rc ~= %d then error("sanity returned " .. tostring(rc)) end
	if rc > 0 then KSR.sl.send_reply(200, "OK") end
	KSR.x.exit()
end`, call, rc)
}

func TestLuaSanityCheck(t *testing.T) {
	cases := []struct {
		name        string
		raw         string
		call        string
		rc          int
		code        int // 0: no reply at all
		reason      string
		unsupported string
		dropped     bool
	}{
		{"valid REGISTER", coretest.Register, "sanity_check_defaults()", 1, 200, "OK", "", false},
		{"mismatch01", mismatch01, "sanity_check_defaults()", -1, 400, "CSeq method does not match request method", "", false},
		{"mismatch02", mismatch02, "sanity_check_defaults()", -1, 400, "CSeq method does not match request method", "", false},
		{"mcl01", mcl01, "sanity_check_defaults()", -1, 400, "Content-Length mis-match", "", false},
		// The engine answers a request that is not SIP/2.0 before the
		// script runs; the version check itself is tested in sanity_test.go.
		{"badvers", badvers, "sanity_check_defaults()", -1, 505, "Version Not Supported", "", false},
		{"unkscm", unkscm, "sanity_check_defaults()", -1, 416, "Unsupported URI Scheme in Request URI", "", false},
		{"bext01", bext01, "sanity_check_defaults()", -1, 420, "Bad Proxy Require Extension",
			"noProxiesSupportThis, norDoAnyProxiesSupportThis", false},
		{"bad Expires", register("Expires: 3600", "Expires: never"), "sanity_check_defaults()", -1, 400, "Expires value is illegal", "", false},
		{"insuf is dropped", insuf, "sanity_check_defaults()", -1, 0, "", "", true},
		{"multi01 is dropped", multi01, "sanity_check_defaults()", -1, 0, "", "", true},
		{"regaut01 is dropped", regaut01, "sanity_check_defaults()", -1, 0, "", "", true},
		{"regaut01 passes authorization", regaut01, "sanity_check(8192, 7)", 1, 200, "OK", "", false},
		{"zeromf passes", zeromf, "sanity_check_defaults()", 1, 200, "OK", "", false},
		{"unksm2 Contact", unksm2, "sanity_check(1024, 8)", -1, 400, "Bad Contact URI", "", false},
		{"unksm2 From by default URIs", unksm2, "sanity_check(1024, 7)", -1, 400, "Invalid From Header", "", false},
		{"empty username", authorized(`Authorization: Digest username="", realm="r", nonce="n", uri="sip:example.com", response="00"`),
			"sanity_check_defaults()", -1, 400, "Auth Empty User", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, m := route(t, sanity.New(), expect(tc.call, tc.rc), tc.raw)
			if tc.code == 0 {
				if len(rec.Replies) != 0 {
					t.Fatalf("replied %d %s, want no reply", rec.Replies[0].StatusCode, rec.Replies[0].Reason)
				}
			} else {
				f := rec.Final()
				if f == nil || f.StatusCode != tc.code || f.Reason != tc.reason {
					t.Fatalf("final reply %v, want %d %s", f, tc.code, tc.reason)
				}
				if got := header(f, "Unsupported"); got != tc.unsupported {
					t.Fatalf("Unsupported %q, want %q", got, tc.unsupported)
				}
			}
			if m.Dropped != tc.dropped {
				t.Fatalf("dropped %v, want %v", m.Dropped, tc.dropped)
			}
		})
	}
}

func header(res *sip.Response, name string) string {
	if h := res.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

func TestLuaFlagsOutOfRange(t *testing.T) {
	for _, call := range []string{"sanity_check(32768, 7)", "sanity_check(-1, 7)", "sanity_check(3047, 16)"} {
		t.Run(call, func(t *testing.T) {
			// A bad flag value checks nothing: even mismatch01 goes on to 202.
			src := fmt.Sprintf(`function ksr_request_route()
	if KSR.sanity.%s ~= -1 then error("accepted") end
	KSR.sl.send_reply(202, "Carried On")
end`, call)
			rec, _ := route(t, sanity.New(), src, mismatch01)
			if rec.Code() != 202 || len(rec.Replies) != 1 {
				t.Fatalf("replies %d (final %d), want only 202", len(rec.Replies), rec.Code())
			}
		})
	}
}

func TestLuaArgumentErrors(t *testing.T) {
	rec, _ := route(t, sanity.New(), `function ksr_request_route() KSR.sanity.sanity_check("all") end`, coretest.Register)
	if rec.Code() != 500 {
		t.Fatalf("reply %d, want the fallback 500 for a script error", rec.Code())
	}
}

func TestLuaNoReply(t *testing.T) {
	noreply := func() *sanity.Sanity {
		s := sanity.New()
		s.NoReply = true
		return s
	}
	cases := []struct {
		name        string
		s           *sanity.Sanity
		raw         string
		src         string
		code        int
		reason      string
		unsupported string
	}{
		{"sanity_reply sends the recorded reply", noreply(), mismatch01, `function ksr_request_route()
	if KSR.sanity.sanity_check_defaults() ~= -1 then error("passed") end
	KSR.sl.send_reply(100, "Trying")
	if KSR.sanity.sanity_reply() ~= 1 then error("sanity_reply failed") end
end`, 400, "CSeq method does not match request method", ""},
		{"sl_reply_error sends it too", noreply(), unkscm, `function ksr_request_route()
	if KSR.sanity.sanity_check_defaults() ~= -1 then error("passed") end
	KSR.sl.sl_reply_error()
end`, 416, "Unsupported URI Scheme in Request URI", ""},
		{"the script's own reply carries Unsupported", noreply(), bext01, `function ksr_request_route()
	if KSR.sanity.sanity_check_defaults() ~= -1 then error("passed") end
	KSR.sl.send_reply(420, "Bad Extension")
end`, 420, "Bad Extension", "noProxiesSupportThis, norDoAnyProxiesSupportThis"},
		{"sanity_reply with nothing recorded", noreply(), coretest.Register, `function ksr_request_route()
	if KSR.sanity.sanity_check_defaults() ~= 1 then error("failed") end
	KSR.sanity.sanity_reply()
end`, 500, "Server Sanity Failure", ""},
		{"sanity_reply without noreply does nothing", sanity.New(), mismatch01, `function ksr_request_route()
	if KSR.sanity.sanity_check_defaults() ~= -1 then error("passed") end
	if KSR.sanity.sanity_reply() ~= 1 then error("sanity_reply failed") end
end`, 400, "CSeq method does not match request method", ""},
		{"sanity_reply after a reply fails", noreply(), mismatch01, `function ksr_request_route()
	KSR.sanity.sanity_check_defaults()
	KSR.sl.send_reply(403, "No")
	if KSR.sanity.sanity_reply() ~= -1 then error("second final reply") end
end`, 403, "No", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, _ := route(t, tc.s, tc.src, tc.raw)
			f := rec.Final()
			if f == nil || f.StatusCode != tc.code || f.Reason != tc.reason {
				t.Fatalf("final reply %v, want %d %s", f, tc.code, tc.reason)
			}
			if got := header(f, "Unsupported"); got != tc.unsupported {
				t.Fatalf("Unsupported %q, want %q", got, tc.unsupported)
			}
			finals := 0
			for _, r := range rec.Replies {
				if r.StatusCode >= 200 {
					finals++
				}
			}
			if finals != 1 {
				t.Fatalf("%d final replies, want 1", finals)
			}
		})
	}
}

func TestLuaNoReplyDropped(t *testing.T) {
	s := sanity.New()
	s.NoReply = true
	src := `function ksr_request_route()
	if KSR.sanity.sanity_check_defaults() ~= -1 then error("passed") end
	KSR.sanity.sanity_reply()
end`
	rec, m := route(t, s, src, insuf)
	if len(rec.Replies) != 0 || !m.Dropped {
		t.Fatalf("replies %d, dropped %v; want none and dropped", len(rec.Replies), m.Dropped)
	}
}

func TestCheckMsgAck(t *testing.T) {
	ack := strings.Replace(strings.Replace(mismatch01, "OPTIONS sip:", "ACK sip:", 1), "CSeq: 8 INVITE", "CSeq: 8 OPTIONS", 1)
	m, rec := coretest.Msg(t, ack)
	f, err := sanity.New().CheckMsg(m, sanity.DefaultChecks, sanity.DefaultURIChecks)
	if f == nil || f.Code != 400 || err != nil {
		t.Fatalf("got %v, %v; want the CSeq failure", f, err)
	}
	if len(rec.Replies) != 0 || m.Dropped {
		t.Fatalf("an ACK got %d replies, dropped %v", len(rec.Replies), m.Dropped)
	}
}

func TestCheckMsgRecordsInNoReplyMode(t *testing.T) {
	s := sanity.New()
	s.NoReply = true
	m, rec := coretest.Msg(t, bext01)
	f, err := s.CheckMsg(m, sanity.DefaultChecks, sanity.DefaultURIChecks)
	if f == nil || err != nil {
		t.Fatalf("got %v, %v", f, err)
	}
	if len(rec.Replies) != 0 {
		t.Fatalf("replied in noreply mode")
	}
	if m.ErrCode != 420 || m.ErrReason != "Bad Proxy Require Extension" {
		t.Fatalf("recorded %d %q", m.ErrCode, m.ErrReason)
	}
	if len(m.ReplyHeaders) != 1 || m.ReplyHeaders[0].Name() != "Unsupported" {
		t.Fatalf("reply headers %v", m.ReplyHeaders)
	}
}

func TestConfig(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		want    sanity.Sanity
		wantErr string
	}{
		{"defaults", "", sanity.Sanity{DefaultChecks: 3047, URIChecks: 7, ProxyRequire: []string{}}, ""},
		{"set", "modules:\n  sanity:\n    default_checks: 17895\n    uri_checks: 15\n    proxy_require: [foo, bar]\n    noreply: true\n",
			sanity.Sanity{DefaultChecks: 17895, URIChecks: 15, ProxyRequire: []string{"foo", "bar"}, NoReply: true}, ""},
		{"unknown check bit", "modules:\n  sanity:\n    default_checks: 32768\n", sanity.Sanity{}, "default_checks"},
		{"unknown URI bit", "modules:\n  sanity:\n    uri_checks: 16\n", sanity.Sanity{}, "uri_checks"},
		{"negative", "modules:\n  sanity:\n    default_checks: -1\n", sanity.Sanity{}, "-1"},
		{"tag that is not a token", "modules:\n  sanity:\n    proxy_require: [\"foo bar\"]\n", sanity.Sanity{}, "foo bar"},
		{"comma list instead of a YAML list", "modules:\n  sanity:\n    proxy_require: foo, bar\n", sanity.Sanity{}, "into []string"},
		{"unknown key", "modules:\n  sanity:\n    autodrop: 1\n", sanity.Sanity{}, "autodrop"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := load(t, tc.yaml)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(*s) != fmt.Sprint(tc.want) {
				t.Fatalf("got %+v, want %+v", *s, tc.want)
			}
		})
	}
}

// load decodes and validates a config through the core, as locus does.
func load(t *testing.T, y string) (*sanity.Sanity, error) {
	t.Helper()
	m, err := coretest.LoadModule(t, y, "sanity")
	if err != nil {
		return nil, err
	}
	return m.(*sanity.Sanity), nil
}

// TestREADME loads the README's configuration and runs its Lua example.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s, err := load(t, coretest.Fences(t, string(b), "yaml")[0])
	if err != nil {
		t.Fatalf("README configuration: %v", err)
	}
	src := coretest.Fences(t, string(b), "lua")[0]
	cases := []struct {
		name string
		raw  string
		code int
	}{
		{"valid", coretest.Register, 200},
		{"CSeq mismatch", mismatch01, 400},
		{"bad Contact on REGISTER", unksm2, 400},
		{"dropped", insuf, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, _ := route(t, s, src, tc.raw)
			if rec.Code() != tc.code {
				t.Fatalf("reply %d, want %d", rec.Code(), tc.code)
			}
		})
	}
}
