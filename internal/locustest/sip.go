package locustest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// ErrTimeout is returned by Exchange and Recv when nothing arrived in time.
var ErrTimeout = errors.New("locustest: no SIP message within the timeout")

// Client is a raw SIP peer on a UDP socket of 127.0.0.1.
type Client struct {
	t     testing.TB
	conn  *net.UDPConn
	raddr *net.UDPAddr
}

// Dial opens a UDP socket on 127.0.0.1 that talks to addr (ip:port). It is
// closed when the test ends.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatalf("locustest: dial %s: %v", addr, err)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("locustest: dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &Client{t: t, conn: conn, raddr: raddr}
}

// LocalAddr is the client's own ip:port.
func (c *Client) LocalAddr() string { return c.conn.LocalAddr().String() }

// Send writes one datagram.
func (c *Client) Send(raw string) error {
	_, err := c.conn.WriteToUDP([]byte(raw), c.raddr)
	return err
}

// Recv reads and parses one message, or returns ErrTimeout.
func (c *Client) Recv(timeout time.Duration) (sip.Message, error) {
	buf := make([]byte, 65535)
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	n, _, err := c.conn.ReadFromUDP(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, ErrTimeout
	}
	if err != nil {
		return nil, err
	}
	return sip.NewParser().ParseSIP(buf[:n])
}

// Exchange sends raw and returns the final response with raw's Call-ID,
// skipping provisional responses and responses to earlier requests. It
// returns ErrTimeout when none arrives within timeout. It is safe to call
// from any goroutine, one exchange at a time per Client.
func (c *Client) Exchange(raw string, timeout time.Duration) (*sip.Response, error) {
	callID := headerValue(raw, "Call-ID", "i")
	if callID == "" {
		return nil, errors.New("locustest: request has no Call-ID")
	}
	if err := c.Send(raw); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, ErrTimeout
		}
		msg, err := c.Recv(left)
		if err != nil {
			return nil, err
		}
		res, ok := msg.(*sip.Response)
		if !ok || res.IsProvisional() {
			continue
		}
		if cid := res.CallID(); cid != nil && cid.Value() == callID {
			return res, nil
		}
	}
}

// MustExchange is Exchange with a 5 s timeout that fails the test when no
// final response comes. Call it from the test's goroutine only.
func (c *Client) MustExchange(raw string) *sip.Response {
	c.t.Helper()
	res, err := c.Exchange(raw, 5*time.Second)
	if err != nil {
		c.t.Fatalf("locustest: %v; request:\n%s", err, raw)
	}
	return res
}

// headerValue returns the value of the first header named name (or its
// compact form) in a raw message.
func headerValue(raw, name, compact string) string {
	for _, line := range strings.Split(raw, "\r\n") {
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		k = strings.TrimSpace(k)
		if ok && (strings.EqualFold(k, name) || compact != "" && strings.EqualFold(k, compact)) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

var seq atomic.Int64

// Request is a SIP request under construction. Register, Options and
// Invite fill it; change fields or add headers before calling String.
type Request struct {
	Method    string
	URI       string // Request-URI
	User      string // From and To user
	Domain    string // From and To domain
	Contact   string // Contact URI, or "*"; "" for none
	Expires   int    // Expires header; negative for none
	UserAgent string // "" for none
	CallID    string
	CSeq      int
	Headers   []string // more header lines, without CRLF
}

func newRequest(method, uri, user, domain, contact string, expires int, ua string) *Request {
	n := seq.Add(1)
	return &Request{
		Method: method, URI: uri, User: user, Domain: domain,
		Contact: contact, Expires: expires, UserAgent: ua,
		CallID: fmt.Sprintf("locustest-%d-%d", os.Getpid(), n),
		CSeq:   1,
	}
}

// Register builds a REGISTER for user@domain binding contact for expires
// seconds (negative: no Expires header; 0 removes the binding).
func Register(user, domain, contact string, expires int, ua string) *Request {
	return newRequest("REGISTER", "sip:"+domain, user, domain, contact, expires, ua)
}

// Options builds an OPTIONS to user@domain.
func Options(user, domain, ua string) *Request {
	return newRequest("OPTIONS", "sip:"+user+"@"+domain, user, domain, "", -1, ua)
}

// Invite builds an INVITE without a body to user@domain from the caller
// reachable at contact.
func Invite(user, domain, contact, ua string) *Request {
	return newRequest("INVITE", "sip:"+user+"@"+domain, user, domain, contact, -1, ua)
}

// Header adds a header line ("Name: value") and returns r.
func (r *Request) Header(line string) *Request {
	r.Headers = append(r.Headers, line)
	return r
}

// String renders the request. The Via asks for rport, so replies come
// back to the socket that sent it; each call makes a new branch.
func (r *Request) String() string {
	n := seq.Add(1)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", r.Method, r.URI)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bK-lt-%d-%d\r\n", os.Getpid(), n)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=lt%d\r\n", r.User, r.Domain, n)
	fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", r.User, r.Domain)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", r.CallID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", r.CSeq, r.Method)
	switch r.Contact {
	case "":
	case "*":
		b.WriteString("Contact: *\r\n")
	default:
		fmt.Fprintf(&b, "Contact: <%s>\r\n", r.Contact)
	}
	if r.Expires >= 0 {
		fmt.Fprintf(&b, "Expires: %d\r\n", r.Expires)
	}
	if r.UserAgent != "" {
		fmt.Fprintf(&b, "User-Agent: %s\r\n", r.UserAgent)
	}
	for _, h := range r.Headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}
