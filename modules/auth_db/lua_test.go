package authdb_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/auth"
	authdb "github.com/locus-sip/locus/modules/auth_db"
)

// registrarRoute authenticates every request as the default script will.
const registrarRoute = `
function ksr_request_route()
	local realm = "example.com"
	local rc = KSR.auth_db.auth_check(realm, "subscriber", 1)
	if rc == -8 then
		KSR.sl.send_reply(403, "Forbidden")
		KSR.x.exit()
	end
	if rc < 0 then
		KSR.auth.auth_challenge(realm, 0)
		KSR.x.exit()
	end
	KSR.auth.consume_credentials()
	KSR.sl.send_reply(200, "OK " .. rc .. " " .. KSR.t.au() .. "@" .. KSR.t.ar())
end
`

// TestLuaRegisterFlow walks a phone through challenge, registration,
// refreshes with the same nonce, replays and expiry.
func TestLuaRegisterFlow(t *testing.T) {
	e := newEnv(t, registrarRoute, nil)

	res := e.send(req{}.String())
	if res.StatusCode != 401 || res.Reason != "Unauthorized" {
		t.Fatalf("no credentials: %d %s", res.StatusCode, res.Reason)
	}
	hs := res.GetHeaders("WWW-Authenticate")
	if len(hs) != 2 || !strings.Contains(hs[0].Value(), "algorithm=SHA-256") || !strings.Contains(hs[1].Value(), "algorithm=MD5") {
		t.Fatalf("challenges %v, want SHA-256 then MD5", hs)
	}
	sha, md5 := parseChallenge(t, hs[0].Value()), parseChallenge(t, hs[1].Value())
	if sha["qop"] != "auth" || sha["realm"] != "example.com" || sha["nonce"] == "" || sha["nonce"] != md5["nonce"] {
		t.Fatalf("challenge %v / %v", sha, md5)
	}

	steps := []struct {
		name   string
		r      req
		code   int
		reason string
		stale  bool
	}{
		{"SHA-256 nc 1", req{auth: credentials(sha, "alice", "wonderland", "REGISTER", "sip:example.com", 1), cseq: 2}, 200, "OK 1 alice@example.com", false},
		{"the same request again (a retransmission)", req{auth: credentials(sha, "alice", "wonderland", "REGISTER", "sip:example.com", 1), cseq: 2}, 200, "OK 1 alice@example.com", false},
		{"the same credentials in a new request (a replay)", req{auth: credentials(sha, "alice", "wonderland", "REGISTER", "sip:example.com", 1), cseq: 3}, 401, "", true},
		{"nc 2", req{auth: credentials(sha, "alice", "wonderland", "REGISTER", "sip:example.com", 2), cseq: 3}, 200, "OK 1 alice@example.com", false},
		{"MD5, same nonce, nc 3", req{auth: credentials(md5, "alice", "wonderland", "REGISTER", "sip:example.com", 3), cseq: 4}, 200, "OK 1 alice@example.com", false},
		{"wrong password", req{auth: credentials(sha, "alice", "nope", "REGISTER", "sip:example.com", 4), cseq: 5}, 401, "", false},
		{"bob registering alice", req{to: "alice", from: "alice", auth: credentials(sha, "bob", "builder", "REGISTER", "sip:example.com", 5), cseq: 6}, 403, "Forbidden", false},
		{"bob registering himself", req{from: "bob", auth: credentials(sha, "bob", "builder", "REGISTER", "sip:example.com", 6), cseq: 7}, 200, "OK 1 bob@example.com", false},
		{"garbage credentials", req{auth: `Digest username="alice", realm="example.com"`, cseq: 8}, 401, "", false},
		{"INVITE without credentials", req{method: "INVITE", to: "bob", cseq: 9}, 407, "Proxy Authentication Required", false},
		{"INVITE with credentials in Authorization", req{method: "INVITE", to: "bob", hdr: "Authorization",
			auth: credentials(sha, "alice", "wonderland", "INVITE", "sip:bob@example.com", 10), cseq: 10}, 407, "", false},
	}
	for _, s := range steps {
		res := e.send(s.r.String())
		if res.StatusCode != s.code || s.reason != "" && res.Reason != s.reason {
			t.Fatalf("%s: %d %s, want %d %s", s.name, res.StatusCode, res.Reason, s.code, s.reason)
		}
		if res.StatusCode == 401 || res.StatusCode == 407 {
			if got := firstChallenge(t, res)["stale"] == "true"; got != s.stale {
				t.Fatalf("%s: stale %v, want %v", s.name, got, s.stale)
			}
		}
		if res.StatusCode == 200 && res.GetHeader("Authorization") != nil {
			t.Fatalf("%s: credentials echoed", s.name)
		}
	}

	// A proxy challenge answered in Proxy-Authorization.
	res = e.send(req{method: "INVITE", to: "bob", cseq: 20}.String())
	pc := firstChallenge(t, res)
	res = e.send(req{method: "INVITE", to: "bob", auth: credentials(pc, "alice", "wonderland", "INVITE", "sip:bob@example.com", 1), cseq: 21}.String())
	if res.StatusCode != 200 {
		t.Fatalf("INVITE with Proxy-Authorization: %d %s", res.StatusCode, res.Reason)
	}

	// After nonce_expires (30 s) the same credentials are stale.
	e.now = e.now.Add(31 * time.Second)
	res = e.send(req{auth: credentials(sha, "alice", "wonderland", "REGISTER", "sip:example.com", 9), cseq: 30}.String())
	fresh := firstChallenge(t, res)
	if res.StatusCode != 401 || fresh["stale"] != "true" || fresh["nonce"] == sha["nonce"] {
		t.Fatalf("expired nonce: %d %v", res.StatusCode, fresh)
	}
	res = e.send(req{auth: credentials(fresh, "alice", "wonderland", "REGISTER", "sip:example.com", 1), cseq: 31}.String())
	if res.StatusCode != 200 {
		t.Fatalf("after the stale challenge: %d %s", res.StatusCode, res.Reason)
	}
}

