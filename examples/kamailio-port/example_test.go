package kamailioport_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/internal/locustest"
)

func TestMain(m *testing.M) { locustest.Main(m) }

// TestKamailioPort runs route.lua with locus.yaml, as they are, against the
// real binary: digest registration, a call to a registered user with the
// in-dialog ACK and BYE through locus's Record-Route, a cancelled call, and
// a call to an unknown user.
func TestKamailioPort(t *testing.T) {
	script, _ := filepath.Abs("route.lua")
	config, _ := filepath.Abs("locus.yaml")
	p := locustest.Start(t, "--config", config, "--script", script,
		"--listen", "udp:127.0.0.1:0", "--store", "memory:")

	// The subscriber table: written after start, picked up by the watcher.
	locustest.ReplaceFile(t, filepath.Join(p.Cmd.Dir, "users.htdigest"),
		htdigest("alice", "example.com", "wonderland")+htdigest("bob", "example.com", "builder"))
	p.Log.WaitCount(t, "auth_db: credentials reloaded", 1, 5*time.Second)

	alice := &ua{Client: locustest.Dial(t, p.Addrs["udp"]), user: "alice", password: "wonderland"}
	bob := &ua{Client: locustest.Dial(t, p.Addrs["udp"]), user: "bob", password: "builder"}

	t.Run("register", func(t *testing.T) {
		res := alice.authed(t, 401, func(cseq int, auth string) string {
			return alice.request("REGISTER", "sip:example.com", "sip:alice@example.com", "reg-alice", cseq, newBranch(),
				"Contact: <"+alice.contact()+">", "Expires: 600", auth)
		})
		if res.StatusCode != 200 {
			t.Fatalf("REGISTER with credentials: %d %s, want 200", res.StatusCode, res.Reason)
		}
		if c := res.GetHeader("Contact"); c == nil || !strings.Contains(c.Value(), alice.contact()) {
			t.Fatalf("200 Contact = %v, want %s", c, alice.contact())
		}
		if res.GetHeader("Date") == nil {
			t.Error("200 to REGISTER has no Date")
		}
	})

	t.Run("call and bye", func(t *testing.T) {
		callID := "call-1"
		bob.authed(t, 407, func(cseq int, auth string) string {
			return bob.request("INVITE", "sip:alice@example.com", "sip:alice@example.com", callID, cseq, newBranch(),
				"Contact: <"+bob.contact()+">", auth)
		})

		inv := alice.expectRequest(t, "INVITE")
		if got := inv.Recipient.String(); got != alice.contact() {
			t.Errorf("INVITE reached alice for %s, want her contact %s", got, alice.contact())
		}
		if len(inv.GetHeaders("Record-Route")) == 0 {
			t.Fatal("INVITE reached alice without locus's Record-Route")
		}
		if inv.GetHeader("Proxy-Authorization") != nil {
			t.Error("consume_credentials: Proxy-Authorization was forwarded")
		}
		alice.Send(alice.respond(inv, 180, "Ringing", ""))
		alice.Send(alice.respond(inv, 200, "OK", "Contact: <"+alice.contact()+">"))

		ok := bob.expectFinal(t, "INVITE")
		if ok.StatusCode != 200 {
			t.Fatalf("INVITE: %d %s, want 200", ok.StatusCode, ok.Reason)
		}
		route := routeSet(ok)
		if route == "" {
			t.Fatal("200 to INVITE has no Record-Route")
		}
		to := ok.To().Value()
		cseq := int(ok.CSeq().SeqNo)

		// The ACK of the 2xx and the BYE follow the route set to alice.
		bob.Send(bob.dialogRequest("ACK", alice.contact(), to, callID, cseq, route))
		if ack := alice.expectRequest(t, "ACK"); ack.CallID().Value() != callID {
			t.Errorf("ACK Call-ID %s, want %s", ack.CallID().Value(), callID)
		}
		bob.Send(bob.dialogRequest("BYE", alice.contact(), to, callID, cseq+1, route))
		bye := alice.expectRequest(t, "BYE")
		if n := len(bye.GetHeaders("Via")); n != 2 {
			t.Errorf("BYE reached alice with %d Vias, want 2 (bob's and locus's)", n)
		}
		if bye.GetHeader("Route") != nil {
			t.Errorf("BYE reached alice with Route %s: loose_route left locus's entry", bye.GetHeader("Route").Value())
		}
		alice.Send(alice.respond(bye, 200, "OK", ""))
		if res := bob.expectFinal(t, "BYE"); res.StatusCode != 200 {
			t.Fatalf("BYE: %d %s, want 200", res.StatusCode, res.Reason)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		callID := "call-2"
		var invite string
		bob.authed(t, 407, func(cseq int, auth string) string {
			invite = bob.request("INVITE", "sip:alice@example.com", "sip:alice@example.com", callID, cseq, newBranch(),
				"Contact: <"+bob.contact()+">", auth)
			return invite
		})
		inv := alice.expectRequest(t, "INVITE")
		alice.Send(alice.respond(inv, 180, "Ringing", ""))
		if res := bob.expectResponse(t, "INVITE", 180); res == nil {
			t.Fatal("no 180")
		}

		// The CANCEL repeats the INVITE's request line, Via, From, To,
		// Call-ID and CSeq number.
		bob.Send(cancelOf(invite))
		if res := bob.expectFinal(t, "CANCEL"); res.StatusCode != 200 {
			t.Fatalf("CANCEL: %d %s, want 200", res.StatusCode, res.Reason)
		}
		cancel := alice.expectRequest(t, "CANCEL")
		alice.Send(alice.respond(cancel, 200, "OK", ""))
		alice.Send(alice.respond(inv, 487, "Request Terminated", ""))
		if ack := alice.expectRequest(t, "ACK"); ack.CSeq().SeqNo != inv.CSeq().SeqNo {
			t.Errorf("ACK of the 487 has CSeq %d, want %d", ack.CSeq().SeqNo, inv.CSeq().SeqNo)
		}
		res := bob.expectFinal(t, "INVITE")
		if res.StatusCode != 487 {
			t.Fatalf("cancelled INVITE: %d %s, want 487", res.StatusCode, res.Reason)
		}
		bob.Send(ackOf(invite, res))
	})

	t.Run("unknown user", func(t *testing.T) {
		var invite string
		bob.authed(t, 407, func(cseq int, auth string) string {
			invite = bob.request("INVITE", "sip:carol@example.com", "sip:carol@example.com", "call-3", cseq, newBranch(),
				"Contact: <"+bob.contact()+">", auth)
			return invite
		})
		res := bob.expectFinal(t, "INVITE")
		if res.StatusCode != 404 {
			t.Fatalf("INVITE for an unknown user: %d %s, want 404", res.StatusCode, res.Reason)
		}
		bob.Send(ackOf(invite, res))
		// Nothing may have reached alice.
		if msg, err := alice.Recv(200 * time.Millisecond); err != locustest.ErrTimeout {
			t.Fatalf("alice got %v (%v), want nothing", msg, err)
		}
	})

	// The script ran without a Lua error or a refused reply.
	for _, line := range strings.Split(p.Log.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"msg":"sl: reply not sent"`) {
			t.Errorf("log: %s", line)
		}
	}
}

// ua is a raw SIP user agent on a loopback UDP socket.
type ua struct {
	*locustest.Client
	user, password string
}

func (u *ua) contact() string { return "sip:" + u.user + "@" + u.LocalAddr() }

var seq atomic.Int64

func newBranch() string { return fmt.Sprintf("z9hG4bK-kp-%d", seq.Add(1)) }

// request renders an out-of-dialog request from u to the AoR to.
func (u *ua) request(method, ruri, to, callID string, cseq int, branch string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;rport;branch=%s\r\n", u.LocalAddr(), branch)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@example.com>;tag=%s-tag\r\n", u.user, u.user)
	fmt.Fprintf(&b, "To: <%s>\r\n", to)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\n", callID, cseq, method)
	b.WriteString("User-Agent: kamailio-port-test\r\n")
	for _, h := range extra {
		if h != "" {
			b.WriteString(h + "\r\n")
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// dialogRequest renders an in-dialog request along route.
func (u *ua) dialogRequest(method, ruri, to, callID string, cseq int, route string) string {
	req := u.request(method, ruri, "", callID, cseq, newBranch(), "Route: "+route)
	return strings.Replace(req, "To: <>\r\n", "To: "+to+"\r\n", 1)
}

// authed sends the request build makes, answers the challenge (code 401
// or 407) with digest credentials, and returns the final response to the
// second request.
func (u *ua) authed(t *testing.T, code int, build func(cseq int, auth string) string) *sip.Response {
	t.Helper()
	first := build(1, "")
	u.Send(first)
	res := u.expectFinal(t, cseqMethod(first))
	if res.StatusCode != code {
		t.Fatalf("%s without credentials: %d %s, want %d", cseqMethod(first), res.StatusCode, res.Reason, code)
	}
	hdr, authHdr := "WWW-Authenticate", "Authorization"
	if code == 407 {
		hdr, authHdr = "Proxy-Authenticate", "Proxy-Authorization"
		u.Send(ackOf(first, res))
	}
	ch := res.GetHeader(hdr)
	if ch == nil {
		t.Fatalf("%d without %s", code, hdr)
	}
	probe := build(2, "")
	method, uri := requestLine(probe)
	second := build(2, authHdr+": "+digest(ch.Value(), u.user, u.password, method, uri))
	u.Send(second)
	if method == "INVITE" {
		return nil // answered by the callee
	}
	return u.expectFinal(t, method)
}

// expectFinal reads until a final response to a request with method.
func (u *ua) expectFinal(t *testing.T, method string) *sip.Response {
	t.Helper()
	return u.expectResponse(t, method, 0)
}

// expectResponse reads until a response to method with code (0: any
// final), skipping others; it fails the test after 5 s.
func (u *ua) expectResponse(t *testing.T, method string, code int) *sip.Response {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		msg, err := u.Recv(time.Until(deadline))
		if err != nil {
			break
		}
		res, ok := msg.(*sip.Response)
		if !ok || string(res.CSeq().MethodName) != method {
			continue
		}
		if code == 0 && res.StatusCode >= 200 || res.StatusCode == code {
			return res
		}
	}
	t.Fatalf("%s: no %s response to %s within 5s", u.user, codeName(code), method)
	return nil
}

// expectRequest reads until a request with method; it fails after 5 s.
func (u *ua) expectRequest(t *testing.T, method string) *sip.Request {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		msg, err := u.Recv(time.Until(deadline))
		if err != nil {
			break
		}
		if req, ok := msg.(*sip.Request); ok && string(req.Method) == method {
			return req
		}
	}
	t.Fatalf("%s: no %s within 5s", u.user, method)
	return nil
}

// respond renders u's response to req, with u's To tag.
func (u *ua) respond(req *sip.Request, code int, reason string, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, h := range req.GetHeaders("Via") {
		b.WriteString("Via: " + h.Value() + "\r\n")
	}
	for _, h := range req.GetHeaders("Record-Route") {
		b.WriteString("Record-Route: " + h.Value() + "\r\n")
	}
	to := req.To().Value()
	if !strings.Contains(to, "tag=") {
		to += ";tag=" + u.user + "-tag"
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\n", req.From().Value(), to)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %s\r\n", req.CallID().Value(), req.CSeq().Value())
	if extra != "" {
		b.WriteString(extra + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// routeSet is the Route of the caller's in-dialog requests: the 2xx's
// Record-Route in reverse order.
func routeSet(res *sip.Response) string {
	var rr []string
	for _, h := range res.GetHeaders("Record-Route") {
		rr = append([]string{h.Value()}, rr...)
	}
	return strings.Join(rr, ", ")
}

// cancelOf turns a raw INVITE into its CANCEL (RFC 3261 §9.1).
func cancelOf(invite string) string {
	return rewrite(invite, "CANCEL", "")
}

// ackOf is the ACK of a non-2xx final response res to a raw INVITE
// (RFC 3261 §17.1.1.3): the INVITE's branch, the response's To.
func ackOf(invite string, res *sip.Response) string {
	return rewrite(invite, "ACK", res.To().Value())
}

// rewrite makes a CANCEL or ACK of a raw request: the same request line,
// top Via, From, Call-ID and CSeq number; To replaced when to is set; no
// credentials or Contact.
func rewrite(req, method, to string) string {
	var b strings.Builder
	lines := strings.Split(strings.TrimSuffix(req, "\r\n\r\n"), "\r\n")
	_, uri := requestLine(req)
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, uri)
	for _, l := range lines[1:] {
		name, value, _ := strings.Cut(l, ":")
		switch strings.ToLower(name) {
		case "to":
			if to != "" {
				l = "To: " + to
			}
		case "cseq":
			n, _, _ := strings.Cut(strings.TrimSpace(value), " ")
			l = "CSeq: " + n + " " + method
		case "contact", "proxy-authorization", "authorization", "content-length":
			continue
		}
		b.WriteString(l + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

func requestLine(raw string) (method, uri string) {
	f := strings.Fields(raw[:strings.Index(raw, "\r\n")])
	return f[0], f[1]
}

func cseqMethod(raw string) string {
	for _, l := range strings.Split(raw, "\r\n") {
		if v, ok := strings.CutPrefix(l, "CSeq: "); ok {
			return strings.Fields(v)[1]
		}
	}
	return ""
}

func codeName(code int) string {
	if code == 0 {
		return "final"
	}
	return fmt.Sprint(code)
}

// htdigest is one line of the credentials file: user:realm:MD5 HA1.
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
	ha2 := md5hex(method + ":" + uri)
	const nc, cnonce = "00000001", "0a4f113b"
	resp := md5hex(ha1 + ":" + p["nonce"] + ":" + nc + ":" + cnonce + ":auth:" + ha2)
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, qop=auth, nc=%s, cnonce="%s"`,
		user, p["realm"], p["nonce"], uri, resp, nc, cnonce)
}
