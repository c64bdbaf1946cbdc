package core

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"
)

// Responder sends a response for the current request: the sipgo server
// transaction in production, a recorder in tests.
type Responder func(*sip.Response) error

// Msg is the script's view of one request: the parsed sip.Request, where
// it came from, and the reply-once guard. A Msg is used by one goroutine at
// a time (the one running the route); the guard is atomic because modules
// that reply asynchronously (tm) may come later.
type Msg struct {
	Req *sip.Request

	// Transport is the lower-case protocol the request arrived on (udp, tcp, tls, ws, wss).
	Transport string
	// SrcIP and SrcPort are the packet's source address.
	SrcIP   string
	SrcPort int
	// LocalIP and LocalPort are the socket that received it.
	LocalIP   string
	LocalPort int
	// ConnID identifies the connection for connection-oriented transports.
	ConnID string

	respond Responder
	// udp is the listener the request came in on while replies go
	// straight back through it (not through a transaction): it then
	// writes them without building a sip.Response (see udpListener.reply).
	udp *udpListener
	// src is the source address as the listener read it.
	src       netip.AddrPort
	yield     func() // see Blocking; nil on transports other than UDP
	retained  atomic.Bool
	replied   atomic.Bool
	replyCode atomic.Int32
	// ReplyHeaders are added to the reply locus sends (KSR.hdr.append_to_reply).
	ReplyHeaders []sip.Header
	// Server is the Server header value for locus's replies ("" for none).
	Server    string
	serverHdr sip.Header // the engine's header for Server, while it matches

	// Dropped is set by KSR.x.drop: no reply will be sent.
	Dropped bool
	// Handled is set by modules that take over the reply (a forwarded request).
	Handled bool

	// ErrCode and ErrReason describe the last internal error, for
	// KSR.sl.sl_reply_error.
	ErrCode   int
	ErrReason string

	// Vars holds $var(name) values for this request.
	Vars map[string]any

	// DstURI is the next hop when it differs from the R-URI ($du).
	DstURI string
	// DstConn is the stream connection ("proto:ip:port") the R-URI's
	// binding registered on: the request must go over it (a flow).
	DstConn string
	// Binding is the binding lookup put into the R-URI (nil otherwise).
	Binding *Branch
	// Branches are the additional targets added by lookup.
	Branches []Branch
	// Res is the response a reply route runs with (nil for requests).
	Res *sip.Response
	// ForceRport answers to the source port even without rport (KSR.force_rport).
	ForceRport bool
	// RecordRouted is set by KSR.rr.record_route: forwarded copies carry
	// locus's Record-Route.
	RecordRouted bool
	// Event names the event an event-route message stands for ("" for a request).
	Event string

	data  map[string]any
	after []func()
}

// NewMsg builds the view of a request, which arrived with its source,
// transport and local address set (Source, Transport, Laddr).
func NewMsg(req *sip.Request, respond Responder) *Msg {
	var localIP string
	if req.Laddr.IP != nil {
		localIP = req.Laddr.IP.String()
	}
	srcIP, srcPort, _ := sip.ParseAddr(req.Source())
	m := new(Msg)
	m.init(req, respond, strings.ToLower(req.Transport()), srcIP, srcPort, localIP)
	return m
}

// init fills an empty Msg for req: transport is the lower-case protocol,
// srcIP and srcPort the source address ("" and 0 when unknown), localIP
// the receiving address as a string ("" when unknown), all of which a
// listener knows without formatting or parsing them per request.
func (m *Msg) init(req *sip.Request, respond Responder, transport, srcIP string, srcPort int, localIP string) {
	m.Req, m.respond, m.Transport = req, respond, transport
	m.SrcIP, m.SrcPort = srcIP, srcPort
	if localIP != "" {
		m.LocalIP, m.LocalPort = localIP, req.Laddr.Port
	}
	if m.Transport != "udp" && m.SrcIP != "" {
		// sipgo keys stream connections by remote address.
		m.ConnID = m.Transport + ":" + m.SourceAddr()
	}
}

// Retain says that something keeps the request, one of its headers or a
// parameter list after the routing of the request has ended: a
// transaction does. Without it the UDP listener reuses the request's
// memory for the next datagram once the script has returned. Strings
// taken from the request may always be kept.
func (m *Msg) Retain() { m.retained.Store(true) }