// TestLuaReturnCodes checks each KSR.auth_db and KSR.auth function's
// return code as the script sees it.
func TestLuaReturnCodes(t *testing.T) {
	const route = `
function ksr_request_route()
	local rc = ` + "%s" + `
	KSR.sl.send_reply(299, tostring(rc))
end
`
	e0 := newEnv(t, strings.Replace(route, "%s", "0", 1), nil)
	nonce := func() challenge {
		m, rec := coretest.Msg(t, req{}.String())
		_, _ = e0.auth.Challenge(m, "example.com", 0, auth.WWW)
		return firstChallenge(t, rec.Final())
	}
	good := func() string { return credentials(nonce(), "alice", "wonderland", "REGISTER", "sip:example.com", 1) }
	cases := []struct {
		name string
		call string
		r    req
		want string
	}{
		{"auth_check ok", `KSR.auth_db.auth_check("example.com", "subscriber", 1)`, req{auth: good()}, "1"},
		{"auth_check flags as a string", `KSR.auth_db.auth_check("example.com", "subscriber", "1")`, req{auth: good()}, "1"},
		{"auth_check wrong password", `KSR.auth_db.auth_check("example.com", "subscriber", 0)`,
			req{auth: credentials(nonce(), "alice", "x", "REGISTER", "sip:example.com", 1)}, "-2"},
		{"auth_check unknown user", `KSR.auth_db.auth_check("example.com", "subscriber", 0)`,
			req{from: "mallory", auth: credentials(nonce(), "mallory", "x", "REGISTER", "sip:example.com", 1)}, "-3"},
		{"auth_check no credentials", `KSR.auth_db.auth_check("example.com", "subscriber", 0)`, req{}, "-5"},
		{"auth_check malformed", `KSR.auth_db.auth_check("example.com", "subscriber", 0)`, req{auth: "Digest realm=\"example.com\""}, "-1"},
		{"auth_check mismatch", `KSR.auth_db.auth_check("example.com", "subscriber", 1)`,
			req{auth: credentials(nonce(), "bob", "builder", "REGISTER", "sip:example.com", 1)}, "-8"},
		{"auth_check mismatch ignored without flag 1", `KSR.auth_db.auth_check("example.com", "subscriber", 0)`,
			req{auth: credentials(nonce(), "bob", "builder", "REGISTER", "sip:example.com", 1)}, "1"},
		{"auth_check empty realm", `KSR.auth_db.auth_check("", "subscriber", 0)`, req{auth: good()}, "-1"},
		{"auth_check empty table", `KSR.auth_db.auth_check("example.com", "", 0)`, req{auth: good()}, "-1"},
		{"auth_check on CANCEL", `KSR.auth_db.auth_check("example.com", "subscriber", 1)`, req{method: "CANCEL"}, "1"},
		{"www_authenticate", `KSR.auth_db.www_authenticate("example.com", "subscriber")`, req{auth: good()}, "1"},
		{"www_authenticate with method", `KSR.auth_db.www_authenticate("example.com", "subscriber", "REGISTER")`, req{auth: good()}, "1"},
		{"www_authenticate_method", `KSR.auth_db.www_authenticate_method("example.com", "subscriber", "REGISTER")`, req{auth: good()}, "1"},
		{"www_authenticate with another method", `KSR.auth_db.www_authenticate("example.com", "subscriber", "INVITE")`, req{auth: good()}, "-2"},
		{"proxy_authenticate on Authorization", `KSR.auth_db.proxy_authenticate("example.com", "subscriber")`, req{auth: good()}, "-5"},
		{"is_subscriber", `KSR.auth_db.is_subscriber("sip:bob@example.com", "subscriber", 1)`, req{}, "1"},
		{"is_subscriber other domain", `KSR.auth_db.is_subscriber("sip:bob@example.org", "subscriber", 1)`, req{}, "-1"},
		{"is_subscriber any domain", `KSR.auth_db.is_subscriber("sip:bob@example.org", "subscriber", 0)`, req{}, "1"},
		{"is_subscriber unknown", `KSR.auth_db.is_subscriber("sip:carol@example.com", "subscriber", 3)`, req{}, "-1"},
		{"is_subscriber bad URI", `KSR.auth_db.is_subscriber("not a uri", "subscriber", 0)`, req{}, "-1"},
		{"has_credentials", `KSR.auth.has_credentials("example.com")`, req{auth: good()}, "1"},
		{"has_credentials other realm", `KSR.auth.has_credentials("example.org")`, req{auth: good()}, "-1"},
		{"consume_credentials before a check", `KSR.auth.consume_credentials()`, req{auth: good()}, "-1"},
		{"pv_www_authenticate", `KSR.auth.pv_www_authenticate("example.com", "wonderland", 0)`, req{auth: good()}, "1"},
		{"pv_www_authenticate_method", `KSR.auth.pv_www_authenticate_method("example.com", "wonderland", 0, "REGISTER")`, req{auth: good()}, "1"},
		{"pv_proxy_authenticate", `KSR.auth.pv_proxy_authenticate("example.com", "wonderland", 0)`, req{auth: good()}, "-5"},
		{"pv_auth_check", `KSR.auth.pv_auth_check("example.com", "wonderland", 0, 1)`, req{auth: good()}, "1"},
		{"pv_auth_check wrong", `KSR.auth.pv_auth_check("example.com", "x", 0, 1)`, req{auth: good()}, "-2"},
		{"auth_algorithm", `KSR.auth.auth_algorithm("SHA-512-256")`, req{}, "1"},
		{"auth_algorithm unknown", `KSR.auth.auth_algorithm("SHA-1")`, req{}, "-1"},
		{"www_challenge after a reply", `KSR.sl.send_reply(200, "x") and KSR.auth.www_challenge("example.com", 0)`, req{}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, strings.Replace(route, "%s", tc.call, 1), nil)
			e.now = e0.now
			res := e.send(tc.r.String())
			if tc.want == "" {
				return
			}
			if res.StatusCode != 299 || res.Reason != tc.want {
				t.Fatalf("got %d %q, want 299 %q", res.StatusCode, res.Reason, tc.want)
			}
		})
	}
}

