package tm_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/core/script"
	_ "github.com/locus-sip/locus/modules/hdr"
	_ "github.com/locus-sip/locus/modules/pv"
	_ "github.com/locus-sip/locus/modules/registrar"
	_ "github.com/locus-sip/locus/modules/rr"
	_ "github.com/locus-sip/locus/modules/siputils"
	_ "github.com/locus-sip/locus/modules/sl"
	_ "github.com/locus-sip/locus/modules/store/memstore"
	"github.com/locus-sip/locus/modules/tm"
	_ "github.com/locus-sip/locus/modules/usrloc"
)

// proxy is a running locus core (real sockets on loopback) with tm.
type proxy struct {
	udp, tcp string // "127.0.0.1:port"
	tm       *tm.TM
	host     *core.Host
}

// routeScript is a proxy for registered users, as an operator writes it.
const routeScript = `
function ksr_request_route()
	if KSR.is_CANCEL() then
		if KSR.tm.t_check_trans() > 0 then
			KSR.tm.t_relay()
		else
			KSR.sl.sl_send_reply(481, "Call/Transaction Does Not Exist")
		end
		return
	end
	if KSR.siputils.has_totag() > 0 then
		if KSR.rr.loose_route() > 0 then
			if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
			return
		end
		if KSR.is_ACK() then return end
		KSR.sl.sl_send_reply(404, "Not here")
		return
	end
	if KSR.is_REGISTER() then
		KSR.registrar.save("location", 0)
		return
	end
	if KSR.is_INVITE() then KSR.rr.record_route() end
	local rc = KSR.registrar.lookup("location")
	if rc < 0 then
		KSR.sl.send_reply(404, "Not Found")
		return
	end
	ROUTE_HOOK()
	if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
end

function ROUTE_HOOK() end
`

const baseConfig = `store: "memory:"
modules:
  registrar:
    domains: ["*"]
    min_expires: 1
  tm:
    fr_timer: 2s
    fr_inv_timer: 3s
    wait_timer: 200ms
`

