package auth

import (
	"errors"
	"fmt"
	"strings"
)

// Digest holds the parameters of a Digest Authorization or
// Proxy-Authorization header (RFC 7616 §3.4, RFC 3261 §25.1), unquoted.
type Digest struct {
	Username  string
	Realm     string
	Nonce     string
	URI       string
	Response  string
	Algorithm string // as sent; "" means MD5
	CNonce    string
	Opaque    string
	QOP       string // "", "auth" or "auth-int" (lower-cased)
	NC        string // nonce count, 1 to 8 hex digits when QOP is set
}

// Limits on what ParseAuthorization reads: a real header is a few hundred
// bytes with ten parameters.
const (
	MaxAuthorizationLen = 4096
	maxParams           = 32
)

// Errors of ParseAuthorization. They name parameters, never values: a
// header may carry a password-equivalent response.
var (
	ErrMalformed = errors.New("auth: malformed credentials")
	ErrNotDigest = errors.New("auth: not Digest credentials")
)

// ParseAuthorization parses the value of an Authorization or
// Proxy-Authorization header. It refuses a scheme other than Digest, bad
// syntax or quoting, a duplicated parameter, a missing required one
// (username, realm, nonce, uri, response; nc and cnonce with qop), a qop
// other than auth or auth-int, userhash and username*, and values longer
// than MaxAuthorizationLen in all. Unknown parameters are ignored, as
// RFC 7616 asks. Values are substrings of v unless they had escapes.
func ParseAuthorization(v string) (Digest, error) {
	var d Digest
	if len(v) > MaxAuthorizationLen {
		return d, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxAuthorizationLen)
	}
	p := parser{s: v}
	p.skipLWS()
	scheme := p.token()
	if !strings.EqualFold(scheme, "Digest") {
		if scheme == "" {
			return d, fmt.Errorf("%w: no scheme", ErrMalformed)
		}
		return d, ErrNotDigest
	}
	if p.i < len(p.s) && !isLWS(p.s[p.i]) {
		return d, fmt.Errorf("%w: no space after the scheme", ErrMalformed)
	}
	var seen uint16
	for n := 0; ; n++ {
		// Empty list elements (",,") are allowed (RFC 7230 §7).
		for {
			p.skipLWS()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				continue
			}
			break
		}
		if p.i >= len(p.s) {
			break
		}
		if n == maxParams {
			return d, fmt.Errorf("%w: more than %d parameters", ErrMalformed, maxParams)
		}
		name := p.token()
		if name == "" {
			return d, fmt.Errorf("%w: parameter %d has no name", ErrMalformed, n+1)
		}
		p.skipLWS()
		if p.i >= len(p.s) || p.s[p.i] != '=' {
			return d, fmt.Errorf("%w: parameter %.32q has no value", ErrMalformed, name)
		}
		p.i++
		p.skipLWS()
		val, err := p.value()
		if err != nil {
			return d, fmt.Errorf("%w: parameter %.32q: %v", ErrMalformed, name, err)
		}
		p.skipLWS()
		if p.i < len(p.s) && p.s[p.i] != ',' {
			return d, fmt.Errorf("%w: parameter %.32q: junk after the value", ErrMalformed, name)
		}
		field, bit := d.field(name)
		if bit == 0 {
			continue // an auth-param of an extension
		}
		if bit == bitUnsupported {
			return d, fmt.Errorf("%w: parameter %.32q is not supported", ErrMalformed, name)
		}
		if seen&bit != 0 {
			return d, fmt.Errorf("%w: parameter %.32q given twice", ErrMalformed, name)
		}
		seen |= bit
		*field = val
	}
	for _, r := range required {
		if seen&r.bit == 0 {
			return d, fmt.Errorf("%w: no %s", ErrMalformed, r.name)
		}
	}
	if seen&bitQOP != 0 {
		switch {
		case strings.EqualFold(d.QOP, "auth"):
			d.QOP = "auth"
		case strings.EqualFold(d.QOP, "auth-int"):
			d.QOP = "auth-int"
		default:
			return d, fmt.Errorf("%w: qop is neither auth nor auth-int", ErrMalformed)
		}
		if seen&bitNC == 0 || seen&bitCNonce == 0 {
			return d, fmt.Errorf("%w: qop without nc or cnonce", ErrMalformed)
		}
		if _, ok := ParseNC(d.NC); !ok {
			return d, fmt.Errorf("%w: nc is not 1 to 8 hex digits", ErrMalformed)
		}
		if d.CNonce == "" {
			return d, fmt.Errorf("%w: empty cnonce", ErrMalformed)
		}
	} else {
		// Without qop (RFC 2069) nc and cnonce take no part in the digest.
		d.NC, d.CNonce = "", ""
	}
	if d.Username == "" || d.Nonce == "" || d.Response == "" {
		return d, fmt.Errorf("%w: empty username, nonce or response", ErrMalformed)
	}
	return d, nil
}

