package authdb_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/core/script"
	"github.com/locus-sip/locus/modules/auth"
	authdb "github.com/locus-sip/locus/modules/auth_db"
	"github.com/locus-sip/locus/modules/sl"
	lua "github.com/yuin/gopher-lua"
)

const testSecret = "0123456789abcdef-test-secret"

// env is auth and auth_db over a credentials file, driven through the
// real engine and a Lua script.
type env struct {
	t    *testing.T
	auth *auth.Auth
	db   *authdb.AuthDB
	file *authdb.File
	path string
	now  time.Time
	eng  *core.Engine
}

// credentials of the test users, all in realm example.com.
var testUsers = map[string]string{"alice": "wonderland", "bob": "builder"}

func newEnv(t *testing.T, route string, configure func(*auth.Auth)) *env {
	t.Helper()
	e := &env{t: t, now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	e.path = filepath.Join(t.TempDir(), "users.htdigest")
	var content strings.Builder
	for u, p := range testUsers {
		content.WriteString(lines(u, "example.com", p, auth.SHA256, auth.MD5))
	}
	if err := os.WriteFile(e.path, []byte(content.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	e.auth, err = auth.NewReady(slog.New(slog.DiscardHandler), func(a *auth.Auth) {
		a.Secret = testSecret
		a.Algorithms = []string{"SHA-256", "MD5"}
		if configure != nil {
			configure(a)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	e.auth.SetClock(func() time.Time { return e.now })
	if e.file, err = authdb.OpenFile(e.path, nil); err != nil {
		t.Fatal(err)
	}
	e.db = authdb.NewWithSource(e.auth, e.file, nil)
	rt := coretest.Runtime(t, route, coretest.Export("auth", e.auth), coretest.Export("auth_db", e.db),
		coretest.Export("sl", &sl.SL{}), testExports(e.auth))
	e.eng = core.NewEngine(rt, slog.New(slog.DiscardHandler), 0, "")
	return e
}

// testExports gives scripts $au and $ar without the pv module: KSR.t.au().
func testExports(a *auth.Auth) script.Export {
	pv := a.PVClasses()
	get := func(name string) core.LuaFunc {
		return core.LuaFunc{Name: name, Fn: func(env *core.Env, L *lua.LState) int {
			v, _ := pv[name](core.CheckMsg(env, L), "", 0).(string)
			L.Push(lua.LString(v))
			return 1
		}}
	}
	return script.Export{Name: "t", Funcs: []core.LuaFunc{get("au"), get("ar")}}
}

// send routes raw and returns its final reply.
func (e *env) send(raw string) *sip.Response {
	e.t.Helper()
	m, rec := coretest.Msg(e.t, raw)
	e.eng.Process(m)
	f := rec.Final()
	if f == nil {
		e.t.Fatalf("no final reply to:\n%s", raw)
	}
	return f
}

// req describes a request to build.
type req struct {
	method   string // REGISTER when ""
	from, to string // users; alice when ""
	auth     string // credentials header value
	hdr      string // its header; by method when ""
	cseq     int
}

func (r req) String() string {
	method := r.method
	if method == "" {
		method = "REGISTER"
	}
	from, to := r.from, r.to
	if from == "" {
		from = "alice"
	}
	if to == "" {
		to = from
	}
	ruri := "sip:example.com"
	if method != "REGISTER" {
		ruri = "sip:" + to + "@example.com"
	}
	cseq := r.cseq
	if cseq == 0 {
		cseq = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-%d\r\nMax-Forwards: 70\r\n", cseq)
	fmt.Fprintf(&b, "From: <sip:%s@example.com>;tag=f1\r\nTo: <sip:%s@example.com>\r\n", from, to)
	fmt.Fprintf(&b, "Call-ID: call-1@192.0.2.10\r\nCSeq: %d %s\r\n", cseq, method)
	if method == "REGISTER" {
		b.WriteString("Contact: <sip:" + from + "@192.0.2.10:5060>\r\n")
	}
	if r.auth != "" {
		h := r.hdr
		if h == "" {
			h = "Proxy-Authorization"
			if method == "REGISTER" {
				h = "Authorization"
			}
		}
		b.WriteString(h + ": " + r.auth + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// challenge is a parsed WWW-Authenticate or Proxy-Authenticate value.
type challenge map[string]string

var paramRe = regexp.MustCompile(`([a-zA-Z-]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))`)

func parseChallenge(t testing.TB, v string) challenge {
	t.Helper()
	rest, ok := strings.CutPrefix(v, "Digest ")
	if !ok {
		t.Fatalf("challenge %q is not Digest", v)
	}
	c := challenge{}
	for _, m := range paramRe.FindAllStringSubmatch(rest, -1) {
		c[m[1]] = m[2] + m[3]
	}
	return c
}

// firstChallenge returns the reply's first challenge (the strongest).
func firstChallenge(t testing.TB, res *sip.Response) challenge {
	t.Helper()
	for _, name := range []string{"WWW-Authenticate", "Proxy-Authenticate"} {
		if h := res.GetHeader(name); h != nil {
			return parseChallenge(t, h.Value())
		}
	}
	t.Fatalf("no challenge in:\n%s", res)
	return nil
}

// credentials answers chal for user with password and nonce count nc.
func credentials(chal challenge, user, password, method, uri string, nc int) string {
	alg, _ := auth.ParseAlgorithm(chal["algorithm"])
	ncs := fmt.Sprintf("%08x", nc)
	resp := auth.Response(alg, auth.HA1(alg, user, chal["realm"], password), chal["nonce"], ncs, "c0ffee", "auth", method, uri, nil)
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s, qop=auth, nc=%s, cnonce="c0ffee"`,
		user, chal["realm"], chal["nonce"], uri, resp, alg, ncs)
}
