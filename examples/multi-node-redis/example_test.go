package multinoderedis_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/internal/locustest"
	"github.com/locus-sip/locus/internal/testsrv"
)

func TestMain(m *testing.M) { locustest.Main(m) }

// TestTwoNodes starts a real redis-server and two locus nodes with the
// example's config and script. alice is challenged by node B, answers
// node A, and is then found through node B, which forwards a request to
// her.
func TestTwoNodes(t *testing.T) {
	redis := testsrv.StartRedis(t)
	script, _ := filepath.Abs("route.lua")
	config, _ := filepath.Abs("locus.yaml")
	node := func() *locustest.Proc {
		p := locustest.Start(t, "--config", config, "--script", script,
			"--listen", "udp:127.0.0.1:0", "--store", redis.URL)
		locustest.ReplaceFile(t, filepath.Join(p.Cmd.Dir, "users.htdigest"), htdigest("alice", "example.com", "wonderland"))
		p.Log.WaitCount(t, "auth_db: credentials reloaded", 1, 5*time.Second)
		return p
	}
	a, b := node(), node()
	addrA, addrB := a.Addrs["udp"], b.Addrs["udp"]

	phone := listen(t)
	caller := locustest.Dial(t, addrB)

	// Before alice registers, node B does not know her.
	if res := caller.MustExchange(options("before")); res.StatusCode != 404 {
		t.Fatalf("OPTIONS for alice through B before she registered: %d %s, want 404", res.StatusCode, res.Reason)
	}

	// The challenge comes from node B...
	phone.sendTo(addrB, phone.register(1, ""))
	res := phone.expectResponse(t)
	if res.StatusCode != 401 {
		t.Fatalf("REGISTER to B: %d %s, want 401", res.StatusCode, res.Reason)
	}
	// ...and the credentials go to node A, which accepts B's nonce.
	auth := digest(res.GetHeader("WWW-Authenticate").Value(), "alice", "wonderland", "REGISTER", "sip:example.com")
	phone.sendTo(addrA, phone.register(2, auth))
	if res := phone.expectResponse(t); res.StatusCode != 200 {
		t.Fatalf("REGISTER to A with B's nonce: %d %s, want 200", res.StatusCode, res.Reason)
	}
	registered := time.Now()

	// Node B finds the binding A saved in Redis, and forwards to alice.
	for i := 0; ; i++ {
		caller.Send(options(fmt.Sprintf("after-%d", i)))
		msg, from, err := phone.recv(100 * time.Millisecond)
		if err == nil {
			req, ok := msg.(*sip.Request)
			if !ok || req.Method != sip.OPTIONS {
				t.Fatalf("alice got %v, want the OPTIONS", msg)
			}
			if from != addrB {
				t.Errorf("the OPTIONS came from %s, want node B %s", from, addrB)
			}
			if via := req.Via(); via == nil || via.Host+":"+fmt.Sprint(via.Port) != addrB {
				t.Errorf("top Via %v, want node B %s", via, addrB)
			}
			phone.sendTo(from, respond(req, 200, "OK"))
			break
		}
		// Not forwarded: node B answered 404 (waitFinal skips those).
		if time.Since(registered) > 2*time.Second {
			t.Fatal("node B did not find alice within 2s of her registration through node A")
		}
	}
	if res, err := waitFinal(caller); err != nil || res.StatusCode != 200 {
		t.Fatalf("OPTIONS for alice through B: %v %v, want 200 from alice", res, err)
	}
	t.Logf("found through node B %v after the 200 from node A", time.Since(registered).Round(time.Millisecond))
}

// waitFinal reads the caller's socket until a final response to an
// OPTIONS forwarded to alice (the ones that found nobody are 404).
func waitFinal(c *locustest.Client) (*sip.Response, error) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		msg, err := c.Recv(time.Until(deadline))
		if err != nil {
			return nil, err
		}
		if res, ok := msg.(*sip.Response); ok && res.StatusCode >= 200 && res.StatusCode != 404 {
			return res, nil
		}
	}
	return nil, locustest.ErrTimeout
}

func options(id string) string {
	r := locustest.Options("alice", "example.com", "mnr-test")
	r.CallID = "mnr-" + id
	return r.String()
}

// phone is alice's device: one UDP socket that registers with either node
// and answers what they forward.
type phone struct {
	conn *net.UDPConn
}

func listen(t *testing.T) *phone {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &phone{conn: conn}
}

func (p *phone) sendTo(addr, raw string) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err == nil {
		_, _ = p.conn.WriteToUDP([]byte(raw), ua)
	}
}

func (p *phone) recv(timeout time.Duration) (sip.Message, string, error) {
	buf := make([]byte, 65535)
	_ = p.conn.SetReadDeadline(time.Now().Add(timeout))
	n, from, err := p.conn.ReadFromUDP(buf)
	if err != nil {
		return nil, "", err
	}
	msg, err := sip.NewParser().ParseSIP(buf[:n])
	return msg, from.String(), err
}

func (p *phone) expectResponse(t *testing.T) *sip.Response {
	t.Helper()
	msg, _, err := p.recv(5 * time.Second)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	res, ok := msg.(*sip.Response)
	if !ok {
		t.Fatalf("got %v, want a response", msg)
	}
	return res
}

func (p *phone) register(cseq int, auth string) string {
	local := p.conn.LocalAddr().String()
	var b strings.Builder
	b.WriteString("REGISTER sip:example.com SIP/2.0\r\n")
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;rport;branch=z9hG4bK-mnr-%d\r\n", local, cseq)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:alice@example.com>;tag=mnr%d\r\nTo: <sip:alice@example.com>\r\n", cseq)
	fmt.Fprintf(&b, "Call-ID: mnr-alice\r\nCSeq: %d REGISTER\r\n", cseq)
	fmt.Fprintf(&b, "Contact: <sip:alice@%s>\r\nExpires: 600\r\n", local)
	if auth != "" {
		b.WriteString("Authorization: " + auth + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// respond renders a response to req.
func respond(req *sip.Request, code int, reason string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, h := range req.GetHeaders("Via") {
		b.WriteString("Via: " + h.Value() + "\r\n")
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s;tag=alice\r\n", req.From().Value(), req.To().Value())
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %s\r\nContent-Length: 0\r\n\r\n", req.CallID().Value(), req.CSeq().Value())
	return b.String()
}

func htdigest(user, realm, password string) string {
	return user + ":" + realm + ":" + md5hex(user+":"+realm+":"+password) + "\n"
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

var challengeParam = regexp.MustCompile(`(\w+)="?([^",]*)"?`)

// digest answers an MD5 challenge with qop=auth (RFC 7616 §3.4).
func digest(challenge, user, password, method, uri string) string {
	p := map[string]string{}
	for _, m := range challengeParam.FindAllStringSubmatch(strings.TrimPrefix(challenge, "Digest "), -1) {
		p[m[1]] = m[2]
	}
	ha1 := md5hex(user + ":" + p["realm"] + ":" + password)
	const nc, cnonce = "00000001", "5e2b7d10"
	resp := md5hex(ha1 + ":" + p["nonce"] + ":" + nc + ":" + cnonce + ":auth:" + md5hex(method+":"+uri))
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, qop=auth, nc=%s, cnonce="%s"`,
		user, p["realm"], p["nonce"], uri, resp, nc, cnonce)
}
