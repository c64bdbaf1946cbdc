package ipacl_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/locus-sip/locus/internal/locustest"
)

func TestMain(m *testing.M) { locustest.Main(m) }

const msgReloaded = "permissions: address groups reloaded"

// TestAddressGroups follows the README: all test traffic comes from
// 127.0.0.1, so the test moves that address between the groups by
// rewriting address.list while locus runs, as an operator would.
func TestAddressGroups(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.htdigest")
	list := filepath.Join(dir, "address.list")
	locustest.Run(t, "wonderland\n", "users", "add", "--file", users, "--realm", "example.com", "alice")
	shipped, err := os.ReadFile("address.list")
	if err != nil {
		t.Fatal(err)
	}
	locustest.WriteFile(t, list, string(shipped))

	// The example's config, with the two files in the test's directory.
	cfg, err := os.ReadFile("locus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(cfg)
	for old, repl := range map[string]string{
		"file:examples/ip-acl/users.htdigest": "file:" + users,
		"file: examples/ip-acl/address.list":  "file: " + list,
	} {
		if strings.Count(conf, old) != 1 {
			t.Fatalf("locus.yaml does not name %s once", old)
		}
		conf = strings.Replace(conf, old, repl, 1)
	}
	confFile := filepath.Join(dir, "locus.yaml")
	locustest.WriteFile(t, confFile, conf)
	script, err := filepath.Abs("route.lua")
	if err != nil {
		t.Fatal(err)
	}
	p := locustest.Start(t, "--config", confFile, "--listen", "udp:127.0.0.1:0", "--store", "memory:", "--script", script)
	c := locustest.Dial(t, p.Addrs["udp"])
	reg := func() *locustest.Request {
		return locustest.Register("alice", "example.com", "sip:alice@192.0.2.1:5060", 600, "desk/1")
	}

	// 1. 127.0.0.1 is in no group: refused before any challenge.
	res := c.MustExchange(reg().String())
	if res.StatusCode != 403 || res.GetHeader("WWW-Authenticate") != nil {
		t.Fatalf("REGISTER from an unlisted address: %d %s, want 403 without a challenge", res.StatusCode, res.Reason)
	}
	p.Log.WaitCount(t, "REGISTER for sip:alice@example.com from 127.0.0.1 refused: not a listed network", 1, time.Second)

	// 2. 127.0.0.1 joins the office networks: a password is required.
	locustest.ReplaceFile(t, list, string(shipped)+"1  127.0.0.1\n")
	p.Log.WaitCount(t, msgReloaded, 1, 3*time.Second)
	req := reg()
	res = c.MustExchange(req.String())
	if res.StatusCode != 401 {
		t.Fatalf("REGISTER without credentials from an office network: %d %s, want 401", res.StatusCode, res.Reason)
	}
	if res = withCredentials(t, c, req, res, "wrong"); res.StatusCode != 401 {
		t.Fatalf("wrong password: %d %s, want a new 401", res.StatusCode, res.Reason)
	}
	if res = withCredentials(t, c, req, res, "wonderland"); res.StatusCode != 200 {
		t.Fatalf("right password: %d %s, want 200", res.StatusCode, res.Reason)
	}

	// 3. 127.0.0.1 becomes a trusted peer: no challenge at all.
	locustest.ReplaceFile(t, list, string(shipped)+"2  127.0.0.1\n")
	p.Log.WaitCount(t, msgReloaded, 2, 3*time.Second)
	res = c.MustExchange(locustest.Register("bob", "example.com", "sip:bob@192.0.2.2:5060", 600, "sbc/1").String())
	if res.StatusCode != 200 {
		t.Fatalf("REGISTER from a trusted peer: %d %s, want 200", res.StatusCode, res.Reason)
	}
	if ct := res.GetHeader("Contact"); ct == nil || !strings.Contains(ct.Value(), "sip:bob@192.0.2.2:5060") {
		t.Fatalf("200 Contact = %v, want bob's binding", ct)
	}
	p.Log.WaitCount(t, "trusted peer 127.0.0.1 registers sip:bob@example.com", 1, time.Second)
}

// withCredentials answers the challenge of res with password: it sends req
// again with the next CSeq and an Authorization header, and returns the
// reply.
func withCredentials(t *testing.T, c *locustest.Client, req *locustest.Request, res *sip.Response, password string) *sip.Response {
	t.Helper()
	h := res.GetHeader("WWW-Authenticate")
	if h == nil {
		t.Fatalf("%d without WWW-Authenticate", res.StatusCode)
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "REGISTER", URI: req.URI, Username: req.User, Password: password, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	req.CSeq++
	auth := *req
	auth.Headers = append(append([]string(nil), req.Headers...), "Authorization: "+cred.String())
	return c.MustExchange(auth.String())
}
