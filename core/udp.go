package core

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core/sipparse"
	"github.com/locus-sip/locus/internal/watch"
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
	local   sip.Addr
	workers int
	wg      sync.WaitGroup

	// dropped counts datagrams that could not be parsed.
	dropped  atomic.Uint64
	lastDrop atomic.Int64 // unix seconds of the last logged drop
	// maxQueueDelay is how long a request may have waited in the socket
	// buffer and still be handled (0: no limit); shed counts those
	// dropped for waiting longer.
	maxQueueDelay time.Duration
	shedTotal     atomic.Uint64
	lastShed      atomic.Int64
	bufs          sync.Pool // *bytes.Buffer, to write outgoing messages in
	maxPacket     int
	// stopping makes the workers return at their next read.
	stopping atomic.Bool
	// reader holds the reader roles: a worker takes one to read the
	// socket and keeps it while it handles what it read, so that under
	// load one goroutine reads, routes and replies without waking another
	// per datagram. It hands its role on when the request is about to
	// block (Msg.Blocking), or the watch takes it after handoffAfter.
	reader chan struct{}
	// watch runs handOn while a worker handles a request.
	watch *watch.Watch
	// held[i] is true while worker i owns a reader role; busy[i] is when
	// it started handling its current datagram (ns since epoch), 0 when
	// it is not handling one.
	held  []atomic.Bool
	busy  []atomic.Int64
	epoch time.Time
	// raw drives the socket with raw system calls (udpraw_linux.go); nil
	// where it cannot.
	raw *rawUDP
	// localIP is local.IP as a string, made once ("" without one).
	localIP string
	// respondFn is respond as a func value, made once: a method value
	// made per request is an allocation.
	respondFn Responder
}

// handoffAfter is how long a worker may handle one request before
// another worker takes over reading the socket. It is a safety net for
// waits nothing announced (Msg.Blocking), not a latency target: under load
// the watch's timer fires about once per handoffAfter, and each firing
// wakes threads.
const handoffAfter = 50 * time.Millisecond

// udpReaders is the number of workers reading a UDP socket at once: one
// per two CPUs, so that each reader has a CPU to itself and the parser,
// the script and the reply run where the datagram was read.
func udpReaders(workers int) int {
	n := max(1, runtime.GOMAXPROCS(0)/2)
	return min(n, max(1, workers))
}

// udpReadBuffer is the receive buffer asked for each UDP socket.
const udpReadBuffer = 4 << 20

// maxDatagram is the largest UDP payload.
const maxDatagram = 65535

func newUDPListener(conn *net.UDPConn, eng *Engine, log *slog.Logger, workers int) *udpListener {
	l := &udpListener{conn: conn, eng: eng, log: log, workers: workers, maxPacket: maxDatagram}
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		l.local = sip.Addr{IP: a.IP, Port: a.Port}
		if a.IP != nil {
			l.localIP = a.IP.String()
		}
	}
	l.bufs.New = func() any { return bytes.NewBuffer(make([]byte, 0, 1500)) }
	l.respondFn = l.respond
	n := udpReaders(workers)
	l.reader = make(chan struct{}, n)
	for range n {
		l.reader <- struct{}{}
	}
	// A burst, or a reader descheduled for a few milliseconds, must not
	// overflow the socket: ask for a large buffer (the kernel caps it at
	// net.core.rmem_max).
	_ = conn.SetReadBuffer(udpReadBuffer)
	l.raw = newRawUDP(conn)
	l.held = make([]atomic.Bool, workers)
	l.busy = make([]atomic.Int64, workers)
	l.epoch = time.Now()
	l.watch = watch.New(handoffAfter, l.handOn)
	return l
}

func (l *udpListener) serve() {
	for i := 0; i < l.workers; i++ {
		l.wg.Add(1)
		go l.worker(i)
	}
	l.wg.Wait()
	l.watch.Stop()
}

// yield gives worker i's reader role to the next worker, at most once
// per role taken.
func (l *udpListener) yield(i int) {
	if l.held[i].CompareAndSwap(true, false) {
		l.reader <- struct{}{}
	}
}

// handOn hands on the reader role of a worker stuck on one request for
// longer than handoffAfter, for whatever blocks without Msg.Blocking. It
// returns how long until the next busy worker would be stuck, 0 when none
// is busy: the watch's timer runs only while requests come in, so an idle
// listener sets none.
func (l *udpListener) handOn() time.Duration {
	now := int64(time.Since(l.epoch))
	var next time.Duration
	for i := range l.busy {
		s := l.busy[i].Load()
		if s <= 0 {
			continue
		}
		left := time.Duration(int64(handoffAfter) - (now - s))
		if left <= 0 {
			l.yield(i)
			continue // its role is gone: nothing more to watch
		}
		if next == 0 || left < next {
			next = left
		}
	}
	return next
}

