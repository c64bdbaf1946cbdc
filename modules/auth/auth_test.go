package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/auth"
)

var ctx = context.Background()

// TestAuthenticateAlgorithms: a client answering each algorithm's
// challenge, with each qop, authenticates; $au and $ar are set.
func TestAuthenticateAlgorithms(t *testing.T) {
	a, _ := newAuth(t, func(a *auth.Auth) { a.QOP = "auth,auth-int" })
	for _, alg := range auth.Algorithms {
		for _, qop := range []string{"auth", "auth-int"} {
			t.Run(alg.String()+"/"+qop, func(t *testing.T) {
				chal := challengeOf(t, a, "example.com", 0)[alg.String()]
				if chal == nil {
					t.Fatalf("no %s challenge", alg)
				}
				if chal["qop"] != "auth,auth-int" {
					t.Fatalf("qop offered %q", chal["qop"])
				}
				c := &client{user: "alice", pass: "wonderland", qop: qop}
				body := "hello"
				m, _ := request(t, "MESSAGE", body, "Proxy-Authorization: "+c.authorization(chal, "MESSAGE", []byte(body)))
				res, err := a.Authenticate(ctx, m, "example.com", auth.Proxy, "", alice)
				if res != auth.OK {
					t.Fatalf("result %d (%v)", res, err)
				}
				id, ok := auth.Authenticated(m)
				if !ok || id != (auth.Identity{User: "alice", Username: "alice", Realm: "example.com"}) {
					t.Fatalf("identity %+v, %v", id, ok)
				}
				pv := a.PVClasses()
				if pv["au"](m, "", 0) != "alice" || pv["ar"](m, "", 0) != "example.com" || pv["ad"](m, "", 0) != nil {
					t.Fatalf("$au %v $ar %v $ad %v", pv["au"](m, "", 0), pv["ar"](m, "", 0), pv["ad"](m, "", 0))
				}
			})
		}
	}
}

// TestAuthInt: qop=auth-int covers the body.
func TestAuthInt(t *testing.T) {
	a, _ := newAuth(t, func(a *auth.Auth) { a.QOP = "auth-int" })
	chal := challengeOf(t, a, "example.com", 0)["SHA-256"]
	c := &client{user: "alice", pass: "wonderland"}
	m, _ := request(t, "MESSAGE", "tampered", "Proxy-Authorization: "+c.authorization(chal, "MESSAGE", []byte("original")))
	if res, _ := a.Authenticate(ctx, m, "example.com", auth.Proxy, "", alice); res != auth.InvalidPassword {
		t.Fatalf("result %d for a changed body, want %d", res, auth.InvalidPassword)
	}
}

