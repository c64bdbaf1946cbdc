package core

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// udpListener serves one UDP socket with a fixed set of workers, each
// reading, parsing and routing one datagram at a time, as Kamailio's
// children share a socket. It bypasses sipgo's UDP transport: that one
// starts a goroutine per datagram and remembers every source address it
// ever saw (a map that grows without bound under NAT churn or a flood),
// and replies here are stateless anyway.
type udpListener struct {
	conn    *net.UDPConn
	eng     *Engine
	log     *slog.Logger
	parser  *sip.Parser
	local   sip.Addr
	workers int
	wg      sync.WaitGroup

	// dropped counts datagrams that could not be parsed.
	dropped   atomic.Uint64
	lastDrop  atomic.Int64 // unix seconds of the last logged drop
	bufs      sync.Pool
	maxPacket int
	// stopping makes the workers return at their next read.
	stopping atomic.Bool
}

// maxDatagram is the largest UDP payload.
const maxDatagram = 65535

func newUDPListener(conn *net.UDPConn, eng *Engine, log *slog.Logger, workers int) *udpListener {
	l := &udpListener{conn: conn, eng: eng, log: log, parser: sip.NewParser(), workers: workers, maxPacket: maxDatagram}
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		l.local = sip.Addr{IP: a.IP, Port: a.Port}
	}
	l.bufs.New = func() any { b := make([]byte, 0, 1500); return &b }
	return l
}

func (l *udpListener) serve() {
	for i := 0; i < l.workers; i++ {
		l.wg.Add(1)
		go l.worker()
	}
	l.wg.Wait()
}

func (l *udpListener) worker() {
	defer l.wg.Done()
	buf := make([]byte, l.maxPacket)
	for {
		n, src, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.stopping.Load() {
				return
			}
			l.log.Warn("udp read", "error", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		l.handle(buf[:n], src)
	}
}

func (l *udpListener) handle(data []byte, src netip.AddrPort) {
	if len(bytes.TrimSpace(data)) == 0 {
		return // keep-alive (RFC 5626 CRLF) or padding
	}
	msg, err := l.parser.ParseSIP(data)
	if err != nil {
		l.drop(src, err)
		return
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		if res, ok := msg.(*sip.Response); ok {
			res.SetSource(src.String())
			res.SetTransport("UDP")
			l.eng.HandleResponse(res, "udp")
		}
		return
	}
	if req.Via() == nil {
		l.drop(src, errors.New("no Via: nowhere to reply"))
		return
	}
	srcStr := src.String()
	req.SetSource(srcStr)
	req.SetTransport("UDP")
	req.Laddr = l.local
	m := NewMsg(req, l.respond)
	m.LocalIP, m.LocalPort = l.localIP(), l.local.Port
	if req.CSeq() == nil || req.CallID() == nil || req.From() == nil || req.To() == nil {
		// What no transaction can be built from gets a stateless 400, as
		// sipgo's stream transports answer it.
		if !req.IsAck() {
			_ = m.Reply(400, "Missing Required Header")
		}
		return
	}
	l.eng.Process(m)
}

func (l *udpListener) localIP() string {
	if l.local.IP == nil {
		return ""
	}
	return l.local.IP.String()
}

// drop logs unparsable datagrams at most once a second.
func (l *udpListener) drop(src netip.AddrPort, err error) {
	n := l.dropped.Add(1)
	now := time.Now().Unix()
	if last := l.lastDrop.Load(); now != last && l.lastDrop.CompareAndSwap(last, now) {
		l.log.Warn("unparsable datagram dropped", "src", src.String(), "error", err, "dropped_total", n)
	}
}

// respond writes a reply to its destination (source IP, Via or rport port).
func (l *udpListener) respond(res *sip.Response) error {
	dst, err := netip.ParseAddrPort(res.Destination())
	if err != nil {
		host, port, serr := net.SplitHostPort(res.Destination())
		if serr != nil {
			return err
		}
		ip, perr := netip.ParseAddr(host)
		p, aerr := strconv.Atoi(port)
		if perr != nil || aerr != nil {
			return err
		}
		dst = netip.AddrPortFrom(ip, uint16(p))
	}
	bp := l.bufs.Get().(*[]byte)
	w := bytes.NewBuffer((*bp)[:0])
	res.StringWrite(w)
	_, err = l.conn.WriteToUDPAddrPort(w.Bytes(), dst)
	*bp = w.Bytes()[:0]
	l.bufs.Put(bp)
	return err
}

func (l *udpListener) close() error { return l.conn.Close() }

// stopReading stops the workers without closing the socket: replies to
// the requests in progress still go out on it.
func (l *udpListener) stopReading() {
	l.stopping.Store(true)
	_ = l.conn.SetReadDeadline(time.Now())
}