// SetLocal records the receiving socket.
func (m *Msg) SetLocal(addr net.Addr) {
	if addr == nil {
		return
	}
	if host, port, err := sip.ParseAddr(addr.String()); err == nil {
		m.LocalIP, m.LocalPort = host, port
	}
}

// Blocking tells the transport that the request is about to wait (a
// store round trip, a group commit): the UDP worker handling it hands the
// socket to another worker first, so that requests behind it are read
// meanwhile. Cheap, and harmless to call more than once.
func (m *Msg) Blocking() {
	if m.yield != nil {
		m.yield()
	}
}

// Replied reports whether a final reply was sent.
func (m *Msg) Replied() bool { return m.replied.Load() }

// ReplyCode is the status code of the final reply sent, or 0.
func (m *Msg) ReplyCode() int { return int(m.replyCode.Load()) }

// ErrReplied is returned when a second final reply is attempted.
var ErrReplied = errors.New("core: request already answered")

// ErrNoReply is returned when replying to a request that takes none (ACK).
var ErrNoReply = errors.New("core: ACK takes no reply")

// Reply sends a reply. A provisional reply (1xx) may be sent any number of
// times before the final one; a second final reply is refused with
// ErrReplied. hdrs are added to the reply, after ReplyHeaders.
func (m *Msg) Reply(code int, reason string, hdrs ...sip.Header) error {
	if m.udp != nil && !hasContentLength(m.ReplyHeaders) && !hasContentLength(hdrs) {
		return m.udp.reply(m, code, reason, hdrs)
	}
	res, err := m.NewReply(code, reason)
	if err != nil {
		return err
	}
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	return m.Send(res)
}

// NewReply builds, without sending, a reply to the request with the
// headers that locus adds to every reply.
func (m *Msg) NewReply(code int, reason string) (*sip.Response, error) {
	reason, err := m.replyReason(code, reason)
	if err != nil {
		return nil, err
	}
	res := m.newResponse(code, reason)
	if m.Server != "" {
		h := m.serverHdr
		if h == nil || h.Value() != m.Server {
			h = sip.NewHeader("Server", m.Server)
		}
		res.AppendHeader(h)
	}
	for _, h := range m.ReplyHeaders {
		res.AppendHeader(h)
	}
	return res, nil
}

// replyReason checks that the request takes a reply with this code and
// returns the reason phrase to send: reason, or the code's standard one.
func (m *Msg) replyReason(code int, reason string) (string, error) {
	if m.Req.IsAck() {
		return "", ErrNoReply
	}
	if code < 100 || code > 699 {
		return "", fmt.Errorf("core: reply code %d out of range 100-699", code)
	}
	if reason == "" {
		reason = ReasonPhrase(code)
	}
	if err := CheckHeaderValue(reason); err != nil {
		return "", fmt.Errorf("core: reply reason: %w", err)
	}
	return reason, nil
}

// contentLengthZero is the Content-Length of every reply without a body.
// sipgo never changes a header built by sip.NewHeader (nor can anyone
// else), so one value serves all replies, as the engine's Server header
// does.
var contentLengthZero = sip.NewHeader("Content-Length", "0")

// Send sends a reply built by NewReply, enforcing one final reply.
func (m *Msg) Send(res *sip.Response) error {
	if err := m.claimReply(res.StatusCode); err != nil {
		return err
	}
	if !hasContentLength(res.Headers()) || res.ContentLength() == nil {
		res.AppendHeader(contentLengthZero)
	}
	if m.respond == nil {
		return nil
	}
	if err := m.respond(res); err != nil {
		return fmt.Errorf("core: send %d: %w", res.StatusCode, err)
	}
	return nil
}

// claimReply enforces one final reply: it records a final code, or
// refuses any reply once a final one went out.
func (m *Msg) claimReply(code int) error {
	if code >= 200 {
		if !m.replied.CompareAndSwap(false, true) {
			return ErrReplied
		}
		m.replyCode.Store(int32(code))
	} else if m.replied.Load() {
		return ErrReplied
	}
	return nil
}