// TestAuthenticateFailures covers every failure result on one REGISTER.
func TestAuthenticateFailures(t *testing.T) {
	cases := []struct {
		name      string
		configure func(*auth.Auth)
		client    client
		alg       string
		realm     string        // the realm challenged; example.com when ""
		advance   time.Duration // clock moved between challenge and check
		edit      func(string) string
		hdrs      func(string) []string // the request's headers from the credentials
		want      auth.Result
		wantErr   error
	}{
		{name: "ok", client: client{user: "alice", pass: "wonderland"}, want: auth.OK},
		{name: "wrong password", client: client{user: "alice", pass: "Wonderland"}, want: auth.InvalidPassword},
		{name: "unknown user", client: client{user: "mallory", pass: "wonderland"}, want: auth.UserUnknown},
		{name: "user known in another realm only", client: client{user: "dave", pass: "wonderland"},
			want: auth.UserUnknown},
		{name: "no credentials", hdrs: func(string) []string { return nil }, want: auth.NoCredentials},
		{name: "credentials for another realm only", client: client{user: "alice", pass: "wonderland", realm: "example.org"},
			want: auth.NoCredentials},
		{name: "Basic credentials", hdrs: func(string) []string { return []string{"Authorization: Basic YWxpY2U6d29uZGVybGFuZA=="} },
			want: auth.NoCredentials},
		{name: "Proxy-Authorization on a REGISTER checked as WWW",
			client: client{user: "alice", pass: "wonderland"},
			hdrs:   func(v string) []string { return []string{"Proxy-Authorization: " + v} }, want: auth.NoCredentials},
		{name: "malformed credentials", client: client{user: "alice", pass: "wonderland"},
			edit: func(v string) string { return v + `, nc=00000009` }, want: auth.Error, wantErr: auth.ErrMalformed},
		{name: "malformed and valid headers: the valid one is used", client: client{user: "alice", pass: "wonderland"},
			hdrs: func(v string) []string { return []string{`Authorization: Digest username="x`, "Authorization: " + v} },
			want: auth.OK},
		{name: "other realm first, then ours", client: client{user: "alice", pass: "wonderland"},
			hdrs: func(v string) []string {
				return []string{strings.Replace("Authorization: "+v, `realm="example.com"`, `realm="other"`, 1), "Authorization: " + v}
			},
			want: auth.OK},
		{name: "response not hex", client: client{user: "alice", pass: "wonderland"},
			edit: func(v string) string { return replaceParam(v, "response", strings.Repeat("z", 64)) },
			want: auth.Error, wantErr: auth.ErrMalformed},
		{name: "response of the wrong length", client: client{user: "alice", pass: "wonderland"},
			edit: func(v string) string { return replaceParam(v, "response", "0123") },
			want: auth.Error, wantErr: auth.ErrMalformed},
		{name: "expired nonce", client: client{user: "alice", pass: "wonderland"}, advance: 31 * time.Second,
			want: auth.StaleNonce},
		{name: "expired nonce and a wrong password", client: client{user: "alice", pass: "x"}, advance: 31 * time.Second,
			want: auth.InvalidPassword},
		{name: "expired nonce and an unknown user", client: client{user: "mallory", pass: "x"}, advance: time.Hour,
			want: auth.UserUnknown},
		{name: "nonce from the future beyond the drift", client: client{user: "alice", pass: "wonderland"},
			advance: -4 * time.Second, want: auth.StaleNonce},
		{name: "nonce from the future within the drift", client: client{user: "alice", pass: "wonderland"},
			advance: -2 * time.Second, want: auth.OK},
		{name: "nonce issued for another realm", client: client{user: "alice", pass: "wonderland"},
			// alice is in both realms here: only the nonce is wrong.
			realm: "example.org", edit: func(v string) string { return strings.Replace(v, `realm="example.org"`, `realm="example.com"`, 1) },
			want: auth.Error, wantErr: auth.ErrMalformed},
		{name: "nonce signed with another secret", client: client{user: "alice", pass: "wonderland"},
			edit: func(v string) string {
				other, _ := newAuth(t, func(a *auth.Auth) { a.Secret = "another-secret-of-16" })
				return replaceParam(v, "nonce", challengeOf(t, other, "example.com", 0)["SHA-256"]["nonce"])
			},
			want: auth.Error, wantErr: auth.ErrMalformed},
		{name: "nonce not ours", client: client{user: "alice", pass: "wonderland"},
			edit: func(v string) string { return replaceParam(v, "nonce", "dcd98b7102dd2f0e8b11d0f600bfb0c093") },
			want: auth.Error, wantErr: auth.ErrMalformed},
		{name: "algorithm not configured", configure: func(a *auth.Auth) { a.Algorithms = []string{"SHA-256"} },
			client: client{user: "alice", pass: "wonderland"},
			edit:   func(v string) string { return strings.Replace(v, "algorithm=SHA-256", "algorithm=MD5", 1) },
			want:   auth.Error, wantErr: auth.ErrMalformed},
		{name: "unknown algorithm", client: client{user: "alice", pass: "wonderland"},
			edit: func(v string) string { return strings.Replace(v, "algorithm=SHA-256", "algorithm=SHA-1", 1) },
			want: auth.Error, wantErr: auth.ErrMalformed},
		{name: "no algorithm means MD5", configure: func(a *auth.Auth) { a.Algorithms = []string{"SHA-256"} },
			client: client{user: "alice", pass: "wonderland"},
			edit:   func(v string) string { return strings.Replace(v, ", algorithm=SHA-256", "", 1) },
			want:   auth.Error, wantErr: auth.ErrMalformed},
		{name: "RFC 2069 refused by default", client: client{user: "alice", pass: "wonderland", qop: "none"},
			want: auth.Error, wantErr: auth.ErrMalformed},
		{name: "RFC 2069 when enabled", configure: func(a *auth.Auth) { a.RFC2069 = true },
			client: client{user: "alice", pass: "wonderland", qop: "none"}, want: auth.OK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, clk := newAuth(t, tc.configure)
			realm := tc.realm
			if realm == "" {
				realm = "example.com"
			}
			src := users{"alice@example.com": "wonderland", "alice@example.org": "wonderland", "dave@example.org": "wonderland"}
			chal := challengeOf(t, a, realm, 0)["SHA-256"]
			if chal == nil {
				chal = challengeOf(t, a, realm, 0)["MD5"]
			}
			clk.Advance(tc.advance)
			c := tc.client
			v := c.authorization(chal, "REGISTER", nil)
			if tc.edit != nil {
				v = tc.edit(v)
			}
			hdrs := []string{"Authorization: " + v}
			if tc.hdrs != nil {
				hdrs = tc.hdrs(v)
			}
			m, _ := register(t, hdrs...)
			res, err := a.Authenticate(ctx, m, "example.com", auth.WWW, "", src)
			if res != tc.want {
				t.Fatalf("result %d (%v), want %d", res, err, tc.want)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if _, ok := auth.Authenticated(m); ok != (res == auth.OK) {
				t.Fatalf("identity set: %v after result %d", ok, res)
			}
		})
	}
}

