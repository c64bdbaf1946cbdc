package core_test

import (
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
)

func startUDP(t *testing.T, r core.Router) string {
	t.Helper()
	eng := core.NewEngine(r, slog.New(slog.DiscardHandler), 0, "locus")
	srv, err := core.NewServer(eng, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetUDPWorkers(2)
	if err := srv.Listen([]core.Listen{{Socket: "udp:127.0.0.1:0"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return strings.TrimPrefix(srv.Addrs()[0], "udp:")
}

func udpConn(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func register(viaPort int, callID string, rport bool) string {
	r := ""
	if rport {
		r = ";rport"
	}
	return "REGISTER sip:example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:" + strconv.Itoa(viaPort) + ";branch=z9hG4bK-" + callID + r + "\r\n" +
		"From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: " + callID + "\r\n" +
		"CSeq: 1 REGISTER\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
}

func readReply(t *testing.T, c *net.UDPConn) *sip.Response {
	t.Helper()
	buf := make([]byte, 65535)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	msg, err := sip.ParseMessage(buf[:n])
	if err != nil {
		t.Fatalf("unparsable reply: %v\n%s", err, buf[:n])
	}
	res, ok := msg.(*sip.Response)
	if !ok {
		t.Fatalf("not a response: %s", buf[:n])
	}
	return res
}

func TestUDPListener(t *testing.T) {
	addr := startUDP(t, routerFunc(func(m *core.Msg) error {
		if m.Transport != "udp" || m.LocalPort == 0 || m.SrcIP != "127.0.0.1" {
			return m.Reply(500, "bad view")
		}
		return m.Reply(200, "OK")
	}))
	dst, _ := net.ResolveUDPAddr("udp", addr)
	c := udpConn(t)
	port := c.LocalAddr().(*net.UDPAddr).Port

	send := func(s string) {
		if _, err := c.WriteToUDP([]byte(s), dst); err != nil {
			t.Fatal(err)
		}
	}
	send(register(port, "u1", true))
	if res := readReply(t, c); res.StatusCode != 200 || res.CallID().Value() != "u1" {
		t.Fatalf("reply %s", res.StartLine())
	}
	// Garbage, keep-alives and a huge datagram are dropped; serving goes on.
	send("garbage that is not SIP\r\n\r\n")
	send("\r\n\r\n")
	send(strings.Repeat("x", 60000))
	send(register(port, "u2", true))
	if res := readReply(t, c); res.StatusCode != 200 || res.CallID().Value() != "u2" {
		t.Fatalf("after garbage: %s %s", res.StartLine(), res.CallID().Value())
	}

	// Without rport the reply goes to the Via port, not the source port.
	other := udpConn(t)
	send(register(other.LocalAddr().(*net.UDPAddr).Port, "u3", false))
	if res := readReply(t, other); res.CallID().Value() != "u3" {
		t.Fatalf("reply to Via port: %s", res.CallID().Value())
	}
}

func TestUDPMissingHeaders(t *testing.T) {
	routed := make(chan string, 4)
	addr := startUDP(t, routerFunc(func(m *core.Msg) error {
		routed <- m.Req.CallID().Value()
		return m.Reply(200, "OK")
	}))
	dst, _ := net.ResolveUDPAddr("udp", addr)
	c := udpConn(t)
	port := c.LocalAddr().(*net.UDPAddr).Port
	// Without Via there is nowhere to reply: dropped, never routed.
	noVia := strings.Replace(register(port, "m0", true), "Via: SIP/2.0/UDP 127.0.0.1:"+strconv.Itoa(port)+";branch=z9hG4bK-m0;rport\r\n", "", 1)
	if noVia == register(port, "m0", true) {
		t.Fatal("test bug: Via not removed")
	}
	if _, err := c.WriteToUDP([]byte(noVia), dst); err != nil {
		t.Fatal(err)
	}
	noCSeq := strings.Replace(register(port, "m1", true), "CSeq: 1 REGISTER\r\n", "", 1)
	if _, err := c.WriteToUDP([]byte(noCSeq), dst); err != nil {
		t.Fatal(err)
	}
	if res := readReply(t, c); res.StatusCode != 400 || res.CallID() == nil || res.CallID().Value() != "m1" {
		t.Fatalf("missing CSeq: %s (the datagram without Via must get nothing)", res.StartLine())
	}
	select {
	case id := <-routed:
		t.Fatalf("request without CSeq reached the script (%s)", id)
	default:
	}
}
