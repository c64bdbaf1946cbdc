package main

// Black-box tests of the locus binary: it is started on 127.0.0.1
// ephemeral ports and driven by real SIP peers (raw sockets and the sipgo
// client) over UDP, TCP, TLS, WS and WSS.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// policy answers REGISTER and OPTIONS with reasons only this script uses,
// so a reply proves the script ran; other methods get 403.
const policy = `
function ksr_request_route()
	if KSR.is_ACK() then KSR.x.exit() end
	if KSR.is_REGISTER() then
		KSR.info("register seen")
		KSR.sl.send_reply(200, "Registered By Script")
		KSR.x.exit()
	end
	if KSR.is_OPTIONS() then
		KSR.sl.sl_send_reply(200, "Options By Script")
		KSR.x.exit()
	end
	KSR.sl.send_reply(403, "Forbidden By Script")
end
`

var allProtos = []string{"udp", "tcp", "tls", "ws", "wss"}

// startAllTransports runs locus with script on every transport.
func startAllTransports(t *testing.T, script string) (*locusProc, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	cert, key, roots := selfSignedCert(t, dir)
	scriptFile := filepath.Join(dir, "route.lua")
	writeFile(t, scriptFile, script)
	cfg := filepath.Join(dir, "locus.yaml")
	writeFile(t, cfg, fmt.Sprintf(`listen:
  - udp:127.0.0.1:0
  - tcp:127.0.0.1:0
  - {socket: "tls:127.0.0.1:0", cert: %q, key: %q}
  - ws:127.0.0.1:0
  - {socket: "wss:127.0.0.1:0", cert: %q, key: %q}
script: %q
`, cert, key, cert, key, scriptFile))
	p := startLocus(t, "--config", cfg)
	for _, proto := range allProtos {
		addr, ok := p.Addrs[proto]
		if !ok {
			t.Fatalf("no %q listener logged; addrs %v", proto, p.Addrs)
		}
		host, port, _ := net.SplitHostPort(addr)
		if host != "127.0.0.1" || port == "0" {
			t.Fatalf("%s listener on %q, want 127.0.0.1 and a real port", proto, addr)
		}
	}
	return p, roots
}

// checkEchoed asserts what every reply must carry from its request.
func checkEchoed(t *testing.T, req, res sip.Message) {
	t.Helper()
	rq, err := sip.NewParser().ParseSIP([]byte(req.String()))
	if err != nil {
		t.Fatal(err)
	}
	q := rq.(*sip.Request)
	r := res.(*sip.Response)
	if r.CallID() == nil || r.CallID().Value() != q.CallID().Value() {
		t.Errorf("Call-ID %v, want %q", r.CallID(), q.CallID().Value())
	}
	if r.CSeq() == nil || r.CSeq().SeqNo != q.CSeq().SeqNo || r.CSeq().MethodName != q.CSeq().MethodName {
		t.Errorf("CSeq %v, want %v", r.CSeq(), q.CSeq())
	}
	if r.From() == nil || r.From().Params.GetOr("tag", "") != q.From().Params.GetOr("tag", "x") {
		t.Errorf("From %v, want the request's tag %v", r.From(), q.From())
	}
	if r.To() == nil || r.To().Params.GetOr("tag", "") == "" {
		t.Errorf("To %v has no tag", r.To())
	}
	if r.To() != nil && r.To().Address.User != q.To().Address.User {
		t.Errorf("To %v, want user %q", r.To(), q.To().Address.User)
	}
	rv, qv := r.Via(), q.Via()
	if rv == nil || rv.Host != qv.Host || rv.Port != qv.Port || rv.Transport != qv.Transport ||
		rv.Params.GetOr("branch", "") != qv.Params.GetOr("branch", "x") {
		t.Errorf("Via %v, want the request's %v", rv, qv)
	}
	if h := r.GetHeader("Server"); h == nil || h.Value() != "locus" {
		t.Errorf("Server header %v, want locus", h)
	}
}