// replaceParam replaces the value of a quoted parameter.
func replaceParam(v, name, value string) string {
	i := strings.Index(v, name+`="`)
	j := strings.IndexByte(v[i+len(name)+2:], '"')
	return v[:i] + name + `="` + value + v[i+len(name)+2+j:]
}

// TestReplay: resending the same credentials, a lower nonce count, and
// the challenges that follow.
func TestReplay(t *testing.T) {
	a, _ := newAuth(t, nil)
	chal := challengeOf(t, a, "example.com", 0)["SHA-256"]
	c := &client{user: "alice", pass: "wonderland"}
	n := 0
	check := func(v string) (auth.Result, *core.Msg) {
		n++
		m, _ := registerAgain(t, n, "Authorization: "+v)
		res, _ := a.Authenticate(ctx, m, "example.com", auth.WWW, "", alice)
		return res, m
	}
	first := c.authorization(chal, "REGISTER", nil) // nc=1
	if res, _ := check(first); res != auth.OK {
		t.Fatalf("first use: %d", res)
	}
	res, m := check(first)
	if res != auth.NonceReused {
		t.Fatalf("resent credentials: %d, want %d", res, auth.NonceReused)
	}
	// The challenge after a reuse says stale=true: the client knows the
	// password and retries without asking its user.
	assertStale(t, a, m, true)

	c.nc = 4
	if res, _ := check(c.authorization(chal, "REGISTER", nil)); res != auth.OK { // nc=5
		t.Fatalf("nc 5: %d", res)
	}
	c.nc = 2
	if res, _ := check(c.authorization(chal, "REGISTER", nil)); res != auth.NonceReused { // nc=3
		t.Fatalf("decreasing nc: %d, want %d", res, auth.NonceReused)
	}
	c.nc = 5
	if res, _ := check(c.authorization(chal, "REGISTER", nil)); res != auth.OK { // nc=6
		t.Fatalf("nc 6: %d", res)
	}
	// Another nonce starts its own count.
	chal2 := challengeOf(t, a, "example.com", 0)["SHA-256"]
	c.nc = 0
	if res, _ := check(c.authorization(chal2, "REGISTER", nil)); res != auth.OK {
		t.Fatalf("second nonce, nc 1: %d", res)
	}
}

func TestExpiredNonceChallengesStale(t *testing.T) {
	a, clk := newAuth(t, func(a *auth.Auth) { a.NonceExpires = core.Duration(10 * time.Second) })
	chal := challengeOf(t, a, "example.com", 0)["SHA-256"]
	clk.Advance(11 * time.Second)
	c := &client{user: "alice", pass: "wonderland"}
	m, rec := register(t, "Authorization: "+c.authorization(chal, "REGISTER", nil))
	if res, _ := a.Authenticate(ctx, m, "example.com", auth.WWW, "", alice); res != auth.StaleNonce {
		t.Fatalf("result %d, want %d", res, auth.StaleNonce)
	}
	if rc, err := a.Challenge(m, "example.com", 0, auth.WWW); rc != 1 {
		t.Fatalf("challenge %d %v", rc, err)
	}
	fresh := challenges(t, rec.Final())["SHA-256"]
	if fresh["stale"] != "true" || fresh["nonce"] == chal["nonce"] {
		t.Fatalf("challenge after an expired nonce: %v", fresh)
	}
	// The fresh nonce works at once.
	c.nc = 0
	m2, _ := register(t, "Authorization: "+c.authorization(fresh, "REGISTER", nil))
	if res, _ := a.Authenticate(ctx, m2, "example.com", auth.WWW, "", alice); res != auth.OK {
		t.Fatalf("fresh nonce: %d", res)
	}
	// A wrong password with an expired nonce is not stale.
	clk.Advance(11 * time.Second)
	bad := &client{user: "alice", pass: "nope"}
	m3, _ := register(t, "Authorization: "+bad.authorization(fresh, "REGISTER", nil))
	if res, _ := a.Authenticate(ctx, m3, "example.com", auth.WWW, "", alice); res != auth.InvalidPassword {
		t.Fatalf("wrong password, expired nonce: %d", res)
	}
	assertStale(t, a, m3, false)
}