// ParseNC parses a nonce count: 1 to 8 hex digits, not zero.
func ParseNC(s string) (uint32, bool) {
	if len(s) == 0 || len(s) > 8 {
		return 0, false
	}
	var n uint32
	for i := 0; i < len(s); i++ {
		v := unhex(s[i])
		if v > 15 {
			return 0, false
		}
		n = n<<4 | uint32(v)
	}
	return n, n != 0
}

// Parameter bits, to find duplicates and missing ones.
const (
	bitUsername uint16 = 1 << iota
	bitRealm
	bitNonce
	bitURI
	bitResponse
	bitAlgorithm
	bitCNonce
	bitOpaque
	bitQOP
	bitNC
	bitUnsupported
)

var required = []struct {
	bit  uint16
	name string
}{{bitUsername, "username"}, {bitRealm, "realm"}, {bitNonce, "nonce"}, {bitURI, "uri"}, {bitResponse, "response"}}

// field returns where parameter name goes and its bit; 0 for a parameter
// locus ignores.
func (d *Digest) field(name string) (*string, uint16) {
	var buf [16]byte
	if len(name) > len(buf) {
		return nil, 0
	}
	lower := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	switch string(lower) { // no allocation: the compiler compares in place
	case "username":
		return &d.Username, bitUsername
	case "realm":
		return &d.Realm, bitRealm
	case "nonce":
		return &d.Nonce, bitNonce
	case "uri":
		return &d.URI, bitURI
	case "response":
		return &d.Response, bitResponse
	case "algorithm":
		return &d.Algorithm, bitAlgorithm
	case "cnonce":
		return &d.CNonce, bitCNonce
	case "opaque":
		return &d.Opaque, bitOpaque
	case "qop":
		return &d.QOP, bitQOP
	case "nc":
		return &d.NC, bitNC
	case "username*", "userhash":
		// locus never offers userhash, so a client has no reason to
		// send these; a hashed or encoded username would not match.
		return nil, bitUnsupported
	}
	return nil, 0
}

// parser reads the header value left to right.
type parser struct {
	s string
	i int
}

func isLWS(c byte) bool { return c == ' ' || c == '\t' }

func (p *parser) skipLWS() {
	for p.i < len(p.s) && isLWS(p.s[p.i]) {
		p.i++
	}
}

// isTokenChar reports an RFC 3261 token character.
func isTokenChar(c byte) bool { return tokenChars[c] }

var tokenChars = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("-.!%*_+`'~", byte(c)) >= 0
	}
	return t
}()

func (p *parser) token() string {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// value reads a quoted string (RFC 3261 §25.1, with quoted-pair escapes)
// or an unquoted value. Unquoted values are read up to a comma or space
// rather than as strict tokens: clients send nonce=abc/+= and similar.
func (p *parser) value() (string, error) {
	if p.i < len(p.s) && p.s[p.i] == '"' {
		return p.quoted()
	}
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == ',' || isLWS(c) {
			break
		}
		if c < 0x20 || c == 0x7f || c == '"' || c == '\\' {
			return "", errors.New("bad character in an unquoted value")
		}
		p.i++
	}
	if p.i == start {
		return "", errors.New("empty value")
	}
	return p.s[start:p.i], nil
}

func (p *parser) quoted() (string, error) {
	p.i++ // opening quote
	start := p.i
	escaped := false
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			v := p.s[start:p.i]
			p.i++
			if escaped {
				return unescape(v), nil
			}
			return v, nil
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", errors.New("unterminated escape")
			}
			if n := p.s[p.i+1]; n < 0x20 && n != '\t' || n == 0x7f {
				return "", errors.New("control character escaped")
			}
			escaped = true
			p.i += 2
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", errors.New("control character in a quoted string")
		default:
			p.i++
		}
	}
	return "", errors.New("unterminated quoted string")
}

// unescape removes the backslashes of quoted pairs.
func unescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// quote writes s as a quoted string, escaping quotes and backslashes.
func quote(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}