// TestTransports sends REGISTER, OPTIONS and MESSAGE over every transport,
// raw and with the sipgo client, and checks the script's replies.
func TestTransports(t *testing.T) {
	p, roots := startAllTransports(t, policy)
	for _, proto := range allProtos {
		t.Run(proto+"/raw", func(t *testing.T) {
			c := dialSIP(t, proto, p.Addrs[proto], roots)
			tp := strings.ToUpper(proto)

			// The Via names a host that is not the source: "received" is added.
			reg := sipReq{Method: "REGISTER", CSeq: 7, Transport: tp, ViaHost: "client.invalid", ViaPort: c.LocalPort()}
			raw := reg.String()
			res := mustReply(t, c, raw, callIDOf(t, raw))
			if res.StatusCode != 200 || res.Reason != "Registered By Script" {
				t.Fatalf("REGISTER: %d %q, want 200 \"Registered By Script\"", res.StatusCode, res.Reason)
			}
			checkEchoed(t, mustParse(t, raw), res)
			if got := res.Via().Params.GetOr("received", ""); got != "127.0.0.1" {
				t.Errorf("Via %v: received=%q, want 127.0.0.1 (sent-by host differs from source)", res.Via(), got)
			}

			// The Via names the source address itself: no "received".
			opt := sipReq{Method: "OPTIONS", User: "carol", CSeq: 2, Transport: tp, ViaHost: "127.0.0.1", ViaPort: c.LocalPort()}
			raw = opt.String()
			res = mustReply(t, c, raw, callIDOf(t, raw))
			if res.StatusCode != 200 || res.Reason != "Options By Script" {
				t.Fatalf("OPTIONS: %d %q, want 200 \"Options By Script\"", res.StatusCode, res.Reason)
			}
			checkEchoed(t, mustParse(t, raw), res)
			if res.Via().Params.Has("received") {
				t.Errorf("Via %v has received although sent-by is the source address", res.Via())
			}

			if proto == "udp" {
				// rport (RFC 3581): the reply goes to the source port, not
				// the Via port, and names both.
				nat := sipReq{Method: "REGISTER", CSeq: 8, Transport: tp, ViaHost: "10.0.0.9", ViaPort: 5999}
				raw = strings.Replace(nat.String(), ";branch=", ";rport;branch=", 1)
				res = mustReply(t, c, raw, callIDOf(t, raw))
				if res.StatusCode != 200 {
					t.Fatalf("REGISTER with rport: %d, want 200", res.StatusCode)
				}
				v := res.Via()
				if v.Params.GetOr("received", "") != "127.0.0.1" || v.Params.GetOr("rport", "") != strconv.Itoa(c.LocalPort()) {
					t.Errorf("Via %v, want received=127.0.0.1;rport=%d", v, c.LocalPort())
				}
				if n := strings.Count(v.Value(), "received="); n != 1 {
					t.Errorf("Via %v carries received %d times, want once", v, n)
				}
			}

			msg := sipReq{Method: "MESSAGE", CSeq: 3, Transport: tp, ViaPort: c.LocalPort()}
			raw = msg.String()
			res = mustReply(t, c, raw, callIDOf(t, raw))
			if res.StatusCode != 403 || res.Reason != "Forbidden By Script" {
				t.Fatalf("MESSAGE: %d %q, want 403 \"Forbidden By Script\"", res.StatusCode, res.Reason)
			}
			checkEchoed(t, mustParse(t, raw), res)
		})
		t.Run(proto+"/sipgo", func(t *testing.T) {
			quiet := slog.New(slog.DiscardHandler)
			ua, err := sipgo.NewUA(sipgo.WithUserAgent("bbtest"),
				sipgo.WithUserAgenTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}),
				sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)),
				sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet)))
			if err != nil {
				t.Fatal(err)
			}
			defer ua.Close()
			client, err := sipgo.NewClient(ua, sipgo.WithClientLogger(quiet),
				sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientConnectionAddr("127.0.0.1:0"))
			if err != nil {
				t.Fatal(err)
			}
			host, port := splitAddr(t, p.Addrs[proto])
			for _, tc := range []struct {
				method sip.RequestMethod
				reason string
			}{{sip.REGISTER, "Registered By Script"}, {sip.OPTIONS, "Options By Script"}} {
				req := sip.NewRequest(tc.method, sip.Uri{Scheme: "sip", User: "dave", Host: host, Port: port})
				req.SetTransport(strings.ToUpper(proto))
				req.SetDestination(p.Addrs[proto])
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				// Do builds the missing headers, waits for the final
				// response and terminates the client transaction.
				res, err := client.Do(ctx, req)
				cancel()
				if err != nil {
					t.Fatalf("%s over %s: %v", tc.method, proto, err)
				}
				if res.StatusCode != 200 || res.Reason != tc.reason {
					t.Fatalf("%s: %d %q, want 200 %q", tc.method, res.StatusCode, res.Reason, tc.reason)
				}
				checkEchoed(t, req, res)
				if v := res.Via(); v.Host == "127.0.0.1" && v.Params.Has("received") {
					t.Errorf("Via %v: received added although sent-by is the source", v)
				}
			}
		})
	}
	// One REGISTER raw and one with sipgo per transport, plus the rport one.
	// The lines come through locus's stderr, maybe after the last reply.
	want := 2*len(allProtos) + 1
	p.Log.WaitCount(t, "register seen", want, 2*time.Second)
	if n := p.Log.Count("register seen"); n != want {
		t.Errorf("script logged %d \"register seen\", want %d (KSR.info of each REGISTER)", n, want)
	}
}