func startProxy(t testing.TB, src, yml string) *proxy {
	t.Helper()
	if yml == "" {
		yml = baseConfig
	}
	h, err := coretest.LoadModules(t, yml)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		// Not t.Log: sipgo keeps the first server's logger for the process.
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	rt, err := script.New(script.Options{File: coretest.WriteScript(t, src), Exports: script.ExportsOf(h.Modules()), PoolSize: 4, Log: log, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	h.SetScript(rt)
	eng := core.NewEngine(rt, log, 0, "locus-test")
	srv, err := core.NewServer(eng, log)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetUDPWorkers(4)
	h.SetOutbound(srv)
	mod, _ := h.Module("tm")
	tmm := mod.(*tm.TM)
	eng.SetTransactions(tmm, tmm)
	if err := srv.Listen([]core.Listen{{Socket: "udp:127.0.0.1:0"}, {Socket: "tcp:127.0.0.1:0"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	p := &proxy{tm: tmm, host: h}
	for _, a := range srv.Addrs() {
		proto, addr, _ := strings.Cut(a, ":")
		switch proto {
		case "udp":
			p.udp = addr
		case "tcp":
			p.tcp = addr
		}
	}
	return p
}

// phone is a SIP endpoint on loopback that speaks raw SIP over UDP, or
// over one TCP connection.
type phone struct {
	t    testing.TB
	name string
	udp  *net.UDPConn
	tcp  net.Conn
	addr string // local "ip:port"
	in   chan sip.Message
	seq  atomic.Int64
	// seen holds the requests received (method and top Via branch), so
	// that a retransmission of one is skipped; used by the test goroutine.
	seen map[string]bool
}

func newPhone(t testing.TB, name string) *phone {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &phone{t: t, name: name, udp: c, addr: c.LocalAddr().String(), in: make(chan sip.Message, 64)}
	t.Cleanup(func() { c.Close() })
	go func() {
		parser := sip.NewParser()
		buf := make([]byte, 65535)
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			msg, err := parser.ParseSIP(append([]byte(nil), buf[:n]...))
			if err != nil {
				continue
			}
			p.in <- msg
		}
	}()
	return p
}

// newTCPPhone connects to the proxy's TCP socket; its Contact port is a
// port nothing listens on, as behind NAT.
func newTCPPhone(t testing.TB, name, proxyTCP string) *phone {
	t.Helper()
	c, err := net.Dial("tcp", proxyTCP)
	if err != nil {
		t.Fatal(err)
	}
	p := &phone{t: t, name: name, tcp: c, addr: c.LocalAddr().String(), in: make(chan sip.Message, 64)}
	t.Cleanup(func() { c.Close() })
	go func() {
		r := bufio.NewReader(c)
		parser := sip.NewParser()
		for {
			raw, err := readStreamMessage(r)
			if err != nil {
				return
			}
			msg, err := parser.ParseSIP(raw)
			if err != nil {
				continue
			}
			p.in <- msg
		}
	}()
	return p
}

// readStreamMessage reads one message framed by Content-Length.
func readStreamMessage(r *bufio.Reader) ([]byte, error) {
	var head strings.Builder
	clen := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if head.Len() == 0 && strings.TrimSpace(line) == "" {
			continue // keep-alive
		}
		head.WriteString(line)
		if strings.TrimSpace(line) == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
			clen, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, clen)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append([]byte(head.String()), body...), nil
}

func (p *phone) proto() string {
	if p.tcp != nil {
		return "TCP"
	}
	return "UDP"
}

// send writes raw SIP (LF line ends are turned into CRLF).
func (p *phone) send(to, raw string) {
	p.t.Helper()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	var err error
	if p.tcp != nil {
		_, err = p.tcp.Write([]byte(raw))
	} else {
		var ua *net.UDPAddr
		ua, err = net.ResolveUDPAddr("udp", to)
		if err == nil {
			_, err = p.udp.WriteToUDP([]byte(raw), ua)
		}
	}
	if err != nil {
		p.t.Fatalf("%s: send: %v", p.name, err)
	}
}

func (p *phone) sendMsg(to string, m sip.Message) { p.send(to, m.String()) }

// register binds sip:<user>@example.com to this phone (contact: its own
// address, or contactHost:port when set).
func (p *phone) register(px *proxy, user, contact string, extra string) {
	p.t.Helper()
	if contact == "" {
		contact = "sip:" + user + "@" + p.addr
	}
	to := px.udp
	if p.tcp != nil {
		to = px.tcp
	}
	n := p.seq.Add(1)
	p.send(to, fmt.Sprintf(`REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/%s %s;branch=z9hG4bK-reg-%s-%d;rport
Max-Forwards: 70
From: <sip:%s@example.com>;tag=r%d
To: <sip:%s@example.com>
Call-ID: reg-%s-%s
CSeq: %d REGISTER
Contact: <%s>%s
Expires: 300
Content-Length: 0

`, p.proto(), p.addr, p.name, n, user, n, user, p.name, user, n, contact, extra))
	res := p.expectResponse(200, 2*time.Second)
	_ = res
}

// invite sends an INVITE for sip:<user>@example.com through the proxy.
func (p *phone) invite(to, user, callID string) *sip.Request {
	p.t.Helper()
	n := p.seq.Add(1)
	raw := fmt.Sprintf(`INVITE sip:%s@example.com SIP/2.0
Via: SIP/2.0/%s %s;branch=z9hG4bK-inv-%s-%d;rport
Max-Forwards: 70
From: <sip:%s@example.com>;tag=f%d
To: <sip:%s@example.com>
Call-ID: %s
CSeq: 1 INVITE
Contact: <sip:%s@%s>
Content-Type: application/sdp
Content-Length: 5

v=0
`, user, p.proto(), p.addr, p.name, n, p.name, n, user, callID, p.name, p.addr)
	p.send(to, raw)
	req, err := coretest.ParseRequest(strings.ReplaceAll(raw, "\n", "\r\n"))
	if err != nil {
		p.t.Fatal(err)
	}
	return req
}

// cancel sends the CANCEL of an INVITE this phone sent.
func (p *phone) cancel(to string, inv *sip.Request) {
	p.t.Helper()
	c := sip.NewRequest(sip.CANCEL, inv.Recipient)
	c.AppendHeader(inv.Via().Clone())
	c.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	c.AppendHeader(sip.HeaderClone(inv.From()))
	c.AppendHeader(sip.HeaderClone(inv.To()))
	c.AppendHeader(sip.HeaderClone(inv.CallID()))
	c.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	c.AppendHeader(sip.NewHeader("Content-Length", "0"))
	p.sendMsg(to, c)
}

// next returns the next message, failing after timeout.
func (p *phone) next(timeout time.Duration) sip.Message {
	p.t.Helper()
	select {
	case m := <-p.in:
		return m
	case <-time.After(timeout):
		p.t.Fatalf("%s: nothing received in %s", p.name, timeout)
		return nil
	}
}

// expectRequest waits for a request of method, skipping responses
// listed in skip (code) and failing on anything else.
func (p *phone) expectRequest(method sip.RequestMethod, timeout time.Duration) *sip.Request {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := p.next(time.Until(deadline))
		if r, ok := m.(*sip.Request); ok {
			key := string(r.Method) + " " + mustParam(r.Via(), "branch")
			if p.seen == nil {
				p.seen = map[string]bool{}
			}
			if p.seen[key] && r.Method != method {
				continue // a retransmission (UDP, Timer A/E) of one already seen
			}
			p.seen[key] = true
			if r.Method == method {
				return r
			}
		}
		if r, ok := m.(*sip.Response); ok && r.StatusCode == 100 {
			continue
		}
		p.t.Fatalf("%s: want %s, got:\n%s", p.name, method, m.String())
	}
}

// expectResponse waits for a response with code, skipping 100 Trying.
func (p *phone) expectResponse(code int, timeout time.Duration) *sip.Response {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := p.next(time.Until(deadline))
		if r, ok := m.(*sip.Response); ok {
			if r.StatusCode == code {
				return r
			}
			if r.StatusCode == 100 && code != 100 {
				continue
			}
		}
		p.t.Fatalf("%s: want %d, got:\n%s", p.name, code, m.String())
	}
}

// quiet checks that nothing arrives for d.
func (p *phone) quiet(d time.Duration) {
	p.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-p.in:
			if r, ok := m.(*sip.Response); ok && r.StatusCode == 100 {
				continue
			}
			p.t.Fatalf("%s: unexpected message:\n%s", p.name, m.String())
		case <-deadline:
			return
		}
	}
}

