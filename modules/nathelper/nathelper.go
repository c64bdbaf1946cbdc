package nathelper

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
)

// The tests of nat_uac_test, with Kamailio's flag values. A request is
// taken to come from behind a NAT when any test asked for holds.
const (
	// TestContactPrivate: the first Contact's host is a private address.
	TestContactPrivate = 1 << iota
	// TestViaReceived: the top Via's host is not the source IP address.
	TestViaReceived
	// TestViaPrivate: the top Via's host is a private address.
	TestViaPrivate
	// TestSDPPrivate: a c= line of the SDP body has a private address.
	TestSDPPrivate
	// TestViaPort: the source port is not the top Via's port (5060 when absent).
	TestViaPort
	// TestSourcePrivate: the source IP address is a private address.
	TestSourcePrivate
	// TestWebSocket: the request came over WebSocket (ws or wss).
	TestWebSocket
	// TestContactPort: the source port is not the first Contact's port (5060 when absent).
	TestContactPort
	// TestSDPSource: the SDP body has no c= line with the source IP address.
	TestSDPSource

	// AllTests is every test.
	AllTests = TestSDPSource<<1 - 1
)

// sipPort is the port assumed where a Via or Contact has none; Kamailio's
// tests use 5060 whatever the transport.
const sipPort = 5060

// Errors of the Contact and alias functions.
var (
	ErrNoContact = errors.New("nathelper: no Contact with a URI")
	ErrNoSource  = errors.New("nathelper: no source address")
	ErrNotUDP    = errors.New("nathelper: received as a URI parameter needs UDP")
	ErrBadAlias  = errors.New("nathelper: malformed alias parameter")
	ErrBadArg    = errors.New("nathelper: invalid address argument")
)

// private are the networks Kamailio's nathelper takes for private:
// RFC 1918, RFC 6598 (carrier-grade NAT) and RFC 7335's 192.0.0.0/29.
var private = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/29"),
}

// reserved is added to private with nat_addr_mode 1 (IETF protocol
// assignments, RFC 7335).
var reserved = netip.MustParsePrefix("192.0.0.0/24")

// IsPrivate reports whether host (an address, IPv6 possibly in brackets)
// is an IPv4 address in a private network. As in Kamailio, only IPv4
// addresses are tested: a host name or an IPv6 address is not private.
func (n *NATHelper) IsPrivate(host string) bool {
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return false
	}
	for _, p := range private {
		if p.Contains(a) {
			return true
		}
	}
	return n.NATAddrMode == 1 && reserved.Contains(a)
}

// IsRFC1918 is Kamailio's is_rfc1918(ip): 1 when ip is a private IPv4
// address, -1 otherwise (a malformed address included).
func (n *NATHelper) IsRFC1918(ip string) int {
	if n.IsPrivate(ip) {
		return 1
	}
	return -1
}

// UACTest runs the tests of flags (a bitwise OR of the Test constants)
// on m and returns the first that holds, 0 when none does. This is
// Kamailio's nat_uac_test(flags).
func (n *NATHelper) UACTest(m *core.Msg, flags int) int {
	req := m.Req
	via := req.Via()
	if flags&TestViaPort != 0 && via != nil && m.SrcPort != portOr(via.Port) {
		return TestViaPort
	}
	if flags&TestViaReceived != 0 && via != nil && !sameIP(via.Host, m.SrcIP) {
		return TestViaReceived
	}
	if flags&(TestContactPrivate|TestContactPort) != 0 {
		if _, c := firstContact(req); c != nil {
			if flags&TestContactPrivate != 0 && n.IsPrivate(unbracket(c.Address.Host)) {
				return TestContactPrivate
			}
			if flags&TestContactPort != 0 && m.SrcPort != portOr(c.Address.Port) {
				return TestContactPort
			}
		}
	}
	if flags&(TestSDPPrivate|TestSDPSource) != 0 {
		if body, ok := sdp(req); ok {
			if flags&TestSDPPrivate != 0 && n.sdpPrivate(body) {
				return TestSDPPrivate
			}
			if flags&TestSDPSource != 0 && !sdpHas(body, m.SrcIP) {
				return TestSDPSource
			}
		}
	}
	if flags&TestViaPrivate != 0 && via != nil && n.IsPrivate(unbracket(via.Host)) {
		return TestViaPrivate
	}
	if flags&TestSourcePrivate != 0 && n.IsPrivate(m.SrcIP) {
		return TestSourcePrivate
	}
	if flags&TestWebSocket != 0 && (m.Transport == "ws" || m.Transport == "wss") {
		return TestWebSocket
	}
	return 0
}

