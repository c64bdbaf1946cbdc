package auth_test

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/auth"
)

const secret = "0123456789abcdef-test-secret"

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newAuth returns a provisioned module with a fixed secret and clock.
func newAuth(t testing.TB, configure func(*auth.Auth)) (*auth.Auth, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	a, err := auth.NewReady(slog.New(slog.DiscardHandler), func(a *auth.Auth) {
		a.Secret = secret
		a.Algorithms = []string{"MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess"}
		if configure != nil {
			configure(a)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	a.SetClock(clk.Now)
	return a, clk
}

// users is an HA1Source over plain passwords, keyed "user@realm".
type users map[string]string

func (u users) HA1(_ context.Context, username, realm string, hash auth.Algorithm) (string, bool, error) {
	p, ok := u[username+"@"+realm]
	if !ok {
		return "", false, nil
	}
	return auth.HA1(hash, username, realm, p), true, nil
}

var alice = users{"alice@example.com": "wonderland", "bob@example.com": "builder"}

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
		if _, dup := c[m[1]]; dup {
			t.Fatalf("challenge %q repeats %s", v, m[1])
		}
		c[m[1]] = m[2] + m[3]
	}
	return c
}

// client answers challenges as a phone would.
type client struct {
	user, pass string
	realm      string // overrides the challenge's realm in the credentials
	qop        string // "" to use the first offered; "none" for RFC 2069
	nc         int
	cnonce     string
	uri        string
	extra      string // appended to the credentials
}

// authorization builds the credentials for chal (its nonce and
// algorithm) for a request with method and body.
func (c *client) authorization(chal challenge, method string, body []byte) string {
	alg, _ := auth.ParseAlgorithm(chal["algorithm"])
	if alg == 0 {
		alg = auth.MD5
	}
	realm := chal["realm"]
	qop := c.qop
	if qop == "" {
		qop, _, _ = strings.Cut(chal["qop"], ",")
	}
	if qop == "none" {
		qop = ""
	}
	c.nc++
	nc := fmt.Sprintf("%08x", c.nc)
	cnonce := c.cnonce
	if cnonce == "" {
		cnonce = "0a4f113b"
	}
	uri := c.uri
	if uri == "" {
		uri = "sip:example.com"
	}
	resp := auth.Response(alg, auth.HA1(alg, c.user, realm, c.pass), chal["nonce"], nc, cnonce, qop, method, uri, body)
	if c.realm != "" {
		realm = c.realm
	}
	v := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s`,
		c.user, realm, chal["nonce"], uri, resp, alg)
	if qop != "" {
		v += fmt.Sprintf(`, qop=%s, nc=%s, cnonce="%s"`, qop, nc, cnonce)
	}
	return v + c.extra
}

// register is a REGISTER for alice with the given extra header lines.
func register(t testing.TB, extra ...string) (*core.Msg, *coretest.Recorder) {
	t.Helper()
	raw := coretest.Register
	for _, h := range extra {
		raw = strings.Replace(raw, "Content-Length: 0", h+"\nContent-Length: 0", 1)
	}
	return coretest.Msg(t, raw)
}

// registerAgain is register as a new request (another Via branch and
// CSeq): what a client sends when it reuses credentials, where register
// twice is one request retransmitted.
func registerAgain(t testing.TB, n int, extra ...string) (*core.Msg, *coretest.Recorder) {
	t.Helper()
	raw := strings.Replace(coretest.Register, "branch=z9hG4bK-test-1", fmt.Sprintf("branch=z9hG4bK-again-%d", n), 1)
	for _, h := range extra {
		raw = strings.Replace(raw, "Content-Length: 0", h+"\nContent-Length: 0", 1)
	}
	return coretest.Msg(t, raw)
}

// request builds a request of any method from alice to bob.
func request(t testing.TB, method string, body string, extra ...string) (*core.Msg, *coretest.Recorder) {
	t.Helper()
	return coretest.Msg(t, rawRequestBody(method, body, extra...))
}

func rawRequest(method string, extra ...string) string { return rawRequestBody(method, "", extra...) }

func rawRequestBody(method, body string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:bob@example.com SIP/2.0\n", method)
	b.WriteString("Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-req-1\nMax-Forwards: 70\n")
	b.WriteString("From: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>\n")
	fmt.Fprintf(&b, "Call-ID: req-1@192.0.2.10\nCSeq: 1 %s\n", method)
	for _, h := range extra {
		b.WriteString(h + "\n")
	}
	if body != "" {
		b.WriteString("Content-Type: text/plain\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\n\n%s", len(body), body)
	return b.String()
}

func coretestMsg(t testing.TB, raw string) (*core.Msg, *coretest.Recorder) {
	t.Helper()
	return coretest.Msg(t, raw)
}

// challengeOf runs a challenge on a fresh REGISTER and returns the
// challenges of the 401, by algorithm.
func challengeOf(t testing.TB, a *auth.Auth, realm string, flags int) map[string]challenge {
	t.Helper()
	m, rec := register(t)
	if rc, err := a.Challenge(m, realm, flags, auth.WWW); rc != 1 || err != nil {
		t.Fatalf("challenge: %d, %v", rc, err)
	}
	return challenges(t, rec.Final())
}

func challenges(t testing.TB, res *sip.Response) map[string]challenge {
	t.Helper()
	out := map[string]challenge{}
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		c := parseChallenge(t, h.Value())
		out[c["algorithm"]] = c
	}
	for _, h := range res.GetHeaders("Proxy-Authenticate") {
		c := parseChallenge(t, h.Value())
		out[c["algorithm"]] = c
	}
	return out
}
