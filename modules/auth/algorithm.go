package auth

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"strings"
)

// Algorithm is a digest algorithm: MD5 (RFC 2617), SHA-256 and
// SHA-512-256 (RFC 7616, for SIP RFC 8760), each with its -sess variant.
type Algorithm uint8

// The digest algorithms. The zero value is no algorithm.
const (
	MD5 Algorithm = iota + 1
	MD5Sess
	SHA256
	SHA256Sess
	SHA512_256
	SHA512_256Sess
)

var algorithmNames = [...]string{"", "MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess"}

// Algorithms lists every algorithm, strongest first; Hashes the three
// hashes a credential source stores an HA1 for.
var (
	Algorithms = []Algorithm{SHA512_256, SHA512_256Sess, SHA256, SHA256Sess, MD5, MD5Sess}
	Hashes     = []Algorithm{SHA512_256, SHA256, MD5}
)

// DefaultAlgorithms is modules.auth.algorithms when the configuration
// says nothing: MD5 alone, because many phones and test tools read only
// the first challenge or know only MD5, and a SHA-256 challenge first
// locks them out. Offer [SHA-256, MD5] where every client reads all
// challenges (RFC 8760 §2.4).
var DefaultAlgorithms = []string{"MD5"}

// DefaultHashes are the hashes "locus users" writes an HA1 for, so that
// switching the challenges to SHA-256 needs no password reset.
// SHA-512-256 is left out because few SIP phones know it yet.
var DefaultHashes = []string{"SHA-256", "MD5"}

// ParseAlgorithm returns the algorithm an algorithm parameter names
// (case-insensitive, as RFC 7616 §3.3 has it).
func ParseAlgorithm(s string) (Algorithm, bool) {
	for a := MD5; a <= SHA512_256Sess; a++ {
		if strings.EqualFold(s, algorithmNames[a]) {
			return a, true
		}
	}
	return 0, false
}

// String is the algorithm's name as it appears in a challenge.
func (a Algorithm) String() string {
	if a == 0 || int(a) >= len(algorithmNames) {
		return fmt.Sprintf("Algorithm(%d)", uint8(a))
	}
	return algorithmNames[a]
}

// Hash is the algorithm without -sess: the hash an HA1 is stored for.
func (a Algorithm) Hash() Algorithm {
	if a.Sess() {
		return a - 1
	}
	return a
}

// Sess reports whether a is a -sess variant, whose HA1 covers the nonce
// and cnonce as well (RFC 7616 §3.4.2).
func (a Algorithm) Sess() bool { return a == MD5Sess || a == SHA256Sess || a == SHA512_256Sess }

// Size is the length in bytes of the algorithm's hash value.
func (a Algorithm) Size() int {
	if a.Hash() == MD5 {
		return md5.Size
	}
	return sha256.Size
}

// HexLen is the length of an HA1 or response for the algorithm.
func (a Algorithm) HexLen() int { return 2 * a.Size() }

// hashIndex numbers the three hashes 0, 1, 2 for per-hash arrays.
func (a Algorithm) hashIndex() int { return int(a.Hash()-1) / 2 }

// sum returns the raw hash of data; the first a.Size() bytes are set.
func (a Algorithm) sum(data []byte) (out [32]byte) {
	switch a.Hash() {
	case MD5:
		s := md5.Sum(data)
		copy(out[:], s[:])
	case SHA256:
		out = sha256.Sum256(data)
	default:
		out = sha512.Sum512_256(data)
	}
	return out
}

// appendHex appends the lower-case hex hash of data to dst.
func (a Algorithm) appendHex(dst, data []byte) []byte {
	s := a.sum(data)
	return hex.AppendEncode(dst, s[:a.Size()])
}

// HA1 returns H(username ":" realm ":" password) in lower-case hex: what a
// credential source stores for a user (RFC 7616 §3.4.2). A -sess
// algorithm gives the HA1 of its hash: the session part needs a nonce.
func HA1(a Algorithm, username, realm, password string) string {
	b := make([]byte, 0, len(username)+len(realm)+len(password)+2)
	b = append(b, username...)
	b = append(b, ':')
	b = append(b, realm...)
	b = append(b, ':')
	b = append(b, password...)
	return string(a.Hash().appendHex(nil, b))
}

// ValidHA1 reports whether s is an HA1 for a: lower- or upper-case hex of
// the right length.
func ValidHA1(a Algorithm, s string) bool {
	if len(s) != a.HexLen() {
		return false
	}
	for i := 0; i < len(s); i++ {
		if unhex(s[i]) > 15 {
			return false
		}
	}
	return true
}

// Response computes the response parameter a client sends (RFC 7616
// §3.4.1), in lower-case hex. qop is "", "auth" or "auth-int"; body is
// used for auth-int only.
func Response(a Algorithm, ha1, nonce, nc, cnonce, qop, method, uri string, body []byte) string {
	d := &Digest{Nonce: nonce, NC: nc, CNonce: cnonce, QOP: qop, URI: uri}
	sum := expected(a, ha1, d, method, body)
	return hex.EncodeToString(sum[:a.Size()])
}

// expected computes the raw response for the credentials d with the HA1
// (hex) of a's hash. Its scratch space lives on the stack for ordinary
// sizes: this runs for every authenticated request.
func expected(a Algorithm, ha1 string, d *Digest, method string, body []byte) [32]byte {
	var scratch [512]byte
	b := scratch[:0]
	var sessHA1 [64]byte
	if a.Sess() {
		// RFC 7616 §3.4.2: A1 = H(user:realm:pass) ":" nonce ":" cnonce,
		// with the inner hash in hex, so a stored HA1 serves both forms.
		b = append(b, ha1...)
		b = append(b, ':')
		b = append(b, d.Nonce...)
		b = append(b, ':')
		b = append(b, d.CNonce...)
		ha1 = string(a.appendHex(sessHA1[:0], b)) // a small copy, once per -sess response
		b = b[:0]
	}
	b = append(b, method...)
	b = append(b, ':')
	b = append(b, d.URI...)
	if d.QOP == "auth-int" {
		var hb [64]byte
		b = append(b, ':')
		b = append(b, a.appendHex(hb[:0], body)...)
	}
	var ha2 [64]byte
	h2 := a.appendHex(ha2[:0], b)
	b = b[:0]
	b = append(b, ha1...)
	b = append(b, ':')
	b = append(b, d.Nonce...)
	b = append(b, ':')
	if d.QOP != "" {
		b = append(b, d.NC...)
		b = append(b, ':')
		b = append(b, d.CNonce...)
		b = append(b, ':')
		b = append(b, d.QOP...)
		b = append(b, ':')
	}
	b = append(b, h2...)
	return a.sum(b)
}

// unhex returns the value of a hex digit, or 255.
func unhex(c byte) byte { return hexValues[c] }

var hexValues = func() (t [256]byte) {
	for c := range t {
		switch {
		case c >= '0' && c <= '9':
			t[c] = byte(c - '0')
		case c >= 'a' && c <= 'f':
			t[c] = byte(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			t[c] = byte(c - 'A' + 10)
		default:
			t[c] = 255
		}
	}
	return t
}()

// decodeHex decodes s (either case) into dst, which must be len(s)/2
// long; it reports false for a byte that is not hex.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	ok := byte(0)
	for i := range dst {
		hi, lo := unhex(s[2*i]), unhex(s[2*i+1])
		ok |= hi | lo
		dst[i] = hi<<4 | lo&0xf
	}
	return ok < 16
}
