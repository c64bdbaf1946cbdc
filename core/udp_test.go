package core_test

import (
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/sipparse"
	"github.com/prometheus/client_golang/prometheus"
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

// TestUDPSources: requests from two sources in turn, to one worker, each
// see their own source and are answered there.
func TestUDPSources(t *testing.T) {
	addr := startUDP(t, routerFunc(func(m *core.Msg) error {
		return m.Reply(200, "OK", sip.NewHeader("X-Source", m.SourceAddr()))
	}))
	dst, _ := net.ResolveUDPAddr("udp", addr)
	a, b := udpConn(t), udpConn(t)
	for i := range 6 {
		c := a
		if i%3 == 2 {
			c = b
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		if _, err := c.WriteToUDP([]byte(register(port+1, "s"+strconv.Itoa(i), true)), dst); err != nil {
			t.Fatal(err)
		}
		res := readReply(t, c)
		want := c.LocalAddr().String()
		if got := res.GetHeader("X-Source"); got == nil || got.Value() != want {
			t.Fatalf("request %d from %s: the script saw %v", i, want, got)
		}
		if rport, _ := res.Via().Params.Get("rport"); rport != strconv.Itoa(port) {
			t.Fatalf("request %d: rport=%s, want %d", i, rport, port)
		}
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

// TestUDPShedsStaleRequests: while the only worker is busy, requests wait
// in the socket buffer; one that waited longer than the queue-delay limit
// is dropped unread (and counted), an ACK is never shed, and a fresh
// request afterwards is answered.
func TestUDPShedsStaleRequests(t *testing.T) {
	release := make(chan struct{})
	routed := make(chan string, 8)
	eng := core.NewEngine(routerFunc(func(m *core.Msg) error {
		id := m.Req.CallID().Value()
		routed <- id
		if id == "busy" {
			<-release
		}
		if m.Req.IsAck() {
			return nil
		}
		return m.Reply(200, "OK")
	}), slog.New(slog.DiscardHandler), 0, "locus")
	reg := prometheus.NewRegistry()
	eng.SetMetrics(core.NewMetrics(reg, eng))
	srv, err := core.NewServer(eng, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetUDPWorkers(1)
	srv.SetUDPMaxQueueDelay(30 * time.Millisecond)
	if err := srv.Listen([]core.Listen{{Socket: "udp:127.0.0.1:0"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	dst, _ := net.ResolveUDPAddr("udp", strings.TrimPrefix(srv.Addrs()[0], "udp:"))
	c := udpConn(t)
	port := c.LocalAddr().(*net.UDPAddr).Port
	send := func(s string) {
		t.Helper()
		if _, err := c.WriteToUDP([]byte(s), dst); err != nil {
			t.Fatal(err)
		}
	}

	send(register(port, "busy", true))
	if id := <-routed; id != "busy" {
		t.Fatalf("routed %s", id)
	}
	send(register(port, "stale", true))
	ack := strings.Replace(strings.Replace(register(port, "ack", true), "REGISTER sip:", "ACK sip:", 1), "CSeq: 1 REGISTER", "CSeq: 1 ACK", 1)
	send(ack)
	time.Sleep(100 * time.Millisecond) // both wait in the socket
	close(release)
	if res := readReply(t, c); res.CallID().Value() != "busy" {
		t.Fatalf("first reply for %s", res.CallID().Value())
	}
	if id := <-routed; id != "ack" {
		t.Fatalf("routed %s after the busy request, want the ACK (the stale REGISTER shed)", id)
	}
	send(register(port, "fresh", true))
	if res := readReply(t, c); res.CallID().Value() != "fresh" {
		t.Fatalf("reply for %s, want fresh", res.CallID().Value())
	}
	if n := counterValue(t, reg, "locus_core_udp_shed_total"); n != 1 {
		t.Fatalf("shed counter %v, want 1", n)
	}
}

// counterValue reads a registered counter by name.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return mf.Metric[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}

// A request whose Msg was retained keeps its memory after routing; the
// listener reuses (or, with LOCUS_ZERO_RELEASED_REQUESTS, zeroes) the
// memory of the others.
func TestUDPRetainedRequest(t *testing.T) {
	kept := make(chan *core.Msg, 1)
	addr := startUDP(t, routerFunc(func(m *core.Msg) error {
		if m.Req.CallID().Value() == "keep" {
			m.Retain()
			kept <- m
		}
		return m.Reply(200, "OK")
	}))
	dst, _ := net.ResolveUDPAddr("udp", addr)
	c := udpConn(t)
	port := c.LocalAddr().(*net.UDPAddr).Port
	for _, id := range []string{"keep", "r1", "r2", "r3", "r4", "r5"} {
		if _, err := c.WriteToUDP([]byte(register(port, id, true)), dst); err != nil {
			t.Fatal(err)
		}
		if res := readReply(t, c); res.CallID().Value() != id {
			t.Fatalf("reply for %s: %s", id, res.CallID().Value())
		}
	}
	m := <-kept
	if m.Req.Method != sip.REGISTER || m.Req.CallID() == nil || m.Req.CallID().Value() != "keep" ||
		m.Req.Via() == nil || m.Req.Via().Params.GetOr("branch", "") != "z9hG4bK-keep" {
		t.Fatalf("the retained request changed after routing: %s", m.Req.String())
	}
}

// TestUDPMsgReuse: a Msg nothing retained carries the next request its
// worker reads, and a retained one (TestUDPRetainedRequest) does not.
// Under LOCUS_ZERO_RELEASED_REQUESTS every request gets a new Msg, so
// that code keeping one without Retain finds it emptied. Only the
// pointers are compared: reading a Msg after its route would race with
// its reuse, which is the point.
func TestUDPMsgReuse(t *testing.T) {
	// More requests than workers read at once (one per two CPUs): one
	// worker handles two of them, whichever way the reads go round.
	n := runtime.GOMAXPROCS(0) + 2
	seen := make(chan *core.Msg, 1)
	addr := startUDP(t, routerFunc(func(m *core.Msg) error {
		seen <- m
		return m.Reply(200, "OK")
	}))
	dst, _ := net.ResolveUDPAddr("udp", addr)
	c := udpConn(t)
	port := c.LocalAddr().(*net.UDPAddr).Port
	msgs := map[*core.Msg]int{}
	for i := range n {
		id := "r" + strconv.Itoa(i)
		if _, err := c.WriteToUDP([]byte(register(port, id, true)), dst); err != nil {
			t.Fatal(err)
		}
		if res := readReply(t, c); res.CallID().Value() != id {
			t.Fatalf("reply for %s: %s", id, res.CallID().Value())
		}
		msgs[<-seen]++
	}
	if sipparse.ZeroReleased() {
		if len(msgs) != n {
			t.Fatalf("%d requests had %d Msgs with LOCUS_ZERO_RELEASED_REQUESTS set, want one each", n, len(msgs))
		}
	} else if len(msgs) == n {
		t.Fatalf("%d requests had %d Msgs: none was reused", n, len(msgs))
	}
}
