package registrar

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/internal/ascii"
)

// AOR returns the canonical address-of-record of a URI: scheme, user and
// lower-cased host, no port, parameters or headers (RFC 3261 §10.3 step 5).
// The user is lower-cased too when caseSensitive is false.
func AOR(u *sip.Uri, caseSensitive bool) (string, error) {
	if u == nil || u.Host == "" {
		return "", errors.New("URI has no host")
	}
	if aor, ok := asciiAOR(u, caseSensitive); ok {
		return aor, nil
	}
	return longAOR(u, caseSensitive)
}

// longAOR is AOR for any URI.
func longAOR(u *sip.Uri, caseSensitive bool) (string, error) {
	scheme := strings.ToLower(u.Scheme)
	if scheme == "" {
		scheme = "sip"
	}
	if scheme != "sip" && scheme != "sips" {
		return "", fmt.Errorf("unsupported URI scheme %q", u.Scheme)
	}
	user := u.User
	if !caseSensitive {
		user = strings.ToLower(user)
	}
	host := strings.ToLower(u.Host)
	// A user part starting with "//" would read back as an authority
	// ("sip://host"), so it cannot round-trip through a URI parser.
	if hasControl(user) || ascii.ContainsAny(user, " :@") || strings.HasPrefix(user, "//") {
		return "", fmt.Errorf("bad user part %q", user)
	}
	if !validHost(host) {
		return "", fmt.Errorf("bad host %q", host)
	}
	if user == "" {
		return scheme + ":" + host, nil
	}
	return scheme + ":" + user + "@" + host, nil
}

// asciiAOR is AOR for the common URI, built in one pass and one
// allocation: a sip or sips scheme and an ASCII user and host name (or
// IPv4 address) that AOR accepts. It reports false for anything else,
// which AOR then takes the long way, with its errors and its Unicode
// case folding.
func asciiAOR(u *sip.Uri, caseSensitive bool) (string, bool) {
	var scheme string
	switch {
	case u.Scheme == "" || ascii.EqualFoldLower(u.Scheme, "sip"):
		scheme = "sip"
	case ascii.EqualFoldLower(u.Scheme, "sips"):
		scheme = "sips"
	default:
		return "", false
	}
	if strings.HasPrefix(u.User, "//") {
		return "", false
	}
	var stack [128]byte
	b := append(stack[:0], scheme...)
	b = append(b, ':')
	if u.User != "" {
		for i := 0; i < len(u.User); i++ {
			c := u.User[i]
			switch {
			case c < 0x21 || c >= 0x7f || c == ':' || c == '@':
				return "", false // control, space, DEL, non-ASCII, or a separator
			case !caseSensitive && 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			}
			b = append(b, c)
		}
		b = append(b, '@')
	}
	for i := 0; i < len(u.Host); i++ {
		c := u.Host[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_':
		default:
			return "", false // IPv6, or a host AOR refuses
		}
		b = append(b, c)
	}
	return string(b), true
}

// validHost accepts host names, IPv4 and bracketed IPv6 addresses.
func validHost(h string) bool {
	if h == "" {
		return false
	}
	if h[0] == '[' {
		return h[len(h)-1] == ']' && net.ParseIP(h[1:len(h)-1]) != nil
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// hasControl reports bytes below 0x20 and DEL: they have no place in an
// AoR and would corrupt logs and stored keys.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// ParseAOR parses an AoR string ("sip:bob@example.com", or "bob@example.com")
// and returns it canonical.
func ParseAOR(s string, caseSensitive bool) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty AoR")
	}
	if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
		s = s[1 : len(s)-1]
	}
	if !strings.Contains(s, ":") || (!strings.HasPrefix(strings.ToLower(s), "sip:") && !strings.HasPrefix(strings.ToLower(s), "sips:")) {
		s = "sip:" + s
	}
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		return "", fmt.Errorf("AoR %q: %w", s, err)
	}
	return AOR(&u, caseSensitive)
}

// param returns a header or URI parameter by case-insensitive name.
func param(ps sip.HeaderParams, name string) (string, bool) {
	for _, kv := range ps {
		if strings.EqualFold(kv.K, name) {
			return kv.V, true
		}
	}
	return "", false
}

// maxExpires bounds what a REGISTER may ask (2^32-1 seconds, RFC 3261 §20.19).
const maxExpires = math.MaxUint32

// ParseExpires parses a delta-seconds value: digits only, within 2^32-1.
func ParseExpires(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty expires")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("expires %q is not a number of seconds", s)
		}
	}
	if len(s) > 10 {
		return 0, fmt.Errorf("expires %q overflows", s)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v > maxExpires {
		return 0, fmt.Errorf("expires %q overflows", s)
	}
	return v, nil
}

// ParseQ parses a qvalue ("0", "0.5", "1.000") into thousandths.
func ParseQ(s string) (int, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("q %q: want 0 to 1 with at most 3 decimals", s)
	if s == "" || len(s) > 5 {
		return 0, bad
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart != "0" && intPart != "1" {
		return 0, bad
	}
	if hasDot && (len(frac) > 3) {
		return 0, bad
	}
	v := 0
	if intPart == "1" {
		v = 1000
	}
	mult := 100
	for i := 0; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return 0, bad
		}
		v += int(frac[i]-'0') * mult
		mult /= 10
	}
	if v > 1000 {
		return 0, bad
	}
	return v, nil
}