// reply answers a request received from the proxy, back to the proxy
// (the top Via). A To tag is added to non-100 responses.
func (p *phone) reply(to string, req *sip.Request, code int, hdrs ...sip.Header) *sip.Response {
	p.t.Helper()
	res := sip.NewResponse(code, core.ReasonPhrase(code))
	for _, v := range req.GetHeaders("Via") {
		res.AppendHeader(sip.HeaderClone(v))
	}
	for _, rr := range req.GetHeaders("Record-Route") {
		if code > 100 && code < 300 {
			res.AppendHeader(sip.HeaderClone(rr))
		}
	}
	res.AppendHeader(sip.HeaderClone(req.From()))
	toH := sip.HeaderClone(req.To()).(*sip.ToHeader)
	if code > 100 && !toH.Params.Has("tag") {
		toH.Params.Add("tag", "t-"+p.name)
	}
	res.AppendHeader(toH)
	res.AppendHeader(sip.HeaderClone(req.CallID()))
	res.AppendHeader(sip.HeaderClone(req.CSeq()))
	if code >= 200 && code < 300 && req.Method == sip.INVITE {
		res.AppendHeader(sip.NewHeader("Contact", "<sip:"+p.name+"@"+p.addr+">"))
	}
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	res.AppendHeader(sip.NewHeader("Content-Length", "0"))
	p.sendMsg(to, res)
	return res
}

// route returns the Route set a UAC builds from a 2xx's Record-Route
// (reversed), as header lines.
func routeSet(res *sip.Response, reverse bool) string {
	rrs := res.GetHeaders("Record-Route")
	var lines []string
	for _, h := range rrs {
		lines = append(lines, "Route: "+h.Value())
	}
	if reverse {
		for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
			lines[i], lines[j] = lines[j], lines[i]
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

func viaCount(m sip.Message) int {
	switch v := m.(type) {
	case *sip.Request:
		return len(v.GetHeaders("Via"))
	case *sip.Response:
		return len(v.GetHeaders("Via"))
	}
	return 0
}