func (l *udpListener) worker(i int) {
	defer l.wg.Done()
	buf := make([]byte, l.maxPacket)
	yield := func() { l.yield(i) }
	rr := l.raw.newRecv(buf)
	var spare *Msg // the last request's Msg, when nothing kept it
	var name addrName
	for {
		<-l.reader
		l.held[i].Store(true)
		for {
			n, src, stamp, err := l.readFrom(buf, rr)
			if err != nil {
				if errors.Is(err, net.ErrClosed) || l.stopping.Load() {
					yield() // the next worker sees the same error and returns too
					return
				}
				l.log.Warn("udp read", "error", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if stamp != 0 && l.maxQueueDelay > 0 && time.Now().UnixNano()-stamp > int64(l.maxQueueDelay) && sheddable(buf[:n]) {
				l.shed(src, time.Duration(time.Now().UnixNano()-stamp))
				continue
			}
			l.busy[i].Store(int64(time.Since(l.epoch)) | 1)
			l.watch.Arm()
			spare = l.handle(buf[:n], name.of(src), yield, spare)
			l.busy[i].Store(0)
			if !l.held[i].Load() {
				break // the role went to another worker: queue for one again
			}
		}
	}
}

// addrName is a worker's last source address as the strings a request
// carries: "ip:port" (its Source) and the IP alone (Msg.SrcIP). Requests
// mostly come from few addresses (an edge proxy, an SBC, phones behind
// one NAT), so the strings are made when the source changes instead of
// for every datagram.
type addrName struct {
	ap netip.AddrPort
	s  string // ap as "ip:port", "[ip]:port" for IPv6
	ip string // ap's IP, without brackets
}

func (a *addrName) of(ap netip.AddrPort) *addrName {
	if a.s == "" || ap != a.ap {
		a.ap, a.s, a.ip = ap, ap.String(), ""
		if ap.IsValid() {
			a.ip = ap.Addr().String() // what SplitHostPort would take out of s
		}
	}
	return a
}

// handle parses, routes and answers one datagram from src. It builds the
// request's Msg in spare when there is one, and returns the Msg the next
// datagram may reuse: this one, unless something retained it
// (Msg.Retain), or nil.
func (l *udpListener) handle(data []byte, from *addrName, yield func(), spare *Msg) *Msg {
	src := from.ap
	if len(bytes.TrimSpace(data)) == 0 {
		return spare // keep-alive (RFC 5626 CRLF) or padding
	}
	msg, mem, err := sipparse.ParseReusable(data)
	if err != nil {
		l.drop(src, err)
		return spare
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		if res, ok := msg.(*sip.Response); ok {
			res.SetSource(from.s)
			res.SetTransport("UDP")
			l.eng.HandleResponse(res, "udp")
		}
		return spare
	}
	if req.Via() == nil {
		mem.Release()
		l.drop(src, errors.New("no Via: nowhere to reply"))
		return spare
	}
	req.SetSource(from.s)
	req.SetTransport("UDP")
	req.Laddr = l.local
	m := spare
	if m == nil {
		m = new(Msg)
	}
	m.init(req, l.respondFn, "udp", from.ip, int(src.Port()), l.localIP)
	m.yield, m.udp, m.src = yield, l, src
	if req.CSeq() == nil || req.CallID() == nil || req.From() == nil || req.To() == nil {
		// What no transaction can be built from gets a stateless 400, as
		// sipgo's stream transports answer it.
		if !req.IsAck() {
			_ = m.Reply(400, "Missing Required Header")
		}
		mem.Release()
		return recycle(m)
	}
	l.eng.Process(m)
	if m.retained.Load() {
		return nil
	}
	mem.Release()
	return recycle(m)
}

// recycle empties a Msg nothing kept, for the next request. Under
// LOCUS_ZERO_RELEASED_REQUESTS it is emptied and dropped instead: code
// that kept it without Retain then finds it empty (and the race detector
// sees the write), rather than finding the next request in it.
func recycle(m *Msg) *Msg {
	*m = Msg{}
	if sipparse.ZeroReleased() {
		return nil
	}
	return m
}

// drop logs unparsable datagrams at most once a second.
func (l *udpListener) drop(src netip.AddrPort, err error) {
	n := l.dropped.Add(1)
	now := time.Now().Unix()
	if last := l.lastDrop.Load(); now != last && l.lastDrop.CompareAndSwap(last, now) {
		l.log.Warn("unparsable datagram dropped", "src", src.String(), "error", err, "dropped_total", n)
	}
}

// sheddable reports whether a datagram may be shed when it waited too
// long: requests, but not ACKs (nothing retransmits an ACK for a 2xx by
// itself) and not responses (a transaction waits for them).
func sheddable(data []byte) bool {
	return len(data) > 4 && !bytes.HasPrefix(data, []byte("SIP/")) && !bytes.HasPrefix(data, []byte("ACK "))
}

// shed drops a request that waited longer than maxQueueDelay, logging at
// most once a second.
func (l *udpListener) shed(src netip.AddrPort, waited time.Duration) {
	n := l.shedTotal.Add(1)
	if l.eng != nil && l.eng.metrics != nil {
		l.eng.metrics.shed.Inc()
	}
	now := time.Now().Unix()
	if last := l.lastShed.Load(); now != last && l.lastShed.CompareAndSwap(last, now) {
		l.log.Warn("overloaded: dropped a request that waited too long in the UDP socket",
			"src", src.String(), "waited", waited, "max", l.maxQueueDelay, "shed_total", n)
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
	w := l.bufs.Get().(*bytes.Buffer)
	w.Reset()
	WriteMessage(w, res)
	err = l.writeTo(w.Bytes(), dst)
	l.bufs.Put(w)
	return err
}

func (l *udpListener) close() error { return l.conn.Close() }

// stopReading stops the workers without closing the socket: replies to
// the requests in progress still go out on it.
func (l *udpListener) stopReading() {
	l.stopping.Store(true)
	_ = l.conn.SetReadDeadline(time.Now())
}