func portOr(p int) int {
	if p == 0 {
		return sipPort
	}
	return p
}

func unbracket(h string) string {
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

// sameIP reports whether host (a Via or URI host) is the address ip. A
// host name is not: Kamailio does not resolve it either.
func sameIP(host, ip string) bool {
	host = unbracket(host)
	if host == ip {
		return true
	}
	a, err1 := netip.ParseAddr(host)
	b, err2 := netip.ParseAddr(ip)
	return err1 == nil && err2 == nil && a.Unmap() == b.Unmap()
}

// firstContact returns the first Contact header field with a URI (not
// "*") and its index among req's headers.
func firstContact(req *sip.Request) (int, *sip.ContactHeader) {
	for i, h := range req.Headers() {
		if c, ok := h.(*sip.ContactHeader); ok {
			if c.Address.Wildcard || c.Address.Host == "" {
				return -1, nil
			}
			return i, c
		}
	}
	return -1, nil
}

// sdp returns the body when it is SDP: Content-Type application/sdp, or
// none at all with a body that starts as SDP does.
func sdp(req *sip.Request) ([]byte, bool) {
	body := req.Body()
	if len(body) == 0 {
		return nil, false
	}
	if ct := req.ContentType(); ct != nil {
		v, _, _ := strings.Cut(ct.Value(), ";")
		return body, strings.EqualFold(strings.TrimSpace(v), "application/sdp")
	}
	return body, bytes.HasPrefix(body, []byte("v="))
}

// connections calls fn with the address of every c= line of an SDP body
// and whether it is IPv4, until fn returns true.
func connections(body []byte, fn func(addr string, ip4 bool) bool) bool {
	for len(body) > 0 {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		line = bytes.TrimRight(line, "\r")
		if !bytes.HasPrefix(line, []byte("c=")) {
			continue
		}
		// c=IN IP4 192.0.2.1[/ttl[/n]]
		f := strings.Fields(string(line[2:]))
		if len(f) < 3 || f[0] != "IN" {
			continue
		}
		addr, _, _ := strings.Cut(f[2], "/")
		if fn(addr, f[1] == "IP4") {
			return true
		}
	}
	return false
}

// sdpPrivate reports whether a c= line has a private IPv4 address
// (0.0.0.0, on hold, is not).
func (n *NATHelper) sdpPrivate(body []byte) bool {
	return connections(body, func(addr string, ip4 bool) bool {
		return ip4 && n.IsPrivate(addr)
	})
}

// sdpHas reports whether a c= line has the address ip.
func sdpHas(body []byte, ip string) bool {
	return ip != "" && connections(body, func(addr string, _ bool) bool { return sameIP(addr, ip) })
}

// hostOf is ip as a URI host: IPv6 in brackets.
func hostOf(ip string) string {
	if strings.IndexByte(ip, ':') >= 0 {
		return "[" + ip + "]"
	}
	return ip
}

// ReceivedURI is the address m came from as a SIP URI,
// "sip:ip:port;transport=proto" (no transport for UDP), as Kamailio's
// fix_nated_register and add_rcv_param build it.
func ReceivedURI(m *core.Msg) (string, error) {
	if m.SrcIP == "" {
		return "", ErrNoSource
	}
	u := "sip:" + hostOf(m.SrcIP) + ":" + strconv.Itoa(m.SrcPort)
	if m.Transport != "" && m.Transport != "udp" {
		u += ";transport=" + m.Transport
	}
	return u, nil
}

// ReceivedKey is the core.Msg data key under which FixNatedRegister
// records the received URI.
const ReceivedKey = "nathelper.received"

// Received returns the received URI FixNatedRegister recorded for m.
func Received(m *core.Msg) (string, bool) {
	s, ok := m.Get(ReceivedKey).(string)
	return s, ok
}

// FixNatedRegister is Kamailio's fix_nated_register(): it records the
// source address as the request's received URI. The registrar stores the
// source address (proto:ip:port) with every binding it saves whether or
// not this is called, and lookup sends to it when the contact points
// elsewhere; the recorded URI is for the script and for other modules.
func (n *NATHelper) FixNatedRegister(m *core.Msg) (string, error) {
	u, err := ReceivedURI(m)
	if err != nil {
		return "", err
	}
	m.Set(ReceivedKey, u)
	return u, nil
}

// FixNatedContact is Kamailio's fix_nated_contact(): it rewrites the host
// and port of the first Contact URI to the source address and drops its
// maddr parameter, in the request itself (a REGISTER saved afterwards
// stores the rewritten contact).
func (n *NATHelper) FixNatedContact(m *core.Msg) error {
	if m.SrcIP == "" {
		return ErrNoSource
	}
	return editContact(m.Req, func(c *sip.ContactHeader) error {
		c.Address.Host = hostOf(m.SrcIP)
		c.Address.Port = m.SrcPort
		c.Address.UriParams.Remove("maddr")
		return nil
	})
}

// editContact applies edit to a copy of the first Contact and puts the
// copy in its place (sipgo's headers are shared pointers: never change
// them in place).
func editContact(req *sip.Request, edit func(*sip.ContactHeader) error) error {
	i, c := firstContact(req)
	if c == nil {
		return ErrNoContact
	}
	c = c.Clone()
	if err := edit(c); err != nil {
		return err
	}
	req.Headers()[i] = c
	// Refresh sipgo's reference to the first Contact.
	req.ReplaceHeader(c)
	return nil
}

// AddRcvParam is Kamailio's add_rcv_param(flag): it adds
// received="<ReceivedURI>" to every Contact (flag 0), or, flag non-zero,
// received=<ReceivedURI> as a parameter of every Contact URI (UDP only).
// It returns how many contacts it changed.
func (n *NATHelper) AddRcvParam(m *core.Msg, uriParam bool) (int, error) {
	if uriParam && m.Transport != "udp" {
		return 0, ErrNotUDP
	}
	u, err := ReceivedURI(m)
	if err != nil {
		return 0, err
	}
	hs := m.Req.Headers()
	count := 0
	var first *sip.ContactHeader
	for i, h := range hs {
		c, ok := h.(*sip.ContactHeader)
		if !ok || c.Address.Wildcard {
			continue
		}
		c = c.Clone()
		if uriParam {
			c.Address.UriParams.Add("received", u)
		} else {
			c.Params.Add("received", `"`+u+`"`)
		}
		hs[i] = c
		if first == nil {
			first = c
		}
		count++
	}
	if first == nil {
		return 0, ErrNoContact
	}
	m.Req.ReplaceHeader(first)
	return count, nil
}

// Kamailio's transport numbers, used in alias parameters.
var protoNumbers = map[string]byte{"udp": '1', "tcp": '2', "tls": '3', "sctp": '4', "ws": '5', "wss": '6'}

// protoNames are the transports by Kamailio number, from 1.
var protoNames = [...]string{"udp", "tcp", "tls", "sctp", "ws", "wss"}

// alias is the value of an alias parameter: "ip~port~n".
func alias(ip string, port int, proto string) (string, error) {
	n, ok := protoNumbers[proto]
	if !ok {
		return "", fmt.Errorf("%w: transport %q", ErrBadArg, proto)
	}
	return hostOf(ip) + "~" + strconv.Itoa(port) + "~" + string(n), nil
}

// SetContactAlias is Kamailio's set_contact_alias(): it adds
// ;alias=ip~port~transport with the source address to the first Contact
// URI (replacing an alias parameter it has).
func (n *NATHelper) SetContactAlias(m *core.Msg) error {
	if m.SrcIP == "" {
		return ErrNoSource
	}
	a, err := alias(m.SrcIP, m.SrcPort, m.Transport)
	if err != nil {
		return err
	}
	return editContact(m.Req, func(c *sip.ContactHeader) error {
		c.Address.UriParams.Add("alias", a)
		return nil
	})
}

// AddContactAlias is Kamailio's add_contact_alias(): as SetContactAlias,
// but only when the first Contact's address, port or transport differs
// from the source. added is false when there is no Contact or no need.
func (n *NATHelper) AddContactAlias(m *core.Msg) (added bool, err error) {
	_, c := firstContact(m.Req)
	if c == nil {
		return false, nil
	}
	transport, _ := c.Address.UriParams.Get("transport")
	if transport == "" {
		transport = "udp"
	}
	if sameIP(c.Address.Host, m.SrcIP) && portOr(c.Address.Port) == m.SrcPort && strings.EqualFold(transport, m.Transport) {
		return false, nil
	}
	return true, n.SetContactAlias(m)
}

// AddContactAliasAddr is Kamailio's add_contact_alias(ip, port, proto):
// it adds ;alias=ip~port~transport with the given address to the first
// Contact URI. added is false when there is no Contact.
func (n *NATHelper) AddContactAliasAddr(m *core.Msg, ip, port, proto string) (added bool, err error) {
	a, err := netip.ParseAddr(unbracket(ip))
	if err != nil {
		return false, fmt.Errorf("%w: ip %q", ErrBadArg, clip(ip))
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return false, fmt.Errorf("%w: port %q", ErrBadArg, clip(port))
	}
	v, err := alias(a.String(), p, strings.ToLower(proto))
	if err != nil {
		return false, err
	}
	if _, c := firstContact(m.Req); c == nil {
		return false, nil
	}
	return true, editContact(m.Req, func(c *sip.ContactHeader) error {
		c.Address.UriParams.Add("alias", v)
		return nil
	})
}

// ParseAlias reads an alias parameter value, "ip~port~n", into the SIP
// URI to send to: "sip:ip:port", with ";transport=" for other than UDP.
func ParseAlias(v string) (string, error) {
	ip, rest, ok := strings.Cut(v, "~")
	if !ok {
		return "", ErrBadAlias
	}
	port, proto, ok := strings.Cut(rest, "~")
	if !ok || len(proto) != 1 {
		return "", ErrBadAlias
	}
	a, err := netip.ParseAddr(unbracket(ip))
	if err != nil || a.Zone() != "" {
		return "", ErrBadAlias
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 || port[0] == '+' || port[0] == '0' {
		return "", ErrBadAlias
	}
	if proto[0] < '1' || proto[0] > '6' {
		return "", ErrBadAlias
	}
	transport := protoNames[proto[0]-'1']
	u := "sip:" + hostOf(a.String()) + ":" + port
	if transport != "udp" {
		u += ";transport=" + transport
	}
	return u, nil
}

// HandleRURIAlias is Kamailio's handle_ruri_alias(): when the
// Request-URI has an alias parameter, it sets the destination ($du) to
// the address in it and removes the parameter. found is false when there
// is none.
func (n *NATHelper) HandleRURIAlias(m *core.Msg) (found bool, err error) {
	v, ok := m.Req.Recipient.UriParams.Get("alias")
	if !ok {
		return false, nil
	}
	dst, err := ParseAlias(v)
	if err != nil {
		return true, err
	}
	m.DstURI = dst
	m.Req.Recipient.UriParams.Remove("alias")
	return true, nil
}

// clip shortens a script-supplied value for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
