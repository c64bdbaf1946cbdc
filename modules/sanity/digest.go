package sanity

import (
	"errors"
	"strings"

	"github.com/locus-sip/locus/internal/ascii"
)

var (
	errNotDigest = errors.New("sanity: not Digest credentials")
	errMalformed = errors.New("sanity: malformed credentials")
)

// The Digest parameters the checks look at, as bits of credentials.have
// and credentials.empty.
const (
	pUsername uint8 = 1 << iota
	pRealm
	pNonce
	pURI
	pResponse
	pQOP
	pCNonce
	pNC
)

// digestParams names the parameters in the order of their bits.
var digestParams = [...]string{"username", "realm", "nonce", "uri", "response", "qop", "cnonce", "nc"}

// credentials is what the checks need from Digest credentials: which of
// the parameters they look at are present, which are empty, and the qop.
// Parsing them allocates nothing unless a quoted value has escapes.
type credentials struct {
	have, empty uint8
	qop         string
}

// parseCredentials reads "Digest name=value, name="quoted", ..." (RFC 3261
// §25.1). Unknown parameters are checked for syntax and not judged. A
// parameter given twice counts with its last value.
func parseCredentials(v string) (credentials, error) {
	var c credentials
	v = ascii.TrimLeftSPHT(v)
	i := ascii.IndexAny(v, " \t")
	scheme := v
	if i >= 0 {
		scheme, v = v[:i], v[i:]
	} else {
		v = ""
	}
	if scheme == "" || !isToken(scheme) {
		return c, errMalformed
	}
	if !ascii.EqualFoldLower(scheme, "digest") { // a token: ASCII
		return c, errNotDigest
	}
	for {
		v = trimLeftSeparators(v)
		if v == "" {
			return c, nil
		}
		name, rest, ok := strings.Cut(v, "=")
		name = ascii.TrimRightSPHT(name)
		if !ok || !isToken(name) {
			return c, errMalformed
		}
		rest = ascii.TrimLeftSPHT(rest)
		var val string
		if strings.HasPrefix(rest, `"`) {
			var err error
			if val, rest, err = quoted(rest); err != nil {
				return c, err
			}
		} else {
			end := ascii.IndexAny(rest, " \t,")
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
			if val == "" {
				return c, errMalformed
			}
		}
		c.set(name, val)
		rest = ascii.TrimLeftSPHT(rest)
		if rest != "" && rest[0] != ',' {
			return c, errMalformed
		}
		v = rest
	}
}

// set records parameter name (any case) with value val.
// trimLeftSeparators drops the white space and commas before a parameter.
func trimLeftSeparators(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == ',') {
		s = s[1:]
	}
	return s
}

func (c *credentials) set(name, val string) {
	for i, p := range digestParams {
		if !ascii.EqualFoldLower(name, p) { // name is a token: ASCII
			continue
		}
		bit := uint8(1) << i
		c.have |= bit
		if val == "" {
			c.empty |= bit
		} else {
			c.empty &^= bit
		}
		if bit == pQOP {
			c.qop = val
		}
		return
	}
}

// quoted reads a quoted-string at the start of s and returns its content
// (escapes removed) and the rest. Without escapes the content is a
// substring of s.
func quoted(s string) (string, string, error) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '"':
			return s[1:i], s[i+1:], nil
		case '\\':
			return unescape(s)
		}
	}
	return "", "", errMalformed
}

// unescape is quoted for a quoted-string with escapes.
func unescape(s string) (string, string, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
			if i == len(s) {
				return "", "", errMalformed
			}
			b.WriteByte(s[i])
		case '"':
			return b.String(), s[i+1:], nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", errMalformed
}

// check applies Kamailio's rules: the parameters a response needs are
// present (cnonce and nc too with qop auth or auth-int), and username,
// nonce and response are not empty.
func (c credentials) check(check Checks) *Failure {
	const needed = pUsername | pRealm | pNonce | pURI | pResponse
	if c.have&needed != needed {
		return fail(check, 400, "Bad Auth Credentials")
	}
	if strings.EqualFold(c.qop, "auth") || strings.EqualFold(c.qop, "auth-int") {
		if c.have&(pCNonce|pNC) != pCNonce|pNC {
			return fail(check, 400, "Bad Auth Credentials")
		}
	}
	switch {
	case c.empty&pUsername != 0:
		return fail(check, 400, "Auth Empty User")
	case c.empty&pNonce != 0:
		return fail(check, 400, "Auth Empty Nonce")
	case c.empty&pResponse != 0:
		return fail(check, 400, "Auth Empty Response")
	}
	return nil
}