// newResponse builds a response as RFC 3261 §8.2.6 and §18.2.1 want it.
// It does sipgo's NewResponseFromRequest's job with fewer copies: the
// request's headers are immutable here, so the response shares all but
// the top Via and the To, and the To tag is derived from the request
// (stable across retransmissions, as Kamailio's sl makes it) instead of a
// random UUID per reply.
func (m *Msg) newResponse(code int, reason string) *sip.Response {
	req := m.Req
	// Always SIP/2.0 (RFC 3261 §7.2), whatever the request line said.
	res := sip.NewResponse(code, reason)
	if copiesRecordRoute(req.Method, code) {
		for _, h := range req.GetHeaders("Record-Route") {
			res.AppendHeader(h)
		}
	}
	dstPort := 0
	eachVia(req, func(h sip.Header, top *sip.ViaHeader) {
		if top == nil {
			res.AppendHeader(h)
			return
		}
		via := cloneVia(top)
		var setRport, setReceived bool
		dstPort, setRport, setReceived = m.topViaReply(top)
		if setRport {
			// RFC 3581: answer to the source port and say so.
			via.Params.Remove("rport")
			via.Params.Add("rport", strconv.Itoa(m.SrcPort))
		}
		if setReceived {
			via.Params.Remove("received")
			via.Params.Add("received", m.SrcIP)
		}
		res.AppendHeader(via)
	})
	if h := req.From(); h != nil {
		res.AppendHeader(h)
	}
	if h := req.To(); h != nil {
		if code > 100 && !h.Params.Has("tag") {
			to := &sip.ToHeader{DisplayName: h.DisplayName, Address: h.Address, Params: withRoom(h.Params, 1)}
			to.Params.Add("tag", m.toTag())
			h = to
		}
		res.AppendHeader(h)
	}
	if h := req.CallID(); h != nil {
		res.AppendHeader(h)
	}
	if h := req.CSeq(); h != nil {
		res.AppendHeader(h)
	}
	if code == 100 {
		if h := req.GetHeader("Timestamp"); h != nil {
			res.AppendHeader(h)
		}
	}
	res.SetTransport(req.Transport())
	if m.SrcIP != "" {
		res.SetDestination(joinHostPort(m.SrcIP, m.replyPort(dstPort)))
	}
	return res
}

// replyPort is the port a reply goes to, given the one topViaReply chose
// (0 when the Via has none): the transport's default port then, and on a
// stream the connection's source port whatever the Via says.
func (m *Msg) replyPort(viaPort int) int {
	if m.Transport != "udp" {
		return m.SrcPort // streams answer on the connection
	}
	if viaPort == 0 {
		return int(sip.DefaultPort(m.Req.Transport()))
	}
	return viaPort
}

// copiesRecordRoute reports whether a reply with code to a request of
// method carries the request's Record-Route headers (RFC 3261 §12.1.1:
// replies that establish a dialog, early or not).
func copiesRecordRoute(method sip.RequestMethod, code int) bool {
	return method != sip.REGISTER && method != sip.ACK &&
		((code >= 180 && code < 300) || (method == sip.INVITE && code > 100 && code < 200))
}

// eachVia calls fn with the request's Via headers in order; top is the
// first one when it is a parsed *sip.ViaHeader, which a reply changes,
// and nil for every other.
func eachVia(req *sip.Request, fn func(h sip.Header, top *sip.ViaHeader)) {
	first := true
	for _, h := range req.Headers() {
		if !isVia(h.Name()) {
			continue
		}
		var top *sip.ViaHeader
		if first {
			top, _ = h.(*sip.ViaHeader)
			first = false
		}
		fn(h, top)
	}
}

// topViaReply says what a reply does to the request's top Via (RFC 3261
// §18.2.1, RFC 3581): add received when the sender's address is not the
// sent-by host, fill in rport when asked for (then received too). port is
// where the reply goes: the source port with rport, else the Via's.
func (m *Msg) topViaReply(via *sip.ViaHeader) (port int, setRport, setReceived bool) {
	port = max(via.Port, 0)
	if m.SrcIP == "" {
		return port, false, false
	}
	rport, hasRport := via.Params.Get("rport")
	if m.ForceRport {
		rport, hasRport = "", true
	}
	setRport = hasRport && rport == ""
	setReceived = !via.Params.Has("received") && !sameHost(via.Host, m.SrcIP) || setRport
	if setRport {
		port = m.SrcPort
	}
	return port, setRport, setReceived
}

// isVia reports sip.HeaderToLower(name) == "via" without lower-casing
// other names into new strings.
func isVia(name string) bool {
	return len(name) == 3 && name[0]|0x20 == 'v' && name[1]|0x20 == 'i' && name[2]|0x20 == 'a'
}