// TestLuaChallengeFunctions checks the replies the challenge functions send.
func TestLuaChallengeFunctions(t *testing.T) {
	cases := []struct {
		name   string
		call   string
		method string
		code   int
		header string
		check  string // a part of the first challenge
	}{
		{"auth_challenge REGISTER", `KSR.auth.auth_challenge("example.com", 0)`, "REGISTER", 401, "WWW-Authenticate", `qop="auth"`},
		{"auth_challenge INVITE", `KSR.auth.auth_challenge("example.com", 0)`, "INVITE", 407, "Proxy-Authenticate", `qop="auth"`},
		{"www_challenge auth-int", `KSR.auth.www_challenge("example.com", 2)`, "INVITE", 401, "WWW-Authenticate", `qop="auth-int"`},
		{"proxy_challenge stale", `KSR.auth.proxy_challenge("example.com", "17")`, "REGISTER", 407, "Proxy-Authenticate", `stale=true`},
		{"auth_algorithm then challenge", `KSR.auth.auth_algorithm("MD5"); KSR.auth.auth_challenge("example.com", 0)`, "REGISTER", 401, "WWW-Authenticate", `algorithm=MD5`},
		{"bad realm", `KSR.auth.auth_challenge("a\r\nb", 0)`, "REGISTER", 500, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "function ksr_request_route() "+tc.call+" end", nil)
			res := e.send(req{method: tc.method, to: "bob"}.String())
			if res.StatusCode != tc.code {
				t.Fatalf("reply %d, want %d", res.StatusCode, tc.code)
			}
			if tc.header != "" {
				h := res.GetHeader(tc.header)
				if h == nil || !strings.Contains(h.Value(), tc.check) {
					t.Fatalf("%s: %v, want %q", tc.header, h, tc.check)
				}
			}
		})
	}
}