func assertStale(t *testing.T, a *auth.Auth, m *core.Msg, want bool) {
	t.Helper()
	hdrs, err := a.ChallengeHeaders(m, "example.com", 0, auth.WWW)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hdrs {
		if got := strings.Contains(h.Value(), "stale=true"); got != want {
			t.Fatalf("stale %v in %q, want %v", got, h.Value(), want)
		}
	}
}

func TestOneTimeNonce(t *testing.T) {
	a, _ := newAuth(t, func(a *auth.Auth) { a.OneTimeNonce = true })
	chal := challengeOf(t, a, "example.com", 0)["SHA-256"]
	c := &client{user: "alice", pass: "wonderland"}
	for i, want := range []auth.Result{auth.OK, auth.NonceReused, auth.NonceReused} {
		m, _ := register(t, "Authorization: "+c.authorization(chal, "REGISTER", nil))
		if res, _ := a.Authenticate(ctx, m, "example.com", auth.WWW, "", alice); res != want {
			t.Fatalf("use %d (nc %d): %d, want %d", i+1, c.nc, res, want)
		}
	}
}

// TestRetransmission: the request a fresh nonce authenticated, sent again
// as it was (a retransmission: same source, Via branch, Call-ID, CSeq), is
// authenticated again, as a transaction layer would have answered it with
// the response it sent; once Timer F's 32 s have passed since the nonce
// was issued it is a replay. A reused one-time nonce is also accepted for
// its retransmission only.
func TestRetransmission(t *testing.T) {
	for _, oneTime := range []bool{false, true} {
		a, clk := newAuth(t, func(a *auth.Auth) { a.OneTimeNonce, a.NonceExpires = oneTime, core.Duration(time.Minute) })
		chal := challengeOf(t, a, "example.com", 0)["SHA-256"]
		c := &client{user: "alice", pass: "wonderland"}
		v := c.authorization(chal, "REGISTER", nil)
		for i, want := range []auth.Result{auth.OK, auth.OK, auth.OK} {
			m, _ := register(t, "Authorization: "+v)
			if res, _ := a.Authenticate(ctx, m, "example.com", auth.WWW, "", alice); res != want {
				t.Fatalf("one-time %v, send %d: %d, want %d", oneTime, i+1, res, want)
			}
		}
		// The same credentials in another request are a replay.
		m, _ := registerAgain(t, 1, "Authorization: "+v)
		if res, _ := a.Authenticate(ctx, m, "example.com", auth.WWW, "", alice); res != auth.NonceReused {
			t.Fatalf("one-time %v, other request: %d, want %d", oneTime, res, auth.NonceReused)
		}
		// From another source, the same request is a replay too.
		m, _ = register(t, "Authorization: "+v)
		m.Req.SetSource("198.51.100.9:5060")
		if res, _ := a.Authenticate(ctx, m, "example.com", auth.WWW, "", alice); res != auth.NonceReused {
			t.Fatalf("one-time %v, other source: %d, want %d", oneTime, res, auth.NonceReused)
		}
		clk.Advance(33 * time.Second)
		m, _ = register(t, "Authorization: "+v)
		if res, _ := a.Authenticate(ctx, m, "example.com", auth.WWW, "", alice); res != auth.NonceReused {
			t.Fatalf("one-time %v, 33 s later: %d, want %d", oneTime, res, auth.NonceReused)
		}
	}
}

