package expirespolicy_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/internal/locustest"
)

func TestMain(m *testing.M) { locustest.Main(m) }

func start(t *testing.T, config string) *locustest.Client {
	t.Helper()
	script, err := filepath.Abs("route.lua")
	if err != nil {
		t.Fatal(err)
	}
	p := locustest.Start(t, "--config", config, "--listen", "udp:127.0.0.1:0", "--store", "memory:", "--script", script)
	return locustest.Dial(t, p.Addrs["udp"])
}

// granted registers req and returns the expiry the 200 gives its contact.
func granted(t *testing.T, c *locustest.Client, req *locustest.Request, contact string) int {
	t.Helper()
	res := c.MustExchange(req.String())
	if res.StatusCode != 200 {
		t.Fatalf("REGISTER %s: %d %s, want 200", contact, res.StatusCode, res.Reason)
	}
	for _, h := range res.GetHeaders("Contact") {
		ch, ok := h.(*sip.ContactHeader)
		if !ok || ch.Address.String() != contact {
			continue
		}
		v, _ := ch.Params.Get("expires")
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("200 Contact %s: expires %q", ch.Value(), v)
		}
		return n
	}
	t.Fatalf("200 lacks the Contact %s", contact)
	return 0
}

func inRange(t *testing.T, what string, got, lo, hi int) {
	t.Helper()
	if got < lo || got > hi {
		t.Errorf("%s: expires=%d, want %d to %d", what, got, lo, hi)
	} else {
		t.Logf("%s: expires=%d", what, got)
	}
}

// TestUserClasses: users in the mobile table get at most 300 s, others
// up to 3600 s, each shortened by up to 20 %.
func TestUserClasses(t *testing.T) {
	cfg, err := filepath.Abs("locus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := start(t, cfg)
	reg := func(user string, host, expires int) (*locustest.Request, string) {
		contact := "sip:" + user + "@192.0.2." + strconv.Itoa(host) + ":5060"
		return locustest.Register(user, "example.com", contact, expires, "phone/1"), contact
	}

	req, ct := reg("alice", 1, 3600)
	inRange(t, "mobile alice asks 3600", granted(t, c, req, ct), 240, 300)
	req, ct = reg("alice", 2, -1)
	inRange(t, "mobile alice asks nothing", granted(t, c, req, ct), 240, 300)
	req, ct = reg("alice", 3, 120)
	inRange(t, "mobile alice asks 120", granted(t, c, req, ct), 96, 120)

	// An expires parameter in the Contact wins over the header: the
	// script rewrites the parameter.
	req, ct = reg("dave", 4, 1800)
	req.Contact = ""
	req.Header("Contact: <" + ct + ">;expires=3600")
	inRange(t, "mobile dave asks expires=3600 in the Contact", granted(t, c, req, ct), 240, 300)

	// Desk phones: up to an hour, at random within the 20 %.
	seen := map[int]bool{}
	for i := 1; i <= 6; i++ {
		req, ct := reg("bob", 10+i, 7200)
		n := granted(t, c, req, ct)
		inRange(t, "desk bob asks 7200", n, 2880, 3600)
		seen[n] = true
	}
	if len(seen) < 2 {
		t.Errorf("six desk registrations all got the same expiry %v: no randomisation", seen)
	}
}

// TestMobileNetwork: with 127.0.0.0/8 listed as a mobile operator's network
// (group 10), a user not in the mobile table gets the mobile limit too.
func TestMobileNetwork(t *testing.T) {
	src, err := os.ReadFile("locus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const group = "10: [100.64.0.0/10]"
	if !strings.Contains(string(src), group) {
		t.Fatalf("locus.yaml lacks %q", group)
	}
	cfg := filepath.Join(t.TempDir(), "locus.yaml")
	locustest.WriteFile(t, cfg, strings.Replace(string(src), group, "10: [100.64.0.0/10, 127.0.0.0/8]", 1))
	c := start(t, cfg)

	ct := "sip:bob@192.0.2.1:5060"
	inRange(t, "bob from a mobile network asks 3600",
		granted(t, c, locustest.Register("bob", "example.com", ct, 3600, "phone/1"), ct), 240, 300)
}