// cloneVia is via.Clone() with room for the rport and received parameters
// a reply adds, so adding them does not copy the parameters again.
func cloneVia(via *sip.ViaHeader) *sip.ViaHeader {
	c := &sip.ViaHeader{
		ProtocolName:    via.ProtocolName,
		ProtocolVersion: via.ProtocolVersion,
		Transport:       via.Transport,
		Host:            via.Host,
	}
	if via.Port > 0 {
		c.Port = via.Port
	}
	if via.Params != nil {
		c.Params = withRoom(via.Params, 2)
	}
	return c
}

// withRoom copies ps with room for n more parameters.
func withRoom(ps sip.HeaderParams, n int) sip.HeaderParams {
	return append(make(sip.HeaderParams, 0, len(ps)+n), ps...)
}

// joinHostPort is net.JoinHostPort(host, strconv.Itoa(port)) in one
// allocation.
func joinHostPort(host string, port int) string {
	var buf [64]byte
	b := buf[:0]
	if strings.IndexByte(host, ':') >= 0 {
		b = append(append(append(b, '['), host...), ']')
	} else {
		b = append(b, host...)
	}
	b = append(b, ':')
	return string(strconv.AppendInt(b, int64(port), 10))
}

// Unbracket returns host without the brackets of an IPv6 reference: what
// strings.Trim(host, "[]") returns, without building a cutset per call
// when host has no bracket at either end (the usual case).
func Unbracket(host string) string {
	if host == "" {
		return host
	}
	first, last := host[0], host[len(host)-1]
	if first != '[' && first != ']' && last != '[' && last != ']' {
		return host
	}
	return strings.Trim(host, "[]")
}

// sameHost reports whether a Via sent-by host is the IP address ip.
func sameHost(host, ip string) bool {
	h := Unbracket(host)
	if h == ip {
		return true
	}
	parsed := net.ParseIP(h)
	return parsed != nil && parsed.String() == ip
}

// toTag derives the To tag of locus's replies from the request, so that a
// retransmitted request gets the same tag.
func (m *Msg) toTag() string {
	var buf [32]byte
	return string(m.appendToTag(buf[:0]))
}

// appendToTag appends the To tag of locus's replies to b.
func (m *Msg) appendToTag(b []byte) []byte {
	return strconv.AppendUint(append(b, tagPrefix...), m.toTagHash(), 36)
}

// toTagHash hashes what identifies the request's transaction: Call-ID,
// From tag, top Via branch and CSeq number.
func (m *Msg) toTagHash() uint64 {
	h := uint64(fnvOffset64)
	if c := m.Req.CallID(); c != nil {
		h = fnv64a(h, string(*c))
	}
	if f := m.Req.From(); f != nil {
		tag, _ := f.Params.Get("tag")
		h = fnv64a(h, tag)
	}
	if v := m.Req.Via(); v != nil {
		b, _ := v.Params.Get("branch")
		h = fnv64a(h, b)
	}
	if c := m.Req.CSeq(); c != nil {
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], c.SeqNo)
		h = fnv64a(h, string(n[:]))
	}
	return h
}

// FNV-1a, 64 bits (hash/fnv's New64a), over strings without copying them.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fnv64a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

// hasContentLength reports whether hs has a Content-Length header (or
// its compact form), which res.ContentLength() looks for by lower-casing
// every header name.
func hasContentLength(hs []sip.Header) bool {
	for _, h := range hs {
		if n := h.Name(); strings.EqualFold(n, "content-length") || strings.EqualFold(n, "l") {
			return true
		}
	}
	return false
}

// CheckHeaderValue refuses text that would break the message framing when
// written into a header: CR, LF and NUL.
func CheckHeaderValue(s string) error {
	if i := strings.IndexAny(s, "\r\n\x00"); i >= 0 {
		return fmt.Errorf("CR, LF or NUL at byte %d", i)
	}
	return nil
}

// SetError records an internal error for KSR.sl.sl_reply_error.
func (m *Msg) SetError(code int, reason string) {
	m.ErrCode, m.ErrReason = code, reason
}

// SourceAddr is the source as "ip:port".
func (m *Msg) SourceAddr() string {
	return net.JoinHostPort(m.SrcIP, strconv.Itoa(m.SrcPort))
}

// tagPrefix makes this process's To tags distinct from other nodes'.
var tagPrefix = func() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "."
}()