// TestRFC2069OneTime: credentials without a nonce count are accepted once.
func TestRFC2069OneTime(t *testing.T) {
	a, _ := newAuth(t, func(a *auth.Auth) { a.RFC2069 = true; a.QOP = "" })
	chal := challengeOf(t, a, "example.com", 0)["MD5"]
	if _, ok := chal["qop"]; ok {
		t.Fatalf("qop offered: %v", chal)
	}
	c := &client{user: "alice", pass: "wonderland"}
	v := c.authorization(chal, "REGISTER", nil)
	for i, want := range []auth.Result{auth.OK, auth.NonceReused} {
		m, _ := registerAgain(t, i, "Authorization: "+v)
		if res, _ := a.Authenticate(ctx, m, "example.com", auth.WWW, "", alice); res != want {
			t.Fatalf("use %d: %d, want %d", i+1, res, want)
		}
	}
}

// TestReplayTableFull: with a tiny table, a burst of authentications
// pushes nonces out; a pushed-out nonce is re-challenged as stale, never
// accepted again with a count already used.
func TestReplayTableFull(t *testing.T) {
	a, clk := newAuth(t, func(a *auth.Auth) { a.NCArraySize = 8 })
	type used struct {
		chal challenge
		c    *client
	}
	var all []used
	for i := 0; i < 40; i++ {
		chal := challengeOf(t, a, "example.com", 0)["SHA-256"]
		clk.Advance(time.Millisecond)
		c := &client{user: "alice", pass: "wonderland"}
		m, _ := register(t, "Authorization: "+c.authorization(chal, "REGISTER", nil))
		if res, _ := a.Authenticate(ctx, m, "example.com", auth.WWW, "", alice); res != auth.OK {
			t.Fatalf("nonce %d: %d", i, res)
		}
		all = append(all, used{chal, c})
	}
	stale := 0
	for i, u := range all {
		u.c.nc = 0 // resend nc=1
		m, _ := registerAgain(t, i, "Authorization: "+u.c.authorization(u.chal, "REGISTER", nil))
		switch res, _ := a.Authenticate(ctx, m, "example.com", auth.WWW, "", alice); res {
		case auth.NonceReused:
		case auth.StaleNonce:
			stale++
		default:
			t.Fatalf("replay of nonce %d: %d", i, res)
		}
	}
	if stale < 40-8 {
		t.Fatalf("%d replays refused as stale, want at least %d (pushed out of an 8-entry table)", stale, 32)
	}
}

func TestAuthenticateUnchallengeable(t *testing.T) {
	a, _ := newAuth(t, nil)
	for _, method := range []string{"ACK", "CANCEL", "PRACK"} {
		m, rec := request(t, method, "")
		if res, _ := a.Authenticate(ctx, m, "example.com", auth.Proxy, "", alice); res != auth.OK {
			t.Errorf("%s: %d", method, res)
		}
		if _, ok := auth.Authenticated(m); ok {
			t.Errorf("%s: identity set", method)
		}
		if rc, _ := a.Challenge(m, "example.com", 0, auth.Proxy); rc != 1 || len(rec.Replies) != 0 {
			t.Errorf("%s: challenge %d with %d replies", method, rc, len(rec.Replies))
		}
	}
}

