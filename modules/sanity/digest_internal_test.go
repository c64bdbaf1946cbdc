package sanity

import (
	"strings"
	"testing"
)

// refCredentials is the map-based parser the allocation-free one replaced,
// kept as the reference the fuzz test compares with.
type refCredentials map[string]string

func refParse(v string) (refCredentials, error) {
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
	c := refCredentials{}
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
			if val, rest, err = unescape(rest); err != nil {
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

func (c refCredentials) check(check Checks) *Failure {
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

// FuzzCredentials: the parser and check give the reference's verdict on
// any credentials line.
func FuzzCredentials(f *testing.F) {
	for _, s := range []string{
		`Digest username="alice", realm="example.com", nonce="abc", uri="sip:example.com", response="0123", qop=auth, nc=00000001, cnonce="xyz", algorithm=MD5`,
		`Digest username="a\"b", realm=r, nonce="", uri=x, response=y, qop="auth"`,
		`digest USERNAME=u, Realm=r, NONCE=n, Uri=x, RESPONSE=y, QOP="AUTH-INT"`,
		`Digest username="", realm=r, nonce=n, uri=x, response=""`,
		`Digest username=u, realm=r, nonce=n, uri=x, response=y, username=""`,
		`Digest username=u, username="v", realm=r, nonce=n, uri=x, response=y, qop="au\th", nc=1`,
		`Basic YWxpY2U6c2VjcmV0`,
		`Digest username="unterminated`,
		`Digest a=b c=d`,
		`Digest =x`,
		``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got, err := parseCredentials(v)
		want, werr := refParse(v)
		if err != werr {
			t.Fatalf("%q: error %v, reference %v", v, err, werr)
		}
		if err != nil {
			return
		}
		g, w := got.check(CheckDigest), want.check(CheckDigest)
		if (g == nil) != (w == nil) || g != nil && (g.Code != w.Code || g.Reason != w.Reason) {
			t.Fatalf("%q: check %+v, reference %+v", v, g, w)
		}
	})
}

// TestCredentialsAllocations: well-formed credentials without escapes are
// parsed and checked without allocating.
func TestCredentialsAllocations(t *testing.T) {
	v := `Digest username="alice", realm="example.com", nonce="abc", uri="sip:example.com", response="0123", qop=auth, nc=00000001, cnonce="xyz", algorithm=MD5`
	if n := testing.AllocsPerRun(100, func() {
		c, err := parseCredentials(v)
		if err != nil || c.check(CheckDigest) != nil {
			t.Fatal("rejected")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per parse and check", n)
	}
}
