package core

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"
)

// The Server is the Outbound of a running locus.
var _ Outbound = (*Server)(nil)

// Send writes msg to t from locus's own sockets.
func (s *Server) Send(ctx context.Context, t Target, msg sip.Message) error {
	if t.Proto == "udp" {
		return s.sendUDP(t, msg)
	}
	tp := s.ua.TransportLayer()
	c, err := tp.GetConnection(t.Proto, t.Addr)
	if err != nil || c == nil {
		if t.Flow {
			return fmt.Errorf("%w: %s", ErrNoFlow, t)
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return fmt.Errorf("core: no connection to %s for a response", t)
		}
		// A new connection; sipgo reads what comes back on it and hands
		// responses to the engine like any other.
		req.SetTransport(strings.ToUpper(t.Proto))
		req.SetDestination(t.Addr)
		c, err = tp.ClientRequestConnection(ctx, req)
		if err != nil {
			return fmt.Errorf("core: connect %s: %w", t, err)
		}
	}
	defer c.TryClose()
	if err := c.WriteMsg(msg); err != nil {
		return fmt.Errorf("core: send to %s: %w", t, err)
	}
	return nil
}

func (s *Server) sendUDP(t Target, msg sip.Message) error {
	dst, err := netip.ParseAddrPort(t.Addr)
	if err != nil {
		return fmt.Errorf("core: udp destination %q: %w", t.Addr, err)
	}
	l := s.udpFor(dst.Addr())
	if l == nil {
		return fmt.Errorf("core: no UDP socket to reach %s", t.Addr)
	}
	w := l.bufs.Get().(*bytes.Buffer)
	w.Reset()
	WriteMessage(w, msg)
	// The listener's raw sendto: the runtime's syscall path would wake
	// its monitor thread for every message while locus is otherwise idle.
	err = l.writeTo(w.Bytes(), dst)
	l.bufs.Put(w)
	if err != nil {
		return fmt.Errorf("core: send to %s: %w", t, err)
	}
	return nil
}

// udpFor picks the UDP socket for a destination: one that can reach its
// address family, preferring a socket bound to loopback for loopback
// destinations and the other way round.
func (s *Server) udpFor(dst netip.Addr) *udpListener {
	dst = dst.Unmap()
	var fallback *udpListener
	s.addrMu.RLock()
	defer s.addrMu.RUnlock()
	for _, l := range s.udp {
		ip, _ := netip.AddrFromSlice(l.local.IP)
		ip = ip.Unmap()
		if ip.Is4() != dst.Is4() && !(ip.IsUnspecified() && ip.Is6()) {
			continue // 0.0.0.0 cannot reach IPv6; :: reaches both
		}
		if ip.IsUnspecified() || ip.IsLoopback() == dst.IsLoopback() {
			return l
		}
		if fallback == nil {
			fallback = l
		}
	}
	return fallback
}

// socket is a listening address, parsed once when it is bound: SentBy
// and IsMyself run for every forwarded request.
type socket struct {
	proto string
	ip    netip.Addr // unmapped
	port  int
	host  string // ip as a Via or URI host: IPv6 in brackets
}

// addSocket records a bound listener ("proto:ip:port").
func (s *Server) addSocket(a string) {
	s.addrMu.Lock()
	defer s.addrMu.Unlock()
	s.addrs = append(s.addrs, a)
	p, addr, _ := strings.Cut(a, ":")
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return
	}
	ip := ap.Addr().Unmap()
	s.sockets = append(s.sockets, socket{proto: p, ip: ip, port: int(ap.Port()), host: hostOf(ip)})
}

// socketList returns the listeners; the slice is only ever appended to.
func (s *Server) socketList() []socket {
	s.addrMu.RLock()
	defer s.addrMu.RUnlock()
	return s.sockets
}

func hostOf(ip netip.Addr) string {
	if ip.Is6() && !ip.Is4In6() {
		return "[" + ip.String() + "]"
	}
	return ip.String()
}

// SentBy returns the address of the socket of proto: its bound IP, or the
// interface address towards dst when it is bound to every interface.
func (s *Server) SentBy(proto, dst string) (string, int, error) {
	for _, k := range s.socketList() {
		if k.proto != proto {
			continue
		}
		if k.ip.IsUnspecified() {
			return s.routeTo(dst, k.ip), k.port, nil
		}
		return k.host, k.port, nil
	}
	return "", 0, fmt.Errorf("core: no %s socket", proto)
}

// routeTo finds the local address the kernel would send from to reach
// dst (a connected UDP socket sends nothing), as a host. Results are
// cached.
func (s *Server) routeTo(dst string, fallback netip.Addr) string {
	ap, err := netip.ParseAddrPort(dst)
	if err != nil {
		return hostOf(fallback)
	}
	if v, ok := s.routes.Load(ap.Addr()); ok {
		return v.(string)
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return hostOf(fallback)
	}
	defer c.Close()
	local := hostOf(c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap())
	if s.routeCount.Add(1) > 4096 {
		s.routes.Clear()
		s.routeCount.Store(0)
	}
	s.routes.Store(ap.Addr(), local)
	return local
}

// IsMyself reports whether host:port is one of locus's sockets; port 0
// stands for the default SIP ports.
func (s *Server) IsMyself(host string, port int) bool {
	host = Unbracket(host)
	ip, err := netip.ParseAddr(host)
	if err != nil {
		s.aliasMu.RLock()
		defer s.aliasMu.RUnlock()
		return s.aliases[strings.ToLower(host)] && s.hasPort(port)
	}
	ip = ip.Unmap()
	for _, k := range s.socketList() {
		if !portMatches(k.port, port) {
			continue
		}
		if k.ip == ip || k.ip.IsUnspecified() && s.isLocalIP(ip) {
			return true
		}
	}
	return false
}

func (s *Server) hasPort(port int) bool {
	for _, k := range s.socketList() {
		if portMatches(k.port, port) {
			return true
		}
	}
	return false
}

func portMatches(listen, want int) bool {
	if want == 0 {
		return listen == 5060 || listen == 5061
	}
	return listen == want
}

// SetAliases names host names that mean locus itself (in Route and
// Record-Route headers and Request-URIs).
func (s *Server) SetAliases(names []string) {
	s.aliasMu.Lock()
	defer s.aliasMu.Unlock()
	s.aliases = map[string]bool{}
	for _, n := range names {
		s.aliases[strings.ToLower(n)] = true
	}
}

// isLocalIP reports whether ip is on one of this machine's interfaces.
func (s *Server) isLocalIP(ip netip.Addr) bool {
	s.localOnce.Do(func() {
		s.localIPs = map[netip.Addr]bool{}
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if x, ok := netip.AddrFromSlice(n.IP); ok {
					s.localIPs[x.Unmap()] = true
				}
			}
		}
	})
	return s.localIPs[ip]
}

// outboundState is the Server's bookkeeping for sending.
type outboundState struct {
	addrMu     sync.RWMutex // guards Server.addrs and sockets, appended while serving
	sockets    []socket
	routes     sync.Map // netip.Addr → local address as a host
	routeCount atomic.Int64
	aliasMu    sync.RWMutex
	aliases    map[string]bool
	localOnce  sync.Once
	localIPs   map[netip.Addr]bool
}
