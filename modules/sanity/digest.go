package sanity

import (
	"errors"
	"strings"
)

var (
	errNotDigest = errors.New("sanity: not Digest credentials")
	errMalformed = errors.New("sanity: malformed credentials")
)

// credentials are the parameters of Digest credentials, by lower-case name.
type credentials map[string]string

// parseCredentials reads "Digest name=value, name="quoted", ..." (RFC 3261
// §25.1). Unknown parameters are kept and not judged.
func parseCredentials(v string) (credentials, error) {
	v = strings.TrimLeft(v, " \t")
	i := strings.IndexAny(v, " \t")
	scheme := v
	if i >= 0 {
		scheme, v = v[:i], v[i:]
	} else {
		v = ""
	}
	if scheme == "" || !isToken(scheme) {
		return nil, errMalformed
	}
	if !strings.EqualFold(scheme, "Digest") {
		return nil, errNotDigest
	}
	c := credentials{}
	for {
		v = strings.TrimLeft(v, " \t,")
		if v == "" {
			return c, nil
		}
		name, rest, ok := strings.Cut(v, "=")
		name = strings.TrimRight(name, " \t")
		if !ok || !isToken(name) {
			return nil, errMalformed
		}
		rest = strings.TrimLeft(rest, " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var err error
			if val, rest, err = quoted(rest); err != nil {
				return nil, err
			}
		} else {
			end := strings.IndexAny(rest, " \t,")
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
			if val == "" {
				return nil, errMalformed
			}
		}
		c[strings.ToLower(name)] = val
		rest = strings.TrimLeft(rest, " \t")
		if rest != "" && rest[0] != ',' {
			return nil, errMalformed
		}
		v = rest
	}
}

// quoted reads a quoted-string at the start of s and returns its content
// (escapes removed) and the rest.
func quoted(s string) (string, string, error) {
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
	for _, p := range []string{"username", "realm", "nonce", "uri", "response"} {
		if _, ok := c[p]; !ok {
			return fail(check, 400, "Bad Auth Credentials")
		}
	}
	if qop := strings.ToLower(c["qop"]); qop == "auth" || qop == "auth-int" {
		_, cnonce := c["cnonce"]
		_, nc := c["nc"]
		if !cnonce || !nc {
			return fail(check, 400, "Bad Auth Credentials")
		}
	}
	switch {
	case c["username"] == "":
		return fail(check, 400, "Auth Empty User")
	case c["nonce"] == "":
		return fail(check, 400, "Auth Empty Nonce")
	case c["response"] == "":
		return fail(check, 400, "Auth Empty Response")
	}
	return nil
}