// TestOtherSIPVersionGets505: a request line of another version is
// answered 505 by the engine, before the script, with a SIP/2.0 status
// line (the reply used to echo "SIP/3.0 200 ...").
func TestOtherSIPVersionGets505(t *testing.T) {
	p := startLocus(t, "--listen", "udp:127.0.0.1:0", "--script", newScript(t, policy))
	c := dialSIP(t, "udp", p.Addrs["udp"], nil)
	for _, version := range []string{"SIP/3.0", "SIP"} {
		raw := sipReq{Method: "REGISTER", ViaHost: "127.0.0.1", ViaPort: c.LocalPort()}.String()
		raw = strings.Replace(raw, " SIP/2.0\r\n", " "+version+"\r\n", 1)
		res := mustReply(t, c, raw, callIDOf(t, raw))
		if res.SipVersion != "SIP/2.0" || res.StatusCode != 505 {
			t.Errorf("request line %q answered %q, want \"SIP/2.0 505 ...\"", strings.SplitN(raw, "\r\n", 2)[0], res.StartLine())
		}
	}
	if n := p.Log.Count("register seen"); n != 0 {
		t.Errorf("the script ran %d times, want 0 (the engine answers)", n)
	}
}

func mustParse(t *testing.T, raw string) *sip.Request {
	t.Helper()
	m, err := sip.NewParser().ParseSIP([]byte(raw))
	if err != nil {
		t.Fatalf("parse own request: %v", err)
	}
	return m.(*sip.Request)
}

func callIDOf(t *testing.T, raw string) string {
	t.Helper()
	return mustParse(t, raw).CallID().Value()
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, n
}

// probe reports what a raw peer received after a malformed message: the
// responses that were not to the valid request sent as a barrier behind it,
// and whether the stream connection was closed by the server.
type probe struct {
	extra  []*sip.Response
	closed bool
	valid  *sip.Response
}