// FormatQ writes thousandths as a qvalue: 500 → "0.5", 1000 → "1".
func FormatQ(q int) string {
	if q >= 1000 {
		return "1"
	}
	s := strconv.Itoa(q + 1000)[1:] // three digits
	s = strings.TrimRight(s, "0")
	if s == "" {
		return "0"
	}
	return "0." + s
}

// URIEqual compares two SIP URIs by RFC 3261 §19.1.4: scheme and host
// case-insensitively, user and password exactly, ports only when equal
// (an absent port differs from an explicit default), the user, ttl,
// method, maddr and transport parameters whenever either side has them,
// other parameters only when both have them, and headers exactly.
func URIEqual(a, b *sip.Uri) bool {
	sa, sb := a.Scheme, b.Scheme
	if sa == "" {
		sa = "sip"
	}
	if sb == "" {
		sb = "sip"
	}
	if !strings.EqualFold(sa, sb) || a.User != b.User || a.Password != b.Password ||
		!strings.EqualFold(a.Host, b.Host) || a.Port != b.Port {
		return false
	}
	for _, p := range []string{"user", "ttl", "method", "maddr", "transport"} {
		va, oka := param(a.UriParams, p)
		vb, okb := param(b.UriParams, p)
		if oka != okb || !strings.EqualFold(va, vb) {
			return false
		}
	}
	for _, kv := range a.UriParams {
		if vb, ok := param(b.UriParams, kv.K); ok && !strings.EqualFold(kv.V, vb) {
			return false
		}
	}
	if len(a.Headers) != len(b.Headers) {
		return false
	}
	for _, kv := range a.Headers {
		if vb, ok := param(b.Headers, kv.K); !ok || vb != kv.V {
			return false
		}
	}
	return true
}

// mayEqualURI reports whether the URI text s may parse into a URI that
// URIEqual finds equal to u; false is certain, without parsing s. sipgo
// takes a URI's user and host verbatim from its text, URIEqual compares
// users exactly and hosts with strings.EqualFold, which for ASCII strings
// is ASCII case folding: the parsed host of an ASCII text that holds no
// case variant of u.Host cannot equal it.
func mayEqualURI(s string, u *sip.Uri) bool {
	if !strings.Contains(s, u.User) {
		return false
	}
	if u.Host == "" || !isASCII(s) || !isASCII(u.Host) {
		return true
	}
	return containsFoldASCII(s, u.Host)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// containsFoldASCII reports whether s holds sub, ignoring ASCII case.
func containsFoldASCII(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if equalFoldASCII(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// unquoteInstance strips the quotes and angle brackets from +sip.instance.
func unquoteInstance(v string) string {
	v = strings.Trim(v, `"`)
	v = strings.TrimPrefix(v, "<")
	return strings.TrimSuffix(v, ">")
}

// uriString is u.String() built in one allocation: sipgo's serialisation
// parses the host as an IP address and assembles parameters in builders of
// their own. The output is the same, byte for byte (TestURIString).
func uriString(u *sip.Uri) string {
	var stack [128]byte
	return string(appendURI(stack[:0], u))
}

// appendURI appends u as sip.Uri.StringWrite writes it.
func appendURI(buf []byte, u *sip.Uri) []byte {
	if u.Scheme == "" {
		buf = append(buf, "sip"...)
	} else {
		buf = append(buf, u.Scheme...)
	}
	buf = append(buf, ':')
	if raw := u.Raw(); raw != "" {
		return append(buf, raw...)
	}
	if u.HierarhicalSlashes {
		buf = append(buf, "//"...)
	}
	if u.User != "" {
		buf = append(buf, u.User...)
		if u.Password != "" {
			buf = append(buf, ':')
			buf = append(buf, u.Password...)
		}
		buf = append(buf, '@')
	}
	if bareIPv6(u.Host) {
		buf = append(buf, '[')
		buf = append(buf, u.Host...)
		buf = append(buf, ']')
	} else {
		buf = append(buf, u.Host...)
	}
	if u.Port > 0 {
		buf = append(buf, ':')
		buf = strconv.AppendInt(buf, int64(u.Port), 10)
	}
	if len(u.UriParams) > 0 {
		buf = append(buf, ';')
		buf = appendParams(buf, u.UriParams, ';')
	}
	if len(u.Headers) > 0 {
		buf = append(buf, '?')
		buf = appendParams(buf, u.Headers, '&')
	}
	return buf
}

// bareIPv6 reports an IPv6 address without brackets, as net.ParseIP sees
// one (an IPv4-mapped address is IPv4 to it, and it takes no zone).
func bareIPv6(host string) bool {
	if strings.IndexByte(host, ':') < 0 {
		return false // neither parser takes an IPv6 address without a colon
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Is6() && !ip.Is4In6() && ip.Zone() == ""
}

// appendParams appends parameters as sip.HeaderParams.ToString writes them.
func appendParams(buf []byte, ps sip.HeaderParams, sep byte) []byte {
	for i, kv := range ps {
		if i > 0 {
			buf = append(buf, sep)
		}
		buf = append(buf, kv.K...)
		switch {
		case ascii.ContainsAny(kv.V, " \t"):
			buf = append(buf, `="`...)
			buf = append(buf, kv.V...)
			buf = append(buf, '"')
		case kv.V != "":
			buf = append(buf, '=')
			buf = append(buf, kv.V...)
		}
	}
	return buf
}
