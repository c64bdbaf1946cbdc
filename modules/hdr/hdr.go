package hdr

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/internal/ascii"
)

// Errors returned for text a script passes in.
var (
	// ErrBadName is returned for a header name that is not an RFC 3261 token.
	ErrBadName = errors.New("hdr: invalid header name")
	// ErrBadLine is returned for header text that is not one "Name: value" line.
	ErrBadLine = errors.New("hdr: invalid header line")
	// ErrManaged is returned for Content-Length, which frames the message
	// on stream transports: locus sets it from the body, a script may not.
	ErrManaged = errors.New("hdr: Content-Length is set by locus")
)

// compactForms maps the one-letter compact header names (RFC 3261 §7.3.3
// and the IANA SIP header registry) to their full names, indexed by letter.
var compactForms = [26]string{
	'a' - 'a': "Accept-Contact",
	'b' - 'a': "Referred-By",
	'c' - 'a': "Content-Type",
	'd' - 'a': "Request-Disposition",
	'e' - 'a': "Content-Encoding",
	'f' - 'a': "From",
	'i' - 'a': "Call-ID",
	'j' - 'a': "Reject-Contact",
	'k' - 'a': "Supported",
	'l' - 'a': "Content-Length",
	'm' - 'a': "Contact",
	'n' - 'a': "Identity-Info",
	'o' - 'a': "Event",
	'r' - 'a': "Refer-To",
	's' - 'a': "Subject",
	't' - 'a': "To",
	'u' - 'a': "Allow-Events",
	'v' - 'a': "Via",
	'x' - 'a': "Session-Expires",
	'y' - 'a': "Identity",
}

// FullName returns the full form of a compact header name ("i" and "I"
// give "Call-ID") and any other name unchanged.
func FullName(name string) string {
	if len(name) == 1 {
		if c := name[0] | 0x20; c >= 'a' && c <= 'z' {
			if full := compactForms[c-'a']; full != "" {
				return full
			}
		}
	}
	return name
}

// NameEqual reports whether two header names denote the same header field:
// names compare case-insensitively and compact forms equal their full form.
func NameEqual(a, b string) bool {
	return equalFold(FullName(a), FullName(b))
}

// equalFold is an ASCII-only strings.EqualFold: header names are tokens,
// and Unicode folding would let "\u212a" (Kelvin sign) match "k".
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}

// ValidName reports whether name is a header name: an RFC 3261 token.
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~", c) >= 0
}

// Find returns the first header field of req named name (compact forms
// and case folded), or nil.
func Find(req *sip.Request, name string) sip.Header {
	want := FullName(name)
	for _, h := range req.Headers() {
		if equalFold(FullName(h.Name()), want) {
			return h
		}
	}
	return nil
}

// Get returns the body of the first header field named name. sipgo splits
// comma-separated values (Contact, Via, Route) into one field each, so
// the body is that of the first value.
func Get(req *sip.Request, name string) (string, bool) {
	h := Find(req, name)
	if h == nil {
		return "", false
	}
	return h.Value(), true
}

// IsPresent reports whether req has a header field named name.
func IsPresent(req *sip.Request, name string) bool {
	return Find(req, name) != nil
}

// Remove removes every header field of req named name and returns how
// many it removed. Content-Length cannot be removed (ErrManaged).
func Remove(req *sip.Request, name string) (int, error) {
	want := FullName(name)
	if equalFold(want, "Content-Length") {
		return 0, ErrManaged
	}
	n := 0
	for {
		var found sip.Header
		for _, h := range req.Headers() {
			if equalFold(FullName(h.Name()), want) {
				found = h
				break
			}
		}
		// sipgo's RemoveHeader drops the first field with exactly this
		// name, which is found: any earlier one would have matched first.
		if found == nil || !req.RemoveHeader(found.Name()) {
			return n, nil
		}
		n++
	}
}

// ParseLine parses header text in Kamailio's form, "Name: value" with an
// optional single trailing CRLF, into header fields (more than one when a
// Contact, Via or Route line lists several values). Text with CR, LF or NUL
// anywhere else, an invalid name, or a value sipgo cannot parse for a
// header it knows (From, To, Contact, CSeq, ...) is refused, and so is
// Content-Length (ErrManaged): a wrong one would desynchronise a TCP or
// TLS stream.
func ParseLine(txt string) ([]sip.Header, error) {
	line := strings.TrimSuffix(txt, "\r\n")
	if err := core.CheckHeaderValue(line); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadLine, err)
	}
	colon := strings.IndexByte(line, ':')
	if colon < 0 {
		return nil, fmt.Errorf("%w: no colon", ErrBadLine)
	}
	name := ascii.TrimRightSPHT(line[:colon])
	if !ValidName(name) {
		return nil, fmt.Errorf("%w %q", ErrBadName, clip(name))
	}
	if NameEqual(name, "Content-Length") {
		return nil, ErrManaged
	}
	value := ascii.TrimSPHT(line[colon+1:])
	hs, err := sip.HeadersParser(sip.DefaultHeadersParser()).ParseHeader(nil, []byte(name+": "+value))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadLine, name, err)
	}
	return hs, nil
}

// Append adds the header text txt ("Name: value\r\n") after the last
// header field of req. Unlike Kamailio, which applies the change when the
// message is sent, the field is visible to Get at once.
func Append(req *sip.Request, txt string) error {
	hs, err := ParseLine(txt)
	if err != nil {
		return err
	}
	for _, h := range hs {
		req.AppendHeader(h)
	}
	return nil
}

// AppendToReply adds the header text txt ("Name: value\r\n") to the
// replies locus sends for m.
func AppendToReply(m *core.Msg, txt string) error {
	hs, err := ParseLine(txt)
	if err != nil {
		return err
	}
	m.ReplyHeaders = append(m.ReplyHeaders, hs...)
	return nil
}