func TestChallenge(t *testing.T) {
	cases := []struct {
		name      string
		configure func(*auth.Auth)
		method    string
		flags     int
		kind      func(*sip.Request) auth.Kind
		realm     string
		code      int
		header    string
		algs      []string // in order
		qop       string
		stale     bool
	}{
		{name: "REGISTER gets 401", method: "REGISTER", kind: auth.KindOf, code: 401, header: "WWW-Authenticate",
			algs: []string{"SHA-256", "MD5"}, qop: "auth"},
		{name: "INVITE gets 407", method: "INVITE", kind: auth.KindOf, code: 407, header: "Proxy-Authenticate",
			algs: []string{"SHA-256", "MD5"}, qop: "auth"},
		{name: "www_challenge on an INVITE", method: "INVITE", kind: func(*sip.Request) auth.Kind { return auth.WWW },
			code: 401, header: "WWW-Authenticate", algs: []string{"SHA-256", "MD5"}, qop: "auth"},
		{name: "strongest first whatever the configured order",
			configure: func(a *auth.Auth) { a.Algorithms = []string{"MD5", "SHA-256-sess", "SHA-512-256", "SHA-256"} },
			method:    "REGISTER", kind: auth.KindOf, code: 401, header: "WWW-Authenticate",
			algs: []string{"SHA-512-256", "SHA-256", "SHA-256-sess", "MD5"}, qop: "auth"},
		{name: "flag 2: auth-int", method: "REGISTER", flags: 2, kind: auth.KindOf, code: 401, header: "WWW-Authenticate",
			algs: []string{"SHA-256", "MD5"}, qop: "auth-int"},
		{name: "flags 3: both", method: "REGISTER", flags: 3, kind: auth.KindOf, code: 401, header: "WWW-Authenticate",
			algs: []string{"SHA-256", "MD5"}, qop: "auth,auth-int"},
		{name: "flag 16: stale", method: "REGISTER", flags: 16, kind: auth.KindOf, code: 401, header: "WWW-Authenticate",
			algs: []string{"SHA-256", "MD5"}, qop: "auth", stale: true},
		{name: "realm with a quote", method: "REGISTER", kind: auth.KindOf, realm: `a"b\c`, code: 401,
			header: "WWW-Authenticate", algs: []string{"SHA-256", "MD5"}, qop: "auth"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := newAuth(t, func(a *auth.Auth) {
				a.Algorithms = []string{"SHA-256", "MD5"} // both challenges, strongest first
				if tc.configure != nil {
					tc.configure(a)
				}
			})
			realm := tc.realm
			if realm == "" {
				realm = "example.com"
			}
			m, rec := request(t, tc.method, "")
			if tc.method == "REGISTER" {
				m, rec = register(t)
			}
			if rc, err := a.Challenge(m, realm, tc.flags, tc.kind(m.Req)); rc != 1 || err != nil {
				t.Fatalf("challenge %d, %v", rc, err)
			}
			res := rec.Final()
			if res.StatusCode != tc.code || res.Reason != core.ReasonPhrase(tc.code) {
				t.Fatalf("reply %d %s, want %d", res.StatusCode, res.Reason, tc.code)
			}
			hs := res.GetHeaders(tc.header)
			if len(hs) != len(tc.algs) {
				t.Fatalf("%d %s headers, want %d:\n%s", len(hs), tc.header, len(tc.algs), res)
			}
			nonce := ""
			for i, h := range hs {
				c := parseChallenge(t, h.Value())
				if c["algorithm"] != tc.algs[i] || c["qop"] != tc.qop || (c["stale"] == "true") != tc.stale {
					t.Errorf("challenge %d: %s", i, h.Value())
				}
				if c["realm"] != strings.NewReplacer(`"`, `\"`, `\`, `\\`).Replace(realm) {
					t.Errorf("realm %q", c["realm"])
				}
				if nonce == "" {
					nonce = c["nonce"]
				} else if c["nonce"] != nonce {
					t.Errorf("challenges carry different nonces")
				}
			}
		})
	}
}

func TestChallengeErrors(t *testing.T) {
	a, _ := newAuth(t, nil)
	for _, realm := range []string{"", "a\r\nX-Injected: 1", strings.Repeat("r", 1025)} {
		m, rec := register(t)
		if rc, _ := a.Challenge(m, realm, 0, auth.WWW); rc != -2 || rec.Code() != 500 {
			t.Errorf("realm %.20q: rc %d reply %d, want -2 and 500", realm, rc, rec.Code())
		}
		m, rec = register(t)
		if rc, _ := a.Challenge(m, realm, auth.FlagNoReply500, auth.WWW); rc != -2 || len(rec.Replies) != 0 {
			t.Errorf("realm %.20q with flag 4: rc %d, %d replies", realm, rc, len(rec.Replies))
		}
	}
	m, _ := register(t)
	_ = m.Reply(200, "OK")
	if rc, _ := a.Challenge(m, "example.com", 0, auth.WWW); rc != -3 {
		t.Errorf("challenge after a final reply: %d, want -3", rc)
	}
}

func TestSetAlgorithm(t *testing.T) {
	a, _ := newAuth(t, func(a *auth.Auth) { a.Algorithms = auth.DefaultAlgorithms })
	m, rec := register(t)
	if err := a.SetAlgorithm(m, "md5"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetAlgorithm(m, "SHA-1"); err == nil {
		t.Fatal("SHA-1 accepted")
	}
	_, _ = a.Challenge(m, "example.com", 0, auth.WWW)
	cs := challenges(t, rec.Final())
	if len(cs) != 1 || cs["MD5"] == nil {
		t.Fatalf("challenges %v, want MD5 only", cs)
	}
	// The choice also limits what is accepted on this request.
	chal := challengeOf(t, a, "example.com", 0)["SHA-256"]
	c := &client{user: "alice", pass: "wonderland"}
	m2, _ := register(t, "Authorization: "+c.authorization(chal, "REGISTER", nil))
	_ = a.SetAlgorithm(m2, "MD5")
	if res, _ := a.Authenticate(ctx, m2, "example.com", auth.WWW, "", alice); res != auth.Error {
		t.Fatalf("SHA-256 credentials after auth_algorithm(MD5): %d", res)
	}
}

func TestCheckIdentity(t *testing.T) {
	a, _ := newAuth(t, nil)
	src := users{"alice@example.com": "wonderland", "bob@example.com": "builder"}
	cases := []struct {
		name          string
		user, pass    string
		from, to      string
		method        string
		skipForwarded bool
		useDomain     bool
		want          auth.Result
	}{
		{"REGISTER, own AoR", "alice", "wonderland", "sip:alice@example.com", "sip:alice@example.com", "REGISTER", false, false, auth.OK},
		{"REGISTER for another AoR", "bob", "builder", "sip:alice@example.com", "sip:alice@example.com", "REGISTER", false, false, auth.UserMismatch},
		{"REGISTER, From differs from To", "alice", "wonderland", "sip:bob@example.com", "sip:alice@example.com", "REGISTER", false, false, auth.UserMismatch},
		{"REGISTER, hosts differ, use_domain", "alice", "wonderland", "sip:alice@example.org", "sip:alice@example.com", "REGISTER", false, true, auth.UserMismatch},
		{"REGISTER, hosts differ", "alice", "wonderland", "sip:alice@example.org", "sip:alice@example.com", "REGISTER", false, false, auth.OK},
		{"MESSAGE from another user", "bob", "builder", "sip:alice@example.com", "sip:carol@example.com", "MESSAGE", false, false, auth.UserMismatch},
		{"MESSAGE, skip flag", "bob", "builder", "sip:alice@example.com", "sip:carol@example.com", "MESSAGE", true, false, auth.OK},
		{"SUBSCRIBE, skip flag does not apply", "bob", "builder", "sip:alice@example.com", "sip:carol@example.com", "SUBSCRIBE", true, false, auth.UserMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			chal := challengeOf(t, a, "example.com", 0)["SHA-256"]
			c := &client{user: tc.user, pass: tc.pass}
			k := auth.Proxy
			hdr := "Proxy-Authorization: "
			if tc.method == "REGISTER" {
				k, hdr = auth.WWW, "Authorization: "
			}
			raw := strings.NewReplacer("sip:alice@example.com>;tag=a1", tc.from+">;tag=a1", "To: <sip:bob@example.com>", "To: <"+tc.to+">").
				Replace(rawRequest(tc.method, hdr+c.authorization(chal, tc.method, nil)))
			m, _ := coretestMsg(t, raw)
			if res, err := a.Authenticate(ctx, m, "example.com", k, "", src); res != auth.OK {
				t.Fatalf("authenticate: %d %v", res, err)
			}
			if got := auth.CheckIdentity(m, tc.skipForwarded, tc.useDomain); got != tc.want {
				t.Fatalf("CheckIdentity %d, want %d", got, tc.want)
			}
		})
	}
}

func TestConsumeAndHasCredentials(t *testing.T) {
	a, _ := newAuth(t, nil)
	chal := challengeOf(t, a, "example.com", 0)["SHA-256"]
	c := &client{user: "alice", pass: "wonderland"}
	other := `Authorization: Digest username="alice", realm="other", nonce="n", uri="sip:x", response="00"`
	m, _ := register(t, other, "Authorization: "+c.authorization(chal, "REGISTER", nil), "X-After: 1")
	if !auth.HasCredentials(m, "example.com") || !auth.HasCredentials(m, "other") || auth.HasCredentials(m, "nowhere") {
		t.Fatal("has_credentials")
	}
	if err := auth.ConsumeCredentials(m); err == nil {
		t.Fatal("consumed before authenticating")
	}
	if res, _ := a.Authenticate(ctx, m, "example.com", auth.WWW, "", alice); res != auth.OK {
		t.Fatalf("authenticate %d", res)
	}
	if err := auth.ConsumeCredentials(m); err != nil {
		t.Fatal(err)
	}
	hs := m.Req.GetHeaders("Authorization")
	if len(hs) != 1 || !strings.Contains(hs[0].Value(), `realm="other"`) {
		t.Fatalf("after consume_credentials: %v", hs)
	}
	if !strings.Contains(m.Req.String(), "X-After: 1") {
		t.Fatal("other headers lost")
	}
	if auth.HasCredentials(m, "example.com") {
		t.Fatal("consumed credentials still found")
	}
	if err := auth.ConsumeCredentials(m); err == nil {
		t.Fatal("consumed twice")
	}
}

func TestPVAuthenticate(t *testing.T) {
	a, _ := newAuth(t, nil)
	ha1 := auth.HA1(auth.SHA256, "alice", "example.com", "wonderland")
	cases := []struct {
		name     string
		password string
		flags    int
		checks   int
		want     auth.Result
		replyHdr string // a challenge header added to the reply headers
	}{
		{"password", "wonderland", 0, 0, auth.OK, ""},
		{"HA1", ha1, auth.FlagPasswordHA1, 0, auth.OK, ""},
		{"upper-case HA1", strings.ToUpper(ha1), auth.FlagPasswordHA1, 0, auth.OK, ""},
		{"wrong password", "x", 0, 0, auth.InvalidPassword, ""},
		{"an MD5 HA1 for SHA-256 credentials", auth.HA1(auth.MD5, "alice", "example.com", "wonderland"), auth.FlagPasswordHA1, 0, auth.Error, ""},
		{"wrong password, challenge added", "x", auth.FlagChallengeAuth | auth.FlagChallengeStale, 0, auth.InvalidPassword, `qop="auth", algorithm=SHA-256, stale=true`},
		{"checks, own AoR", "wonderland", 0, 1, auth.OK, ""},
		{"empty password", "", 0, 0, auth.Error, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			chal := challengeOf(t, a, "example.com", 0)["SHA-256"]
			c := &client{user: "alice", pass: "wonderland"}
			m, _ := register(t, "Authorization: "+c.authorization(chal, "REGISTER", nil))
			var res auth.Result
			if tc.checks != 0 {
				res, _ = a.PVAuthCheck(ctx, m, "example.com", tc.password, tc.flags, tc.checks)
			} else {
				res, _ = a.PVAuthenticate(ctx, m, "example.com", tc.password, tc.flags, auth.WWW, "")
			}
			if res != tc.want {
				t.Fatalf("result %d, want %d", res, tc.want)
			}
			got := ""
			for _, h := range m.ReplyHeaders {
				if h.Name() == "WWW-Authenticate" && strings.Contains(h.Value(), tc.replyHdr) && tc.replyHdr != "" {
					got = tc.replyHdr
				}
			}
			if got != tc.replyHdr || tc.replyHdr == "" && len(m.ReplyHeaders) != 0 {
				t.Fatalf("reply headers %v, want one containing %q", m.ReplyHeaders, tc.replyHdr)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name      string
		configure func(*auth.Auth)
		want      string
	}{
		{"defaults", nil, ""},
		{"unknown algorithm", func(a *auth.Auth) { a.Algorithms = []string{"SHA-1"} }, "unknown algorithm"},
		{"no algorithm", func(a *auth.Auth) { a.Algorithms = nil }, "empty"},
		{"duplicate algorithm", func(a *auth.Auth) { a.Algorithms = []string{"MD5", "md5"} }, "twice"},
		{"short secret", func(a *auth.Auth) { a.Secret = "short" }, "16 bytes"},
		{"bad qop", func(a *auth.Auth) { a.QOP = "auth-conf" }, "qop"},
		{"no qop without rfc2069", func(a *auth.Auth) { a.QOP = "" }, "rfc2069"},
		{"no qop with rfc2069", func(a *auth.Auth) { a.QOP = ""; a.RFC2069 = true }, ""},
		{"zero expiry", func(a *auth.Auth) { a.NonceExpires = 0 }, "nonce_expires"},
		{"tiny table", func(a *auth.Auth) { a.NCArraySize = 1 }, "nc_array_size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := auth.New()
			if tc.configure != nil {
				tc.configure(a)
			}
			err := a.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
