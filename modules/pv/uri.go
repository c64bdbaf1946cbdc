package pv

import (
	"errors"
	"net"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// uriString renders u as sipgo writes it on the wire, in one allocation.
// sipgo's own Uri.String grows a builder several times, renders parameters
// into a separate string and parses the host as an IP address each time.
func uriString(u *sip.Uri) string {
	var b strings.Builder
	b.Grow(uriSizeBound(u))
	scheme := u.Scheme
	if scheme == "" {
		scheme = "sip"
	}
	b.WriteString(scheme)
	b.WriteByte(':')
	if raw := u.Raw(); raw != "" {
		b.WriteString(raw)
		return b.String()
	}
	if u.HierarhicalSlashes {
		b.WriteString("//")
	}
	if u.User != "" {
		b.WriteString(u.User)
		if u.Password != "" {
			b.WriteByte(':')
			b.WriteString(u.Password)
		}
		b.WriteByte('@')
	}
	if needsBrackets(u.Host) {
		b.WriteByte('[')
		b.WriteString(u.Host)
		b.WriteByte(']')
	} else {
		b.WriteString(u.Host)
	}
	if u.Port > 0 {
		b.WriteByte(':')
		writeInt(&b, u.Port)
	}
	writeParams(&b, ';', ';', u.UriParams)
	writeParams(&b, '?', '&', u.Headers)
	return b.String()
}

// writeInt writes a non-negative n in decimal without a scratch slice.
func writeInt(b *strings.Builder, n int) {
	if n >= 10 {
		writeInt(b, n/10)
	}
	b.WriteByte(byte('0' + n%10))
}

// needsBrackets reports whether host is an IPv6 address written without
// brackets. sipgo keeps the brackets of parsed hosts; a bare IPv6 host can
// only come from code that set it, and sipgo brackets it on the wire.
func needsBrackets(host string) bool {
	return host != "" && host[0] != '[' && strings.IndexByte(host, ':') >= 0
}

// writeParams writes params as sipgo's HeaderParams.ToString does, after
// lead: values holding a space or tab are quoted.
func writeParams(b *strings.Builder, lead, sep byte, params sip.HeaderParams) {
	for i, kv := range params {
		if i == 0 {
			b.WriteByte(lead)
		} else {
			b.WriteByte(sep)
		}
		b.WriteString(kv.K)
		switch {
		case strings.IndexByte(kv.V, ' ') >= 0 || strings.IndexByte(kv.V, '\t') >= 0:
			b.WriteString(`="`)
			b.WriteString(kv.V)
			b.WriteByte('"')
		case kv.V != "":
			b.WriteByte('=')
			b.WriteString(kv.V)
		}
	}
}

// uriSizeBound is at least the length uriString writes, so its builder
// allocates once.
func uriSizeBound(u *sip.Uri) int {
	n := len(u.Scheme) + 4 + len(u.Raw()) + 2 + len(u.User) + 1 + len(u.Password) + 1 + len(u.Host) + 2 + 21
	for _, kv := range u.UriParams {
		n += len(kv.K) + len(kv.V) + 4
	}
	for _, kv := range u.Headers {
		n += len(kv.K) + len(kv.V) + 4
	}
	return n
}

// isSIP reports whether u is a sip: or sips: URI, the only ones with a
// user, host and port.
func isSIP(u *sip.Uri) bool {
	return u.Scheme == "" || u.Scheme == "sip" || u.Scheme == "sips"
}

// defaultPort is $rp for a URI without a port, as Kamailio reports it.
func defaultPort(u *sip.Uri) string {
	if u.Scheme == "sips" {
		return "5061"
	}
	if t, ok := u.UriParams.Get("transport"); ok && strings.EqualFold(t, "tls") {
		return "5061"
	}
	return "5060"
}

// Reasons a new Request-URI or part of it is refused.
var (
	errURIChars  = errors.New("space, control or non-ASCII character in URI")
	errNoHost    = errors.New("no host in the SIP URI")
	errBadHost   = errors.New("host is not a domain name or IP address")
	errBadUser   = errors.New("character not allowed in the user part")
	errBadPort   = errors.New("port not in 1-65535")
	errNotSIPURI = errors.New("the Request-URI is not a sip: or sips: URI")
)

// parseRURI parses and checks a whole new Request-URI. It must stay one
// token on the request line: no space, control or non-ASCII byte.
func parseRURI(s string) (sip.Uri, error) {
	var u sip.Uri
	if s == "" {
		return u, errNoHost
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return u, errURIChars
		}
	}
	if err := sip.ParseUri(s, &u); err != nil {
		return u, err
	}
	if !isSIP(&u) {
		return u, nil
	}
	if u.Wildcard || u.Host == "" {
		return u, errNoHost
	}
	if _, err := normHost(u.Host); err != nil {
		return u, err
	}
	if (u.User != "" && !validUser(u.User)) || (u.Password != "" && !validUser(u.Password)) {
		return u, errBadUser
	}
	if u.Port < 0 || u.Port > 65535 {
		return u, errBadPort
	}
	return u, nil
}

// normHost checks a host and returns it as sipgo stores it: IPv6
// addresses in brackets.
func normHost(h string) (string, error) {
	if h == "" || len(h) > 255 {
		return "", errBadHost
	}
	if h[0] == '[' {
		if h[len(h)-1] != ']' || !isIPv6(h[1:len(h)-1]) {
			return "", errBadHost
		}
		return h, nil
	}
	if strings.IndexByte(h, ':') >= 0 {
		if !isIPv6(h) {
			return "", errBadHost
		}
		return "[" + h + "]", nil
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return "", errBadHost
		}
	}
	return h, nil
}

func isIPv6(s string) bool {
	return strings.IndexByte(s, ':') >= 0 && net.ParseIP(s) != nil
}

// validUser reports whether s may be the user part of a SIP URI (RFC 3261
// §25.1: unreserved, escaped and user-unreserved characters).
func validUser(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_.!~*'()&=+$,;?/", c) >= 0:
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return s != ""
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// parsePort parses a port given as text: digits only, 1-65535.
func parsePort(s string) (int, error) {
	if s == "" || len(s) > 5 {
		return 0, errBadPort
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errBadPort
		}
		n = n*10 + int(s[i]-'0')
	}
	if n < 1 || n > 65535 {
		return 0, errBadPort
	}
	return n, nil
}
