package core

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core/sipparse"
)

// replySeeds are requests whose replies exercise every branch of
// writeReply: rport with and without a value, received already there or
// needed, a sent-by that is the source, several and compact Vias, a To
// with and without tag and parameters, Record-Route on a dialog reply,
// Timestamp on a 100, IPv6.
var replySeeds = append([]string{
	"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.99:5099;branch=z9hG4bK-a;rport=1234;received=192.0.2.1\r\n" +
		"Via: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK-b\r\nRecord-Route: <sip:p1.example.com;lr>\r\nRecord-Route: <sip:p2.example.com;lr>\r\n" +
		"From: \"A\" <sip:a@example.com>;tag=f\r\nTo: \"B\" <sip:bob@example.com>;x=1\r\nCall-ID: cid\r\nCSeq: 5 INVITE\r\n" +
		"Timestamp: 54.1\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
	"BYE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.99:5099;rport;branch=z9hG4bK-c;rport\r\nf: <sip:a@example.com>;tag=f\r\n" +
		"t: <sip:bob@example.com>;tag=t\r\ni: cid2\r\nCSeq: 6 BYE\r\nl: 0\r\n\r\n",
	"OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP phone.example.com;branch=z9hG4bK-d;received=198.51.100.1\r\n" +
		"From: <sip:a@example.com>;tag=f\r\nTo: <sip:example.com>\r\nCall-ID: cid3\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
	"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP [2001:db8::7]:5070;branch=z9hG4bK-e\r\n" +
		"From: <sip:a@example.com>;tag=f\r\nTo: <sip:a@example.com>\r\nCall-ID: cid4\r\nCSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n",
}, wireSeeds[0], wireSeeds[1], wireSeeds[3])

// replyVariant is what a reply depends on besides the request, picked by
// the bits of one fuzzed byte.
type replyVariant struct {
	code       int
	reason     string
	src        string
	forceRport bool
	server     string
	replyHdrs  []sip.Header
	hdrs       []sip.Header
}

var replyCodes = []int{100, 180, 183, 200, 202, 401, 404, 486, 500, 603}

func variantOf(code uint8, bits uint8) replyVariant {
	v := replyVariant{code: replyCodes[int(code)%len(replyCodes)], src: "192.0.2.99:5099"}
	if bits&1 != 0 {
		v.reason = "Custom Reason"
	}
	switch bits >> 1 & 3 {
	case 1:
		v.src = "[2001:db8::7]:5070"
	case 2:
		v.src = "[::ffff:192.0.2.99]:5099"
	case 3:
		v.src = "198.51.100.1:40000"
	}
	v.forceRport = bits&8 != 0
	if bits&16 != 0 {
		v.server = "locus test"
	}
	if bits&32 != 0 {
		v.replyHdrs = []sip.Header{sip.NewHeader("X-Reply", "1")}
	}
	if bits&64 != 0 {
		v.hdrs = []sip.Header{sip.NewHeader("Contact", "<sip:a@192.0.2.99>;expires=60"), sip.NewHeader("Date", "x")}
	}
	return v
}

// checkReplyPaths requires writeReply to write, byte for byte, what Reply
// sends through newResponse, Send and WriteMessage, and to the same
// destination.
func checkReplyPaths(t *testing.T, raw []byte, v replyVariant) {
	t.Helper()
	parse := func() *sip.Request {
		req, err := sipparse.ParseRequest(raw)
		if err != nil {
			return nil
		}
		req.SetSource(v.src)
		req.SetTransport("UDP")
		return req
	}
	req := parse()
	if req == nil || req.Via() == nil || req.IsAck() || hasContentLength(v.hdrs) {
		return
	}
	var sent *sip.Response
	old := NewMsg(req, func(res *sip.Response) error { sent = res; return nil })
	old.ForceRport, old.Server, old.ReplyHeaders = v.forceRport, v.server, v.replyHdrs
	if err := old.Reply(v.code, v.reason, v.hdrs...); err != nil {
		t.Fatalf("Reply: %v", err)
	}
	var want bytes.Buffer
	WriteMessage(&want, sent)

	fast := NewMsg(parse(), nil)
	fast.ForceRport, fast.Server, fast.ReplyHeaders = v.forceRport, v.server, v.replyHdrs
	reason, err := fast.replyReason(v.code, v.reason)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	port := fast.writeReply(&got, v.code, reason, v.hdrs)
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("writeReply:\n%q\nReply:\n%q", got.String(), want.String())
	}
	if dst := joinHostPort(fast.SrcIP, port); dst != sent.Destination() {
		t.Fatalf("writeReply sends to %s, Reply to %s", dst, sent.Destination())
	}
}

func TestWriteReplyMatchesReply(t *testing.T) {
	for _, s := range replySeeds {
		for code := range replyCodes {
			for bits := range 128 {
				checkReplyPaths(t, []byte(s), variantOf(uint8(code), uint8(bits)))
			}
		}
	}
}