func TestLuaArgumentErrors(t *testing.T) {
	for _, call := range []string{
		`KSR.auth_db.auth_check("example.com")`,
		`KSR.auth_db.auth_check("example.com", "subscriber", "one")`,
		`KSR.auth.auth_challenge({}, 0)`,
		`KSR.auth.pv_auth_check("example.com", "x", 0, {})`,
	} {
		e := newEnv(t, "function ksr_request_route() "+call+" end", nil)
		if res := e.send(req{}.String()); res.StatusCode != 500 {
			t.Errorf("%s: reply %d, want the fallback 500 of a script error", call, res.StatusCode)
		}
	}
}

// TestEnumeration: an unknown user and a wrong password get the same
// reply, field by field, apart from the nonce.
func TestEnumeration(t *testing.T) {
	e := newEnv(t, registrarRoute, nil)
	chal := firstChallenge(t, e.send(req{}.String()))
	unknown := e.send(req{from: "mallory", to: "alice", auth: credentials(chal, "mallory", "wonderland", "REGISTER", "sip:example.com", 1)}.String())
	wrong := e.send(req{from: "mallory", to: "alice", auth: credentials(chal, "alice", "nope", "REGISTER", "sip:example.com", 1)}.String())
	if unknown.StatusCode != 401 || wrong.StatusCode != 401 {
		t.Fatalf("replies %d and %d, want 401", unknown.StatusCode, wrong.StatusCode)
	}
	a, b := fields(unknown), fields(wrong)
	if len(a) != len(b) {
		t.Fatalf("different headers:\n%s\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("field %d differs:\n  unknown user:   %s\n  wrong password: %s", i, a[i], b[i])
		}
	}
	// And the nonces are fresh, not the one answered.
	if n1, n2 := firstChallenge(t, unknown)["nonce"], firstChallenge(t, wrong)["nonce"]; n1 == chal["nonce"] || n2 == chal["nonce"] || n1 == n2 {
		t.Fatal("nonces not fresh")
	}
}

var nonceRe = regexp.MustCompile(`nonce="[^"]*"`)

// fields lists a reply's status line and headers, nonces blanked.
func fields(res *sip.Response) []string {
	out := []string{res.StartLine()}
	for _, h := range res.Headers() {
		out = append(out, h.Name()+": "+nonceRe.ReplaceAllString(h.Value(), `nonce="…"`))
	}
	return out
}

// TestEnumerationTiming: the check of an unknown user does the same work
// as that of a wrong password. The fastest of many batches is compared,
// which noise can only slow down; a skipped hash would make the unknown
// user at least a third faster.
func TestEnumerationTiming(t *testing.T) {
	e := newEnv(t, registrarRoute, nil)
	ctx := context.Background()
	m0, rec := coretest.Msg(t, req{}.String())
	_, _ = e.auth.Challenge(m0, "example.com", 0, auth.WWW)
	chal := firstChallenge(t, rec.Final())
	raws := map[string]string{
		"unknown": req{from: "mallory", to: "alice", auth: credentials(chal, "mallory", "wonderland", "REGISTER", "sip:example.com", 1)}.String(),
		"wrong":   req{auth: credentials(chal, "alice", "nope", "REGISTER", "sip:example.com", 1)}.String(),
	}
	want := map[string]auth.Result{"unknown": auth.UserUnknown, "wrong": auth.InvalidPassword}
	const batch, rounds = 50, 60
	best := map[string]time.Duration{}
	for r := 0; r < rounds; r++ {
		for _, k := range []string{"unknown", "wrong"} {
			ms := make([]*core.Msg, batch)
			for i := range ms {
				m, _ := coretest.Msg(t, raws[k])
				ms[i] = m
			}
			start := time.Now()
			for _, m := range ms {
				if res, _ := e.db.AuthCheck(ctx, m, "example.com", "subscriber", 0); res != want[k] {
					t.Fatalf("%s: %d", k, res)
				}
			}
			if d := time.Since(start); best[k] == 0 || d < best[k] {
				best[k] = d
			}
		}
	}
	ratio := float64(best["unknown"]) / float64(best["wrong"])
	t.Logf("fastest batch of %d: unknown user %v, wrong password %v (ratio %.2f)", batch, best["unknown"], best["wrong"], ratio)
	if ratio < 0.8 || ratio > 1.25 {
		t.Fatalf("unknown user and wrong password differ in time: ratio %.2f", ratio)
	}
}

// TestLuaUnprovisioned: "locus check" loads scripts with unprovisioned
// modules; a function callable outside a route must not crash it.
func TestLuaUnprovisioned(t *testing.T) {
	src := `
local rc = KSR.auth_db.is_subscriber("sip:alice@example.com", "subscriber", 0)
if rc ~= -1 then error("rc " .. rc) end
function ksr_request_route() end
`
	coretest.Runtime(t, src, coretest.Export("auth_db", authdb.New()), coretest.Export("auth", auth.New()))
}
