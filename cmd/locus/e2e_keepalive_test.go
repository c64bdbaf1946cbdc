package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// NAT keepalive: a phone behind NAT (private Contact) gets OPTIONS pings
// at its source address while it answers them; once it stops answering,
// its binding is removed after keepalive_failures pings.
func TestE2ENATKeepalive(t *testing.T) {
	p := e2eLocus(t, newScript(t, e2eNoAuthScript), `  nathelper:
    natping_interval: 400ms
    keepalive_timeout: 300ms
    keepalive_failures: 2
  tm:
    t1: 100ms
`)
	natted := dialSIP(t, "udp", p.Addrs["udp"], nil)
	direct := dialSIP(t, "udp", p.Addrs["udp"], nil)
	if res := e2eSend(t, natted, e2eReq{User: "nat", Contacts: []string{"sip:nat@10.20.30.40:5060"}, Expires: 600}); res.StatusCode != 200 {
		t.Fatalf("REGISTER behind NAT: %d", res.StatusCode)
	}
	if res := e2eSend(t, direct, e2eReq{User: "direct", Contacts: []string{"sip:direct@127.0.0.1:" + strconv.Itoa(direct.LocalPort())}, Expires: 600}); res.StatusCode != 200 {
		t.Fatalf("REGISTER without NAT: %d", res.StatusCode)
	}

	// Answer three pings.
	for i := range 3 {
		req := recvRequest(t, natted, 3*time.Second)
		if req.Method != sip.OPTIONS || req.Recipient.Host != "10.20.30.40" {
			t.Fatalf("ping %d: %s %s, want OPTIONS to the registered contact", i, req.Method, req.Recipient.String())
		}
		if err := natted.Send([]byte(answer(req, 200, "10.20.30.40:5060"))); err != nil {
			t.Fatal(err)
		}
	}
	// The phone without NAT is not pinged (ping_nated_only).
	if m, err := direct.Recv(300 * time.Millisecond); err == nil {
		t.Fatalf("a binding without NAT was pinged:\n%s", m)
	}
	// Silence: after two unanswered pings the binding is gone.
	deadline := time.Now().Add(5 * time.Second)
	for {
		res := e2eSend(t, direct, e2eReq{Method: "OPTIONS", User: "nat"})
		if res.StatusCode == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("binding still there after 5 s of silence: %d", res.StatusCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The line is logged after the store has the binding removed and
	// reaches the test through locus's stderr: the 404 can come first.
	if recs := p.Log.WaitCount(t, "keepalive: binding removed, pings unanswered", 1, 2*time.Second); len(recs) != 1 {
		t.Errorf("%d removal log lines, want 1", len(recs))
	}
	if res := e2eSend(t, direct, e2eReq{Method: "OPTIONS", User: "direct"}); res.StatusCode != 302 {
		t.Errorf("the binding without NAT: %d, want 302 (still registered)", res.StatusCode)
	}
}

// recvRequest waits for the next request on c, skipping responses.
func recvRequest(t *testing.T, c sipConn, timeout time.Duration) *sip.Request {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m, err := c.Recv(time.Until(deadline))
		if err != nil {
			t.Fatalf("no request within %s: %v", timeout, err)
		}
		if r, ok := m.(*sip.Request); ok {
			return r
		}
	}
}
