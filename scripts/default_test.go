// Package scripts holds the routing script locus ships; the test drives it
// end to end through the real engine and every compiled-in module.
package scripts

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icholy/digest"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/core/script"

	_ "github.com/locus-sip/locus/modules/auth"
	_ "github.com/locus-sip/locus/modules/auth_db"
	_ "github.com/locus-sip/locus/modules/hdr"
	_ "github.com/locus-sip/locus/modules/maxfwd"
	_ "github.com/locus-sip/locus/modules/pv"
	_ "github.com/locus-sip/locus/modules/registrar"
	_ "github.com/locus-sip/locus/modules/rr"
	_ "github.com/locus-sip/locus/modules/sanity"
	_ "github.com/locus-sip/locus/modules/siputils"
	_ "github.com/locus-sip/locus/modules/sl"
	_ "github.com/locus-sip/locus/modules/store/memstore"
	_ "github.com/locus-sip/locus/modules/tm"
	_ "github.com/locus-sip/locus/modules/usrloc"
)

type server struct {
	t    *testing.T
	eng  *core.Engine
	host *core.Host
}

func newServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	ha1 := md5.Sum([]byte("alice:example.com:wonderland"))
	users := filepath.Join(dir, "users.htdigest")
	if err := os.WriteFile(users, []byte("alice:example.com:"+hex.EncodeToString(ha1[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var cfg core.Config
	yml := `
store: "memory:"
modules:
  registrar: {domains: [example.com]}
  auth: {secret: "0123456789abcdef0123456789abcdef", algorithms: [MD5]}
  auth_db: {db_url: "file:` + users + `"}
`
	if err := core.ParseConfig([]byte(yml), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()
	log := slog.New(slog.DiscardHandler)
	host, err := core.LoadModules(context.Background(), &cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Cleanup() })
	exports := script.ExportsOf(host.Modules())
	rt, err := script.New(script.Options{File: "default.lua", Exports: exports, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	host.SetScript(rt)
	eng := core.NewEngine(rt, log, 0, "locus")
	eng.SetMetrics(core.NewMetrics(host.Metrics, eng))
	return &server{t: t, eng: eng, host: host}
}

func (s *server) send(raw string) *coretest.Recorder {
	s.t.Helper()
	m, rec := coretest.Msg(s.t, raw)
	s.eng.Process(m)
	return rec
}

const register = `REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-r%CSEQ%
Max-Forwards: 70
From: <sip:%USER%@example.com>;tag=a1
To: <sip:%USER%@example.com>
Call-ID: reg-1
CSeq: %CSEQ% REGISTER
Contact: <sip:%USER%@192.0.2.10:5060>
Expires: 600
Content-Length: 0
`

func reg(user, cseq string, extra ...string) string {
	r := strings.NewReplacer("%USER%", user, "%CSEQ%", cseq).Replace(register)
	for _, h := range extra {
		r = strings.Replace(r, "Content-Length: 0\n", h+"\nContent-Length: 0\n", 1)
	}
	return r + "\n"
}

func request(method, ruri string, extra ...string) string {
	r := method + " " + ruri + " SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bK-" + method +
		"\nMax-Forwards: 70\nFrom: <sip:bob@example.com>;tag=b1\nTo: <" + ruri + ">\nCall-ID: c-" + method +
		"\nCSeq: 1 " + method + "\n"
	for _, h := range extra {
		r += h + "\n"
	}
	return r + "Content-Length: 0\n\n"
}

// authorize answers the challenge in rec for user with password.
func authorize(t *testing.T, rec *coretest.Recorder, user, password string, count int) string {
	t.Helper()
	h := rec.Final().GetHeader("WWW-Authenticate")
	if h == nil {
		t.Fatalf("no challenge in %s", rec.Final().StartLine())
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: "sip:example.com",
		Username: user, Password: password, Count: count})
	if err != nil {
		t.Fatal(err)
	}
	return "Authorization: " + cred.String()
}

func TestDefaultScript(t *testing.T) {
	s := newServer(t)

	rec := s.send(reg("alice", "1"))
	if rec.Code() != 401 || rec.Final().GetHeader("WWW-Authenticate") == nil {
		t.Fatalf("REGISTER without credentials: %d", rec.Code())
	}
	wrong := s.send(reg("alice", "2", authorize(t, rec, "alice", "not-it", 1)))
	if wrong.Code() != 401 {
		t.Fatalf("wrong password: %d", wrong.Code())
	}
	ok := s.send(reg("alice", "3", authorize(t, rec, "alice", "wonderland", 2)))
	if ok.Code() != 200 {
		t.Fatalf("right password: %d %s", ok.Code(), ok.Final().Reason)
	}
	if c := ok.Final().GetHeader("Contact"); c == nil || !strings.Contains(c.Value(), "sip:alice@192.0.2.10:5060") {
		t.Fatalf("200 without the binding: %v", c)
	}
	if ok.Final().GetHeader("Date") == nil {
		t.Fatal("200 without Date")
	}
	// Credentials for alice do not register bob (flag 1).
	bobChal := s.send(reg("bob", "4"))
	if rec := s.send(reg("bob", "5", authorize(t, bobChal, "alice", "wonderland", 1))); rec.Code() != 403 {
		t.Fatalf("alice registering bob: %d", rec.Code())
	}

	cases := []struct {
		name, raw string
		code      int
		contact   string
	}{
		{"OPTIONS to the server", request("OPTIONS", "sip:example.com"), 200, ""},
		{"CANCEL without a transaction", request("CANCEL", "sip:alice@example.com"), 481, ""},
		{"BYE without a route set", strings.Replace(request("BYE", "sip:alice@example.com"), "To: <sip:alice@example.com>", "To: <sip:alice@example.com>;tag=t1", 1), 404, ""},
		{"MESSAGE to an unknown user", request("MESSAGE", "sip:carol@example.com"), 404, ""},
		{"Max-Forwards 0", strings.Replace(request("OPTIONS", "sip:alice@example.com"), "Max-Forwards: 70", "Max-Forwards: 0", 1), 483, ""},
		{"unsupported Proxy-Require", request("OPTIONS", "sip:alice@example.com", "Proxy-Require: foo"), 420, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := s.send(tc.raw)
			if rec.Code() != tc.code {
				t.Fatalf("got %d %v", rec.Code(), rec.Final())
			}
			if tc.contact != "" {
				if c := rec.Final().GetHeader("Contact"); c == nil || c.Value() != tc.contact {
					t.Fatalf("Contact = %v", c)
				}
			}
		})
	}
	if rec := s.send(request("ACK", "sip:alice@example.com")); len(rec.Replies) != 0 {
		t.Fatalf("ACK answered: %v", rec.Replies)
	}

	// What happened shows in the metrics.
	got := map[string]float64{}
	mfs, err := s.host.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				got[key] = c.GetValue()
			}
		}
	}
	for key, want := range map[string]float64{
		"locus_core_requests_total code=401 method=REGISTER":          3,
		"locus_core_requests_total code=200 method=REGISTER":          1,
		"locus_core_requests_total code=403 method=REGISTER":          1,
		"locus_core_requests_total code=404 method=BYE":               1,
		"locus_core_requests_total code=0 method=ACK":                 1,
		"locus_registrar_registrations_total reason= result=inserted": 1,
		"locus_registrar_lookups_total result=not_found":              1,
		"locus_auth_results_total result=ok":                          2,
		"locus_auth_results_total result=wrong_password":              1,
		"locus_auth_challenges_total":                                 3,
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v", key, got[key], want)
		}
	}
}
