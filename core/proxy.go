package core

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Target is where an outgoing message goes: a transport and an address.
type Target struct {
	Proto string // udp, tcp, tls, ws or wss
	Addr  string // "ip:port"
	// Flow restricts a stream transport to the connection that is already
	// open to Addr (RFC 5626 flow semantics: a device registered over TCP
	// is reached over the connection it registered on, never a new one).
	Flow bool
}

func (t Target) String() string { return t.Proto + ":" + t.Addr }

// ErrNoFlow is returned by Outbound.Send when a flow's connection is gone.
var ErrNoFlow = errors.New("core: the connection of the flow is gone")

// Outbound sends messages out of locus's own sockets, so that a device
// behind NAT sees them come from the address it registered with.
type Outbound interface {
	// Send writes msg to t. Over UDP it leaves from the listening socket;
	// over a stream transport it reuses the open connection to t.Addr, or
	// opens one unless t.Flow is set.
	Send(ctx context.Context, t Target, msg sip.Message) error
	// SentBy is the host and port locus puts in its Via and Record-Route
	// for messages sent over proto towards dst ("ip:port").
	SentBy(proto, dst string) (host string, port int, err error)
	// IsMyself reports whether a URI host and port (0: the default port)
	// name one of locus's sockets.
	IsMyself(host string, port int) bool
}

// ResponseHandler receives every response that reaches locus (the
// transaction layer, tm, matches them to its branches).
type ResponseHandler interface {
	HandleResponse(res *sip.Response, proto string)
}

// Interceptor sees every request before the script and may consume it: a
// transaction layer absorbs retransmissions and hop-by-hop ACKs there.
type Interceptor interface {
	Intercept(m *Msg) bool
}

// SetOutbound makes locus's sockets reachable to modules that send.
func (h *Host) SetOutbound(o Outbound) {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	h.shared.outbound = o
}

// Outbound returns the sender, or nil before the listeners are up.
func (h *Host) Outbound() Outbound {
	h.shared.mu.RLock()
	defer h.shared.mu.RUnlock()
	return h.shared.outbound
}

// AfterRoute registers f to run once the request route has returned.
// tm uses it so that responses that arrive while the route still runs
// wait for it before a failure route touches the message.
func (m *Msg) AfterRoute(f func()) { m.after = append(m.after, f) }

func (m *Msg) runAfterRoute() {
	for _, f := range m.after {
		f()
	}
	m.after = nil
}

// UpstreamTarget is where responses to the request go: the source
// connection for stream transports; over UDP the top Via's received
// address and rport (or sent-by port), as RFC 3261 §18.2.2 and RFC 3581 say.
func (m *Msg) UpstreamTarget() Target {
	t := Target{Proto: m.Transport}
	if m.Transport != "udp" {
		t.Addr, t.Flow = m.SourceAddr(), true
		return t
	}
	port := 0
	if v := m.Req.Via(); v != nil {
		port = v.Port
		if rp, ok := v.Params.Get("rport"); ok {
			if p, err := strconv.Atoi(rp); err == nil && p > 0 {
				port = p
			} else if rp == "" || m.ForceRport {
				port = m.SrcPort
			}
		}
	}
	if m.ForceRport {
		port = m.SrcPort
	}
	if port == 0 {
		port = 5060
	}
	t.Addr = net.JoinHostPort(m.SrcIP, strconv.Itoa(port))
	return t
}

// StampVia records on the request's top Via where it came from
// (received, and rport when asked for), before the request is forwarded:
// responses then find their way back (RFC 3261 §18.2.1, RFC 3581 §4).
func (m *Msg) StampVia() {
	v := m.Req.Via()
	if v == nil || m.SrcIP == "" {
		return
	}
	if !sameHost(v.Host, m.SrcIP) {
		v.Params.Remove("received")
		v.Params.Add("received", m.SrcIP)
	}
	if rp, ok := v.Params.Get("rport"); (ok && rp == "") || m.ForceRport {
		v.Params.Remove("rport")
		v.Params.Add("rport", strconv.Itoa(m.SrcPort))
		if !v.Params.Has("received") {
			v.Params.Add("received", m.SrcIP)
		}
	}
}

// TargetOf returns where a request for uri goes: its host and port
// (default 5060, 5061 for sips or TLS) over its transport parameter (UDP
// by default, TLS for sips). Host names are resolved to an address.
func TargetOf(ctx context.Context, uri *sip.Uri) (Target, error) {
	proto := "udp"
	if uri.UriParams != nil {
		if tp, ok := uri.UriParams.Get("transport"); ok && tp != "" {
			proto = strings.ToLower(tp)
		}
	}
	if strings.EqualFold(uri.Scheme, "sips") && proto != "wss" {
		proto = "tls"
	}
	switch proto {
	case "udp", "tcp", "tls", "ws", "wss":
	default:
		return Target{}, errors.New("core: unsupported transport " + proto)
	}
	port := uri.Port
	if port == 0 {
		port = 5060
		if proto == "tls" || proto == "wss" {
			port = 5061
		}
	}
	host := Unbracket(uri.Host)
	if host == "" {
		return Target{}, errors.New("core: URI without host")
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		addrs, rerr := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if rerr != nil || len(addrs) == 0 {
			return Target{}, errors.Join(errors.New("core: cannot resolve "+host), rerr)
		}
		ip = addrs[0].Unmap()
	}
	return Target{Proto: proto, Addr: netip.AddrPortFrom(ip, uint16(port)).String()}, nil
}

// InsertAfterVia inserts hs, in order, right after the request's last Via:
// where a Route set begins.
func InsertAfterVia(req *sip.Request, hs ...sip.Header) {
	for i := len(hs) - 1; i >= 0; i-- {
		req.AppendHeaderAfter(hs[i], "Via")
	}
}

// SetResponder replaces where the request's replies go: tm routes them
// through its transaction once it has one.
func (m *Msg) SetResponder(r Responder) { m.respond, m.udp = r, nil }