// FuzzWriteReply: for any request the parser takes, the reply the UDP
// listener writes itself is the one Reply builds.
func FuzzWriteReply(f *testing.F) {
	for i, s := range replySeeds {
		f.Add([]byte(s), uint8(i), uint8(i*37))
	}
	f.Fuzz(func(t *testing.T, raw []byte, code, bits uint8) {
		checkReplyPaths(t, raw, variantOf(code, bits))
	})
}

// registerReply returns a phone's REGISTER as the UDP listener passes it
// on, and the Contact a registrar's 200 OK adds.
func registerReply(tb testing.TB) (*sip.Request, []sip.Header) {
	tb.Helper()
	req, err := sipparse.ParseRequest([]byte(wireSeeds[0]))
	if err != nil {
		tb.Fatal(err)
	}
	req.SetSource("192.0.2.10:5060")
	req.SetTransport("UDP")
	return req, []sip.Header{sip.NewHeader("Contact", "<sip:alice@192.0.2.10:5060>;expires=3600")}
}

// TestWriteReplyAllocations: the registrar's 200 OK is written without an
// allocation.
func TestWriteReplyAllocations(t *testing.T) {
	req, hdrs := registerReply(t)
	m := NewMsg(req, nil)
	m.Server = "locus"
	var w bytes.Buffer
	if n := testing.AllocsPerRun(100, func() { w.Reset(); m.writeReply(&w, 200, "OK", hdrs) }); n != 0 {
		t.Fatalf("%v allocations per reply", n)
	}
}

// TestUDPReplyPath: a reply sent on the UDP listener takes the direct
// path, and a request whose replies a transaction took over does not.
func TestUDPReplyPath(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	l := newUDPListener(conn, nil, nil, 1)
	defer l.close()
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	src := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	raw := strings.Replace(wireSeeds[0], "192.0.2.10:5060;branch=z9hG4bK-1;rport", src.String()+";branch=z9hG4bK-1;rport", 1)
	newMsg := func() *Msg {
		req, err := sipparse.ParseRequest([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		req.SetSource(src.String())
		req.SetTransport("UDP")
		m := NewMsg(req, func(*sip.Response) error { t.Error("the direct path built a response"); return nil })
		m.udp, m.src = l, src
		return m
	}
	m := newMsg()
	if err := m.Reply(200, "OK"); err != nil {
		t.Fatal(err)
	}
	if err := m.Reply(200, "OK"); err != ErrReplied {
		t.Fatalf("second final reply: %v, want ErrReplied", err)
	}
	if m.ReplyCode() != 200 {
		t.Fatalf("ReplyCode %d", m.ReplyCode())
	}
	buf := make([]byte, 2048)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if from != conn.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("reply from %v", from)
	}
	got := string(buf[:n])
	via := "Via: SIP/2.0/UDP " + src.String() + ";branch=z9hG4bK-1;rport=" + strconv.Itoa(int(src.Port())) + ";received=127.0.0.1\r\n"
	if !strings.HasPrefix(got, "SIP/2.0 200 OK\r\n"+via) || !strings.HasSuffix(got, "Content-Length: 0\r\n\r\n") {
		t.Fatalf("reply: %q", got)
	}

	var through *sip.Response
	m = newMsg()
	m.SetResponder(func(res *sip.Response) error { through = res; return nil })
	if err := m.Reply(486, "Busy Here"); err != nil {
		t.Fatal(err)
	}
	if through == nil || through.StatusCode != 486 {
		t.Fatalf("a replaced responder did not get the reply: %v", through)
	}
}

// BenchmarkReply compares the UDP listener's direct reply with a
// sip.Response built and serialised, for a registrar's 200 OK.
func BenchmarkReply(b *testing.B) {
	req, hdrs := registerReply(b)
	var w bytes.Buffer
	b.Run("response", func(b *testing.B) {
		for b.Loop() {
			m := Msg{Req: req, SrcIP: "192.0.2.10", SrcPort: 5060, Transport: "udp", Server: "locus"}
			m.respond = func(res *sip.Response) error {
				if _, err := netip.ParseAddrPort(res.Destination()); err != nil {
					return err
				}
				w.Reset()
				WriteMessage(&w, res)
				return nil
			}
			if err := m.Reply(200, "OK", hdrs...); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			m := Msg{Req: req, SrcIP: "192.0.2.10", SrcPort: 5060, Transport: "udp", Server: "locus"}
			reason, _ := m.replyReason(200, "OK")
			if err := m.claimReply(200); err != nil {
				b.Fatal(err)
			}
			w.Reset()
			_ = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, 10}), uint16(m.writeReply(&w, 200, reason, hdrs)))
		}
	})
}