// sendMalformed sends payload, then (over UDP) a valid REGISTER as a
// barrier, and collects what comes back. Over a stream the valid request
// is not sent on the same connection (the parser may still be waiting for
// the rest of the broken message); the connection is read for 300 ms.
func sendMalformed(t *testing.T, c sipConn, proto string, payload []byte) probe {
	t.Helper()
	var pr probe
	if err := c.Send(payload); err != nil {
		t.Fatalf("send malformed: %v", err)
	}
	var validID string
	wait := 300 * time.Millisecond
	if proto == "udp" {
		raw := sipReq{Method: "REGISTER", ViaHost: "127.0.0.1", ViaPort: c.LocalPort()}.String()
		validID = callIDOf(t, raw)
		if err := c.Send([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		wait = 5 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		msg, err := c.Recv(left)
		if err != nil {
			var ne net.Error
			if proto != "udp" && !(errors.As(err, &ne) && ne.Timeout()) {
				pr.closed = true // EOF or reset
			}
			break
		}
		res, ok := msg.(*sip.Response)
		if !ok {
			t.Fatalf("server sent a request: %s", msg)
		}
		if validID != "" && res.CallID() != nil && res.CallID().Value() == validID {
			pr.valid = res
			// A reply to the malformed message may trail the barrier's.
			deadline = time.Now().Add(100 * time.Millisecond)
			continue
		}
		pr.extra = append(pr.extra, res)
	}
	if proto == "udp" && (pr.valid == nil || pr.valid.StatusCode != 200) {
		t.Fatalf("valid REGISTER after the malformed datagram: got %v, want 200", pr.valid)
	}
	return pr
}

// requireServing asserts that fresh UDP and TCP peers get the script's reply.
func requireServing(t *testing.T, p *locusProc) {
	t.Helper()
	for _, proto := range []string{"udp", "tcp"} {
		c := dialSIP(t, proto, p.Addrs[proto], nil)
		raw := sipReq{Method: "REGISTER", Transport: strings.ToUpper(proto), ViaHost: "127.0.0.1", ViaPort: c.LocalPort()}.String()
		res := mustReply(t, c, raw, callIDOf(t, raw))
		if res.StatusCode != 200 || res.Reason != "Registered By Script" {
			t.Fatalf("%s: valid REGISTER got %d %q, want 200 from the script", proto, res.StatusCode, res.Reason)
		}
		c.Close()
	}
}

// withoutHeader removes every header line named name.
func withoutHeader(raw, name string) string {
	var out []string
	for _, l := range strings.Split(raw, "\r\n") {
		if !strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)+":") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\r\n")
}

// TestMalformedInput sends garbage, requests missing mandatory headers and
// oversized messages; the server must answer 400 or nothing where sipgo
// rejects the message, never crash, and keep serving.
func TestMalformedInput(t *testing.T) {
	p := startLocus(t, "--listen", "udp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0", "--script", newScript(t, policy))
	garbage := make([]byte, 1200)
	if _, err := rand.Read(garbage); err != nil {
		t.Fatal(err)
	}
	reg := func(tp string) string {
		return sipReq{Method: "REGISTER", Transport: tp, ViaHost: "127.0.0.1"}.String()
	}
	const (
		rejected = "400 or nothing"
		script   = "the script's 200"
		// A request without Call-ID passes sipgo and the engine: the
		// script decides (KSR.sanity is the place to refuse it).
		scriptOr400 = "400 or the script's 200"
		// A 60 KB datagram is legal SIP (up to 65,535 bytes): sipgo's
		// UDP transport truncates at 32 KiB and drops it, a full-size
		// reader routes it. Either way the server must keep serving.
		tolerated = "nothing, 400 or the script's 200"
	)
	cases := []struct {
		name    string
		payload func(tp string) string
		want    string
		tcpWant string // when TCP differs
	}{
		{"random bytes", func(string) string { return string(garbage) }, rejected, ""},
		{"NUL bytes", func(string) string { return strings.Repeat("\x00", 64) + "\r\n\r\n" }, rejected, ""},
		{"binary then CRLFCRLF", func(string) string { return "\xff\xfe\x01SIP\x80\r\n\r\n" }, rejected, ""},
		{"request line only", func(string) string { return "REGISTER sip:example.com SIP/2.0\r\n\r\n" }, rejected, ""},
		{"bad request line", func(string) string { return "REGISTER\r\nVia: x\r\n\r\n" }, rejected, ""},
		{"a response", func(string) string {
			return "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
		}, rejected, ""},
		{"missing Via", func(tp string) string { return withoutHeader(reg(tp), "Via") }, rejected, ""},
		{"missing CSeq", func(tp string) string { return withoutHeader(reg(tp), "CSeq") }, rejected, ""},
		{"unparsable CSeq", func(tp string) string {
			return strings.Replace(reg(tp), "CSeq: 1 REGISTER", "CSeq: one REGISTER", 1)
		}, rejected, ""},
		{"missing Call-ID", func(tp string) string { return withoutHeader(reg(tp), "Call-ID") }, scriptOr400, ""},
		{"Content-Length beyond the datagram", func(tp string) string {
			return strings.Replace(reg(tp), "Content-Length: 0", "Content-Length: 5000", 1)
		}, rejected, ""},
		// Stream messages are taken up to 64 KiB.
		{"huge header 60 KB", func(tp string) string {
			return strings.Replace(reg(tp), "Max-Forwards: 70\r\n", "X-Huge: "+strings.Repeat("h", 60000)+"\r\n", 1)
		}, tolerated, script},
		{"large header 8 KB", func(tp string) string {
			return strings.Replace(reg(tp), "Max-Forwards: 70\r\n", "X-Large: "+strings.Repeat("l", 8000)+"\r\n", 1)
		}, script, ""},
	}
	for _, proto := range []string{"udp", "tcp"} {
		for _, tc := range cases {
			if proto == "tcp" && tc.name == "Content-Length beyond the datagram" {
				continue // over a stream this just waits for the body
			}
			want := tc.want
			if proto == "tcp" && tc.tcpWant != "" {
				want = tc.tcpWant
			}
			t.Run(proto+"/"+tc.name, func(t *testing.T) {
				c := dialSIP(t, proto, p.Addrs[proto], nil)
				payload := tc.payload(strings.ToUpper(proto))
				payload = strings.Replace(payload, "127.0.0.1:5060", fmt.Sprintf("127.0.0.1:%d", c.LocalPort()), 1)
				pr := sendMalformed(t, c, proto, []byte(payload))
				for _, r := range pr.extra {
					switch {
					case r.StatusCode == 400:
					case want != rejected && r.StatusCode == 200 && r.Reason == "Registered By Script":
					default:
						t.Errorf("got %d %q, want %s", r.StatusCode, r.Reason, want)
					}
				}
				if want == script && (len(pr.extra) != 1 || pr.extra[0].StatusCode != 200) {
					t.Errorf("got %d replies, want exactly the script's 200", len(pr.extra))
				}
				if want == scriptOr400 && len(pr.extra) != 1 {
					t.Errorf("got %d replies, want one (400 or the script's 200)", len(pr.extra))
				}
				t.Logf("%d replies, connection closed: %v", len(pr.extra), pr.closed)
				requireServing(t, p)
			})
		}
	}
	t.Run("tcp/keep-alive CRLF then a request on the same connection", func(t *testing.T) {
		c := dialSIP(t, "tcp", p.Addrs["tcp"], nil)
		if err := c.Send([]byte("\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		raw := sipReq{Method: "REGISTER", Transport: "TCP", ViaHost: "127.0.0.1"}.String()
		if res := mustReply(t, c, raw, callIDOf(t, raw)); res.StatusCode != 200 {
			t.Fatalf("got %d, want 200", res.StatusCode)
		}
	})
	t.Run("tcp/200 KB message is refused and the connection closed", func(t *testing.T) {
		c := dialSIP(t, "tcp", p.Addrs["tcp"], nil)
		raw := strings.Replace(reg("TCP"), "Max-Forwards: 70\r\n", "X-Huge: "+strings.Repeat("h", 200000)+"\r\n", 1)
		// The server may reset the connection while we are still writing.
		_ = c.Send([]byte(raw))
		msg, err := c.Recv(5 * time.Second)
		if err == nil {
			if r, ok := msg.(*sip.Response); !ok || r.StatusCode != 400 {
				t.Fatalf("got %v, want 400 or a closed connection", msg)
			}
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection neither answered nor closed within 5s")
		}
		requireServing(t, p)
	})
	if n := p.Log.Count("panic while routing"); n != 0 {
		t.Fatalf("%d panics logged", n)
	}
}

// failures is a script whose routes fail in every way a script can.
const failures = `
function ksr_request_route()
	if KSR.is_ACK() then KSR.x.exit() end
	if KSR.is_REGISTER() then KSR.sl.send_reply(200, "Still Serving") KSR.x.exit() end
	if KSR.is_OPTIONS() then
		while true do end
	end
	if KSR.is_MESSAGE() then
		local t = nil
		return t.field
	end
	if KSR.is_SUBSCRIBE() then error("deliberate failure") end
	if KSR.is_INFO() then return end
	if KSR.is_PUBLISH() then KSR.x.drop() end
	KSR.sl.send_reply(404, "")
end
`

// TestScriptFailures: a Lua runtime error, a runaway loop and a route that
// returns without replying each get 500; a dropped request gets nothing;
// the server keeps serving.
func TestScriptFailures(t *testing.T) {
	const timeout = 50 * time.Millisecond
	dir := t.TempDir()
	scriptFile := filepath.Join(dir, "route.lua")
	writeFile(t, scriptFile, failures)
	cfg := filepath.Join(dir, "locus.yaml")
	writeFile(t, cfg, fmt.Sprintf("script: {file: %q, timeout: %s, pool: 2}\n", scriptFile, timeout))
	p := startLocus(t, "--config", cfg, "--listen", "udp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0")
	c := dialSIP(t, "udp", p.Addrs["udp"], nil)
	send := func(method string) (*sip.Response, time.Duration) {
		raw := sipReq{Method: method, ViaHost: "127.0.0.1", ViaPort: c.LocalPort()}.String()
		start := time.Now()
		return mustReply(t, c, raw, callIDOf(t, raw)), time.Since(start)
	}
	serving := func() {
		t.Helper()
		if res, _ := send("REGISTER"); res.StatusCode != 200 || res.Reason != "Still Serving" {
			t.Fatalf("REGISTER: %d %q, want 200 \"Still Serving\"", res.StatusCode, res.Reason)
		}
	}
	want500 := func(res *sip.Response) {
		t.Helper()
		if res.StatusCode != 500 || res.Reason != "Server Internal Error" {
			t.Fatalf("got %d %q, want 500 \"Server Internal Error\"", res.StatusCode, res.Reason)
		}
	}
	serving()

	t.Run("runtime error", func(t *testing.T) {
		res, _ := send("MESSAGE")
		want500(res)
		recs := p.Log.WaitCount(t, "script error", 1, time.Second)
		if e, _ := recs[len(recs)-1]["error"].(string); !strings.Contains(e, "route.lua:10:") || !strings.Contains(e, "nil") {
			t.Errorf("script error logged as %q, want route.lua:10: ... nil", e)
		}
		res, _ = send("SUBSCRIBE")
		want500(res)
		recs = p.Log.WaitCount(t, "script error", 2, time.Second)
		if e, _ := recs[len(recs)-1]["error"].(string); !strings.Contains(e, "deliberate failure") {
			t.Errorf("script error logged as %q, want the error() message", e)
		}
		serving()
	})
	t.Run("runaway loop", func(t *testing.T) {
		before := p.Log.Count("script error")
		// More runaways than the pool has states: each cancelled state
		// must be discarded and its slot freed, or the REGISTER after
		// them would find no state (503).
		fastest := time.Hour
		for i := 0; i < 3; i++ {
			res, took := send("OPTIONS")
			want500(res)
			t.Logf("runaway #%d answered after %v", i, took)
			if took < timeout-5*time.Millisecond || took > 2*time.Second {
				t.Errorf("runaway #%d answered after %v, want after the %v deadline (and not hung)", i, took, timeout)
			}
			fastest = min(fastest, took)
		}
		// The watchdog ticks every timeout/4: a runaway is cut at 1.25×
		// the deadline at worst. The fastest of three (robust to one
		// scheduling hiccup) proves the configured 50 ms applies, not
		// the 100 ms default.
		if fastest >= 2*timeout {
			t.Errorf("fastest runaway answered after %v, want under %v", fastest, 2*timeout)
		}
		recs := p.Log.WaitCount(t, "script error", before+3, time.Second)
		if e, _ := recs[len(recs)-1]["error"].(string); !strings.Contains(e, "deadline") {
			t.Errorf("runaway logged as %q, want a deadline error", e)
		}
		serving()
		// Two at once over TCP as well, then a REGISTER.
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i := range codes {
			wg.Add(1)
			tc := dialSIP(t, "tcp", p.Addrs["tcp"], nil)
			raw := sipReq{Method: "OPTIONS", Transport: "TCP", ViaHost: "127.0.0.1"}.String()
			id := callIDOf(t, raw)
			go func() {
				defer wg.Done()
				res, err := tryExchange(tc, raw, id, 5*time.Second)
				if err != nil {
					t.Errorf("concurrent runaway %d: %v", i, err)
				} else if res != nil {
					codes[i] = res.StatusCode
				}
			}()
		}
		wg.Wait()
		for i, code := range codes {
			if code != 500 {
				t.Errorf("concurrent runaway %d: got %d, want 500", i, code)
			}
		}
		serving()
	})
	t.Run("no reply", func(t *testing.T) {
		before := p.Log.Count("script returned without replying, forwarding or dropping")
		res, _ := send("INFO")
		want500(res)
		p.Log.WaitCount(t, "script returned without replying, forwarding or dropping", before+1, time.Second)
		serving()
	})
	t.Run("drop", func(t *testing.T) {
		raw := sipReq{Method: "PUBLISH", ViaHost: "127.0.0.1", ViaPort: c.LocalPort()}.String()
		pr := sendMalformed(t, c, "udp", []byte(raw))
		if len(pr.extra) != 0 {
			t.Fatalf("dropped request got %d replies (first %d), want none", len(pr.extra), pr.extra[0].StatusCode)
		}
	})
	if n := p.Log.Count("panic while routing"); n != 0 {
		t.Fatalf("%d panics logged", n)
	}
}

// TestCLI covers check, version and strict config decoding.
func TestCLI(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, content)
		return p
	}
	ok := write("ok.lua", policy)
	syntax := write("syntax.lua", "function ksr_request_route()\n\tlocal x = 1\n\tif x then KSR.sl.send_reply(200 \"OK\") end\nend\n")
	noRoute := write("noroute.lua", "function some_other_route()\n\tKSR.sl.send_reply(200, \"OK\")\nend\n")
	loadErr := write("loaderr.lua", "local a = 1\nerror(\"refuse to load\")\nfunction ksr_request_route() end\n")
	loadLoop := write("loadloop.lua", "while true do end\nfunction ksr_request_route() end\n")

	t.Run("version", func(t *testing.T) {
		out, _, code := runLocus(t, "version")
		if code != 0 || !strings.HasPrefix(out, "locus ") || len(strings.TrimSpace(out)) <= len("locus") {
			t.Fatalf("version: exit %d, stdout %q; want 0 and \"locus <version>\"", code, out)
		}
	})
	t.Run("check ok", func(t *testing.T) {
		out, errOut, code := runLocus(t, "check", ok)
		if code != 0 || !strings.Contains(out, ok+": ok") {
			t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and %q", code, out, errOut, ok+": ok")
		}
	})
	for _, tc := range []struct{ name, file, want string }{
		{"syntax error", syntax, syntax + ":3:"},
		{"no ksr_request_route", noRoute, "ksr_request_route"},
		{"error at load", loadErr, loadErr + ":2:"},
		{"loop at load", loadLoop, loadLoop + ":1: context deadline exceeded"},
		{"missing file", filepath.Join(dir, "nope.lua"), "nope.lua"},
	} {
		t.Run("check "+tc.name, func(t *testing.T) {
			out, errOut, code := runLocus(t, "check", tc.file)
			if code == 0 {
				t.Fatalf("exit 0 (stdout %q), want a failure", out)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Fatalf("stderr %q does not contain %q", errOut, tc.want)
			}
			if strings.Contains(out, ": ok") {
				t.Fatalf("stdout %q claims ok", out)
			}
		})
	}
	for _, tc := range []struct{ name, yaml, want string }{
		{"top-level key", fmt.Sprintf("script: %q\nbogus_key: 1\n", ok), "bogus_key"},
		{"script key", fmt.Sprintf("script: {file: %q, timout: 1s}\n", ok), "timout"},
		{"listen key", fmt.Sprintf("script: %q\nlisten:\n  - {socket: \"udp:127.0.0.1:0\", sertificate: x}\n", ok), "sertificate"},
		{"log key", fmt.Sprintf("script: %q\nlog: {levle: debug}\n", ok), "levle"},
	} {
		t.Run("run unknown "+tc.name, func(t *testing.T) {
			cfg := write("bad.yaml", tc.yaml)
			_, errOut, code := runLocus(t, "run", "--config", cfg, "--listen", "udp:127.0.0.1:0", "--admin", "off")
			if code == 0 {
				t.Fatalf("exit 0, want a failure naming %q", tc.want)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Fatalf("stderr %q does not name %q", errOut, tc.want)
			}
			if strings.Contains(errOut, "locus started") {
				t.Fatalf("server started despite the bad config:\n%s", errOut)
			}
		})
	}
	t.Run("run with a broken script", func(t *testing.T) {
		_, errOut, code := runLocus(t, "run", "--script", syntax, "--listen", "udp:127.0.0.1:0", "--admin", "off")
		if code == 0 || !strings.Contains(errOut, syntax+":3:") {
			t.Fatalf("exit %d, stderr %q; want a failure naming %s:3:", code, errOut, syntax)
		}
	})
}

// versioned is a policy whose REGISTER reply names its version.
func versioned(v string) string {
	return routeScript(fmt.Sprintf(`	if KSR.is_REGISTER() then KSR.sl.send_reply(200, "Policy %s") KSR.x.exit() end
	KSR.sl.send_reply(403, "Policy %s")`, v, v))
}

func hash12(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}

// awaitPolicy probes with REGISTERs until the reply names policy v, and
// fails if that takes longer than within (measured from since).
func awaitPolicy(t *testing.T, c sipConn, v string, since time.Time, within time.Duration) time.Duration {
	t.Helper()
	var last string
	for {
		raw := sipReq{Method: "REGISTER", ViaHost: "127.0.0.1", ViaPort: c.LocalPort()}.String()
		res := mustReply(t, c, raw, callIDOf(t, raw))
		last = res.Reason
		if res.StatusCode == 200 && res.Reason == "Policy "+v {
			return time.Since(since)
		}
		if time.Since(since) > within {
			t.Fatalf("policy %s not in effect %v after the change (last reply %q)", v, within, last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// holdPolicy probes for d and fails if any reply is not from policy v.
func holdPolicy(t *testing.T, c sipConn, v string, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		raw := sipReq{Method: "REGISTER", ViaHost: "127.0.0.1", ViaPort: c.LocalPort()}.String()
		if res := mustReply(t, c, raw, callIDOf(t, raw)); res.StatusCode != 200 || res.Reason != "Policy "+v {
			t.Fatalf("got %d %q, want policy %s still in effect", res.StatusCode, res.Reason, v)
		}
	}
}

// TestReloadSIGHUP: with the watcher off, a changed script takes effect on
// SIGHUP only; an unchanged one is a no-op; a broken one is refused.
func TestReloadSIGHUP(t *testing.T) {
	dir := t.TempDir()
	scriptFile := filepath.Join(dir, "route.lua")
	writeFile(t, scriptFile, versioned("v1"))
	cfg := filepath.Join(dir, "locus.yaml")
	writeFile(t, cfg, fmt.Sprintf("script: {file: %q, watch: false}\n", scriptFile))
	p := startLocus(t, "--config", cfg, "--listen", "udp:127.0.0.1:0")
	c := dialSIP(t, "udp", p.Addrs["udp"], nil)
	awaitPolicy(t, c, "v1", time.Now(), time.Second)

	v2 := versioned("v2")
	writeFile(t, scriptFile, v2)
	// The watcher is off: nothing changes until SIGHUP (longer than the
	// watcher's debounce).
	holdPolicy(t, c, "v1", 400*time.Millisecond)
	sent := time.Now()
	p.Signal(t, syscall.SIGHUP)
	took := awaitPolicy(t, c, "v2", sent, time.Second)
	t.Logf("SIGHUP reload took effect after %v", took)
	recs := p.Log.WaitCount(t, "script reloaded", 1, time.Second)
	if recs[0]["hash"] != hash12(v2) || recs[0]["generation"] != float64(2) {
		t.Errorf("reload record %v, want generation 2 and hash %s", recs[0], hash12(v2))
	}

	// Same content: SIGHUP is a no-op. Then a broken script: refused.
	p.Signal(t, syscall.SIGHUP)
	p.Log.WaitCount(t, "SIGHUP: reloading script", 2, time.Second)
	writeFile(t, scriptFile, "function ksr_request_route(\n")
	p.Signal(t, syscall.SIGHUP)
	refused := p.Log.WaitCount(t, msgRefused, 1, time.Second)
	if e, _ := refused[0]["error"].(string); !strings.Contains(e, scriptFile+":") {
		t.Errorf("refusal logged as %q, want it to name %s:line", e, scriptFile)
	}
	if n := p.Log.Count("script reloaded"); n != 1 {
		t.Errorf("%d \"script reloaded\" records, want 1 (unchanged and broken scripts do not reload)", n)
	}
	holdPolicy(t, c, "v2", 100*time.Millisecond)
}

// TestReloadWatch: the watched directory reloads the script on in-place
// writes and rename-replace; broken, route-less, looping and deleted
// scripts are refused while the previous policy keeps answering.
func TestReloadWatch(t *testing.T) {
	scriptFile := newScript(t, versioned("v1"))
	p := startLocus(t, "--script", scriptFile, "--listen", "udp:127.0.0.1:0")
	c := dialSIP(t, "udp", p.Addrs["udp"], nil)
	awaitPolicy(t, c, "v1", time.Now(), time.Second)

	reloads := 0
	apply := func(v string, write func(testing.TB, string, string)) {
		t.Helper()
		src := versioned(v)
		start := time.Now()
		write(t, scriptFile, src)
		took := awaitPolicy(t, c, v, start, time.Second)
		reloads++
		recs := p.Log.WaitCount(t, "script reloaded", reloads, time.Second)
		if got := recs[len(recs)-1]["hash"]; got != hash12(src) {
			t.Errorf("reload record hash %v, want %s", got, hash12(src))
		}
		t.Logf("%s took effect after %v", v, took)
	}
	// An in-place write can be seen half-done (see TestReloadUnderLoad),
	// so a refusal is looked for among those logged after the change.
	refuse := func(name, want string, change func()) {
		t.Helper()
		before := p.Log.Count(msgRefused)
		change()
		p.Log.WaitMatch(t, msgRefused, before, time.Second, errorContains(want))
	}

	apply("v2", writeFile)
	apply("v3", replaceFile)
	refuse("syntax error", scriptFile+":2:", func() { writeFile(t, scriptFile, "function ksr_request_route()\n\tif then\nend\n") })
	holdPolicy(t, c, "v3", 50*time.Millisecond)
	refuse("no route", "no function ksr_request_route", func() { replaceFile(t, scriptFile, "function other() end\n") })
	holdPolicy(t, c, "v3", 50*time.Millisecond)
	refuse("loop at load", scriptFile+":1: context deadline exceeded", func() { writeFile(t, scriptFile, "while true do end\n") })
	holdPolicy(t, c, "v3", 50*time.Millisecond)
	refuse("deleted", "no such file", func() {
		if err := os.Remove(scriptFile); err != nil {
			t.Fatal(err)
		}
	})
	holdPolicy(t, c, "v3", 50*time.Millisecond)
	apply("v4", writeFile)
	if n := p.Log.Count("script reloaded"); n != 3 {
		t.Errorf("%d \"script reloaded\" records, want 3", n)
	}
}

// TestListenFlagsKeepCertificates: --listen flags replace the file's
// sockets, and a TLS socket given as a flag takes the certificate of the
// file's TLS socket.
func TestListenFlagsKeepCertificates(t *testing.T) {
	dir := t.TempDir()
	cert, key, roots := selfSignedCert(t, dir)
	cfg := filepath.Join(dir, "locus.yaml")
	writeFile(t, cfg, fmt.Sprintf(`listen:
  - udp:127.0.0.1:0
  - {socket: "tls:127.0.0.1:0", cert: %q, key: %q}
script: %q
`, cert, key, newScript(t, policy)))
	p := startLocus(t, "--config", cfg, "--listen", "tls:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0")
	if _, ok := p.Addrs["udp"]; ok || len(p.Addrs) != 2 {
		t.Fatalf("listeners %v, want exactly the flags' tls and tcp", p.Addrs)
	}
	for _, proto := range []string{"tls", "tcp"} {
		c := dialSIP(t, proto, p.Addrs[proto], roots)
		raw := sipReq{Method: "REGISTER", Transport: strings.ToUpper(proto)}.String()
		if res := mustReply(t, c, raw, callIDOf(t, raw)); res.StatusCode != 200 || res.Reason != "Registered By Script" {
			t.Fatalf("%s: %d %q, want the script's 200", proto, res.StatusCode, res.Reason)
		}
	}
}

// TestReloadConfigMapSwap: a Kubernetes ConfigMap mounts the script as
// route.lua -> ..data/route.lua, and an update swaps the ..data symlink;
// no event names route.lua, yet the new script must take effect.
func TestReloadConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	publish := func(version, v string) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, version), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, version, "route.lua"), versioned(v))
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(version, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	publish("..2026_01_01", "v1")
	scriptFile := filepath.Join(dir, "route.lua")
	if err := os.Symlink(filepath.Join("..data", "route.lua"), scriptFile); err != nil {
		t.Fatal(err)
	}
	p := startLocus(t, "--script", scriptFile, "--listen", "udp:127.0.0.1:0")
	c := dialSIP(t, "udp", p.Addrs["udp"], nil)
	awaitPolicy(t, c, "v1", time.Now(), time.Second)
	start := time.Now()
	publish("..2026_01_02", "v2")
	if err := os.RemoveAll(filepath.Join(dir, "..2026_01_01")); err != nil {
		t.Fatal(err)
	}
	t.Logf("symlink swap took effect after %v", awaitPolicy(t, c, "v2", start, time.Second))
	recs := p.Log.WaitCount(t, "script reloaded", 1, time.Second)
	if recs[0]["hash"] != hash12(versioned("v2")) {
		t.Errorf("reload record %v, want hash %s", recs[0], hash12(versioned("v2")))
	}
}
