package tm_test

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/tm"
)

// benchPhone is a UDP endpoint that speaks SIP as text, without parsing:
// the benchmark measures locus, not the phones.
type benchPhone struct {
	b    *testing.B
	conn *net.UDPConn
	addr string
	buf  []byte
}

func newBenchPhone(b *testing.B) *benchPhone {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return &benchPhone{b: b, conn: c, addr: c.LocalAddr().String(), buf: make([]byte, 65535)}
}

func (p *benchPhone) send(to *net.UDPAddr, raw string) {
	if _, err := p.conn.WriteToUDP([]byte(raw), to); err != nil {
		p.b.Fatal(err)
	}
}

// recv returns the next message whose first line starts with prefix,
// skipping others (100 Trying).
func (p *benchPhone) recv(prefix string) string {
	for {
		_ = p.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := p.conn.ReadFromUDP(p.buf)
		if err != nil {
			p.b.Fatalf("%s: waiting for %q: %v", p.addr, prefix, err)
		}
		s := string(p.buf[:n])
		if strings.HasPrefix(s, prefix) {
			return s
		}
		if strings.HasPrefix(s, "SIP/2.0 100 ") {
			continue
		}
		p.b.Fatalf("%s: want %q, got:\n%s", p.addr, prefix, s)
	}
}

// headers returns the lines of msg whose header name is one of names, in order.
func headers(msg string, names ...string) string {
	var b strings.Builder
	for _, line := range strings.Split(msg, "\r\n") {
		name, _, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for _, n := range names {
			if strings.EqualFold(name, n) {
				b.WriteString(line)
				b.WriteString("\r\n")
				break
			}
		}
	}
	return b.String()
}

// reply answers req with code; the To gets tag when it has none.
func reply(req string, code int, reason, extra string) string {
	h := headers(req, "Via", "Record-Route", "From", "Call-ID", "CSeq")
	to := strings.TrimSuffix(headers(req, "To"), "\r\n")
	if code > 100 && !strings.Contains(to, "tag=") {
		to += ";tag=callee"
	}
	return fmt.Sprintf("SIP/2.0 %d %s\r\n%s%s\r\n%sContent-Length: 0\r\n\r\n", code, reason, h, to, extra)
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// BenchmarkRelayInvite drives whole calls through locus on loopback, one
// at a time: INVITE/100/180/200 relayed with a transaction, the ACK and
// the BYE/200 along the Record-Route set. cpu-µs/op is the CPU of the
// whole test process (locus and both phones) per call.
func BenchmarkRelayInvite(b *testing.B) {
	px := startProxy(b, routeScript, "")
	regPhone := newPhone(b, "bob")
	caller, callee := newBenchPhone(b), newBenchPhone(b)
	regPhone.register(px, "bob", "sip:bob@"+callee.addr, "")
	proxyAddr, err := net.ResolveUDPAddr("udp", px.udp)
	if err != nil {
		b.Fatal(err)
	}

	call := func(i int) {
		callID := fmt.Sprintf("bench-%d", i)
		caller.send(proxyAddr, crlf(fmt.Sprintf(`INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP %s;branch=z9hG4bK-inv-%d;rport
Max-Forwards: 70
From: <sip:alice@example.com>;tag=a%d
To: <sip:bob@example.com>
Call-ID: %s
CSeq: 1 INVITE
Contact: <sip:alice@%s>
Content-Type: application/sdp
Content-Length: 5

v=0
`, caller.addr, i, i, callID, caller.addr)))
		inv := callee.recv("INVITE ")
		callee.send(proxyAddr, reply(inv, 180, "Ringing", ""))
		caller.recv("SIP/2.0 180 ")
		callee.send(proxyAddr, reply(inv, 200, "OK", "Contact: <sip:bob@"+callee.addr+">\r\n"))
		ok := caller.recv("SIP/2.0 200 ")
		rr := headers(ok, "Record-Route")
		route := strings.ReplaceAll(rr, "Record-Route:", "Route:")
		from := strings.TrimSuffix(headers(ok, "From"), "\r\n")
		to := strings.TrimSuffix(headers(ok, "To"), "\r\n")
		caller.send(proxyAddr, crlf(fmt.Sprintf(`ACK sip:bob@%s SIP/2.0
Via: SIP/2.0/UDP %s;branch=z9hG4bK-ack-%d;rport
`, callee.addr, caller.addr, i))+route+crlf(fmt.Sprintf(`Max-Forwards: 70
%s
%s
Call-ID: %s
CSeq: 1 ACK
Content-Length: 0

`, from, to, callID)))
		callee.recv("ACK ")
		callee.send(proxyAddr, crlf(fmt.Sprintf(`BYE sip:alice@%s SIP/2.0
Via: SIP/2.0/UDP %s;branch=z9hG4bK-bye-%d;rport
`, caller.addr, callee.addr, i))+route+crlf(fmt.Sprintf(`Max-Forwards: 70
From: %s
To: %s
Call-ID: %s
CSeq: 2 BYE
Content-Length: 0

`, strings.TrimPrefix(to, "To: "), strings.TrimPrefix(from, "From: "), callID)))
		bye := caller.recv("BYE ")
		caller.send(proxyAddr, reply(bye, 200, "OK", ""))
		callee.recv("SIP/2.0 200 ")
	}

	call(-1) // warm up
	b.ReportAllocs()
	cpu0 := processCPU()
	for i := 0; b.Loop(); i++ {
		call(i)
	}
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIntercept is what tm costs every request that has no
// transaction (a registrar answering statelessly), with none in progress.
func BenchmarkIntercept(b *testing.B) {
	t := tm.New()
	m, _ := coretest.Msg(b, coretest.Register)
	b.ReportAllocs()
	for b.Loop() {
		if t.Intercept(m) {
			b.Fatal("intercepted a request without a transaction")
		}
	}
}
