package core

import (
	"errors"
	"fmt"
	"net"
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

	respond   Responder
	replied   atomic.Bool
	replyCode atomic.Int32
	// ReplyHeaders are added to the reply locus sends (KSR.hdr.append_to_reply).
	ReplyHeaders []sip.Header
	// Server is the Server header value for locus's replies ("" for none).
	Server string

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
	// Branches are the additional targets added by lookup.
	Branches []Branch
	// Event names the event an event-route message stands for ("" for a request).
	Event string

	data map[string]any
}

// NewMsg builds the view of a request. src is the source "ip:port", local
// the receiving socket's "ip:port" (may be empty).
func NewMsg(req *sip.Request, respond Responder) *Msg {
	m := &Msg{Req: req, respond: respond}
	m.Transport = strings.ToLower(req.Transport())
	if host, port, err := sip.ParseAddr(req.Source()); err == nil {
		m.SrcIP, m.SrcPort = host, port
	}
	if local := req.Laddr; local.IP != nil {
		m.LocalIP, m.LocalPort = local.IP.String(), local.Port
	}
	if m.Transport != "udp" && m.SrcIP != "" {
		// sipgo keys stream connections by remote address.
		m.ConnID = m.Transport + ":" + m.SourceAddr()
	}
	return m
}

// SetLocal records the receiving socket.
func (m *Msg) SetLocal(addr net.Addr) {
	if addr == nil {
		return
	}
	if host, port, err := sip.ParseAddr(addr.String()); err == nil {
		m.LocalIP, m.LocalPort = host, port
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
	if m.Req.IsAck() {
		return nil, ErrNoReply
	}
	if code < 100 || code > 699 {
		return nil, fmt.Errorf("core: reply code %d out of range 100-699", code)
	}
	if reason == "" {
		reason = ReasonPhrase(code)
	}
	if err := CheckHeaderValue(reason); err != nil {
		return nil, fmt.Errorf("core: reply reason: %w", err)
	}
	res := sip.NewResponseFromRequest(m.Req, code, reason, nil)
	m.markReceived(res)
	if m.Server != "" {
		res.AppendHeader(sip.NewHeader("Server", m.Server))
	}
	for _, h := range m.ReplyHeaders {
		res.AppendHeader(h)
	}
	return res, nil
}

// Send sends a reply built by NewReply, enforcing one final reply.
func (m *Msg) Send(res *sip.Response) error {
	if res.StatusCode >= 200 {
		if !m.replied.CompareAndSwap(false, true) {
			return ErrReplied
		}
		m.replyCode.Store(int32(res.StatusCode))
	} else if m.replied.Load() {
		return ErrReplied
	}
	if res.ContentLength() == nil {
		res.AppendHeader(sip.NewHeader("Content-Length", "0"))
	}
	if m.respond == nil {
		return nil
	}
	if err := m.respond(res); err != nil {
		return fmt.Errorf("core: send %d: %w", res.StatusCode, err)
	}
	return nil
}

// markReceived adds "received" to the top Via when its sent-by host is not
// the packet's source address (RFC 3261 §18.2.1); sipgo adds it only for
// rport requests.
func (m *Msg) markReceived(res *sip.Response) {
	via := res.Via()
	if via == nil || m.SrcIP == "" {
		return
	}
	if via.Params != nil && via.Params.Has("received") {
		return
	}
	if via.Host == m.SrcIP {
		return
	}
	if ip := net.ParseIP(strings.Trim(via.Host, "[]")); ip != nil && ip.String() == m.SrcIP {
		return
	}
	if via.Params == nil {
		via.Params = sip.NewParams()
	}
	via.Params.Add("received", m.SrcIP)
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
