package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/auth"
)

var coretestParse = coretest.ParseRequest

const rfc2617Credentials = `Digest username="Mufasa", realm="testrealm@host.com", ` +
	`nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, ` +
	`cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"`

func TestParseAuthorization(t *testing.T) {
	ok := auth.Digest{
		Username: "Mufasa", Realm: "testrealm@host.com", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
		URI: "/dir/index.html", QOP: "auth", NC: "00000001", CNonce: "0a4f113b",
		Response: "6629fae49393a05397450978507c4ef1", Opaque: "5ccc069c403ebaf9f0171e9517f40e41",
	}
	with := func(f func(*auth.Digest)) auth.Digest { d := ok; f(&d); return d }
	cases := []struct {
		name    string
		in      string
		want    auth.Digest
		wantErr error
		errText string // a part of the error, when it matters
	}{
		{name: "RFC 2617 3.5", in: rfc2617Credentials, want: ok},
		{name: "scheme case-insensitive, tabs and no spaces",
			in: strings.ReplaceAll(strings.Replace(rfc2617Credentials, "Digest", "dIgEsT\t", 1), ", ", ","), want: ok},
		{name: "unquoted values and quoted qop",
			in:   strings.Replace(strings.Replace(rfc2617Credentials, `cnonce="0a4f113b"`, "cnonce=0a4f113b", 1), "qop=auth", `qop="AUTH"`, 1),
			want: ok},
		{name: "algorithm and unknown parameters",
			in:   rfc2617Credentials + `, algorithm=SHA-256, x-ext="a, \"b\"", y=z`,
			want: with(func(d *auth.Digest) { d.Algorithm = "SHA-256" })},
		{name: "escapes in a quoted string",
			in:   strings.Replace(rfc2617Credentials, `username="Mufasa"`, `username="Mu\"fa\\sa"`, 1),
			want: with(func(d *auth.Digest) { d.Username = `Mu"fa\sa` })},
		{name: "empty list elements", in: strings.Replace(rfc2617Credentials, ", ", ", ,,", 2) + ",", want: ok},
		{name: "RFC 2069: no qop",
			in: `Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", response="1949323746fe6a43ef61f9606e7febea"`,
			want: auth.Digest{Username: "Mufasa", Realm: "testrealm@host.com", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
				URI: "/dir/index.html", Response: "1949323746fe6a43ef61f9606e7febea"}},
		{name: "auth-int", in: strings.Replace(rfc2617Credentials, "qop=auth", "qop=auth-int", 1),
			want: with(func(d *auth.Digest) { d.QOP = "auth-int" })},

		{name: "Basic", in: "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", wantErr: auth.ErrNotDigest},
		{name: "Bearer", in: "Bearer abc", wantErr: auth.ErrNotDigest},
		{name: "empty", in: "", wantErr: auth.ErrMalformed},
		{name: "scheme only", in: "Digest", wantErr: auth.ErrMalformed, errText: "no username"},
		{name: "no space after the scheme", in: `Digest,username="a"`, wantErr: auth.ErrMalformed},
		{name: "missing username", in: strings.Replace(rfc2617Credentials, `username="Mufasa", `, "", 1),
			wantErr: auth.ErrMalformed, errText: "no username"},
		{name: "missing response", in: strings.Replace(rfc2617Credentials, `response="6629fae49393a05397450978507c4ef1", `, "", 1),
			wantErr: auth.ErrMalformed, errText: "no response"},
		{name: "missing uri", in: strings.Replace(rfc2617Credentials, `uri="/dir/index.html", `, "", 1),
			wantErr: auth.ErrMalformed, errText: "no uri"},
		{name: "duplicated username", in: rfc2617Credentials + `, username="Scar"`, wantErr: auth.ErrMalformed, errText: "twice"},
		{name: "duplicated realm, other case", in: rfc2617Credentials + `, REALM="x"`, wantErr: auth.ErrMalformed, errText: "twice"},
		{name: "duplicated nc", in: rfc2617Credentials + `, nc=00000002`, wantErr: auth.ErrMalformed, errText: "twice"},
		{name: "unterminated quote", in: strings.TrimSuffix(rfc2617Credentials, `"`), wantErr: auth.ErrMalformed, errText: "unterminated"},
		{name: "escape at the end", in: `Digest username="a\`, wantErr: auth.ErrMalformed},
		{name: "quote inside an unquoted value", in: rfc2617Credentials + `, x=a"b"`, wantErr: auth.ErrMalformed},
		{name: "junk after a quoted value", in: strings.Replace(rfc2617Credentials, `"Mufasa"`, `"Mufasa"x`, 1), wantErr: auth.ErrMalformed},
		{name: "no value", in: rfc2617Credentials + `, stale`, wantErr: auth.ErrMalformed},
		{name: "empty unquoted value", in: rfc2617Credentials + `, stale=`, wantErr: auth.ErrMalformed},
		{name: "no name", in: rfc2617Credentials + `, ="x"`, wantErr: auth.ErrMalformed},
		{name: "NUL in a quoted value", in: strings.Replace(rfc2617Credentials, "Mufasa", "Mu\x00fasa", 1), wantErr: auth.ErrMalformed},
		{name: "qop without nc", in: strings.Replace(rfc2617Credentials, "nc=00000001, ", "", 1), wantErr: auth.ErrMalformed},
		{name: "qop without cnonce", in: strings.Replace(rfc2617Credentials, `cnonce="0a4f113b", `, "", 1), wantErr: auth.ErrMalformed},
		{name: "empty cnonce", in: strings.Replace(rfc2617Credentials, `cnonce="0a4f113b"`, `cnonce=""`, 1), wantErr: auth.ErrMalformed},
		{name: "unknown qop", in: strings.Replace(rfc2617Credentials, "qop=auth", "qop=auth-conf", 1), wantErr: auth.ErrMalformed},
		{name: "nc not hex", in: strings.Replace(rfc2617Credentials, "nc=00000001", "nc=0000000g", 1), wantErr: auth.ErrMalformed},
		{name: "nc too long", in: strings.Replace(rfc2617Credentials, "nc=00000001", "nc=000000001", 1), wantErr: auth.ErrMalformed},
		{name: "nc zero", in: strings.Replace(rfc2617Credentials, "nc=00000001", "nc=00000000", 1), wantErr: auth.ErrMalformed},
		{name: "empty username", in: strings.Replace(rfc2617Credentials, `"Mufasa"`, `""`, 1), wantErr: auth.ErrMalformed},
		{name: "userhash", in: rfc2617Credentials + ", userhash=true", wantErr: auth.ErrMalformed, errText: "not supported"},
		{name: "username*", in: rfc2617Credentials + ", username*=UTF-8''J%C3%A4s%C3%B8n", wantErr: auth.ErrMalformed},
		{name: "huge", in: rfc2617Credentials + `, x="` + strings.Repeat("a", auth.MaxAuthorizationLen) + `"`,
			wantErr: auth.ErrMalformed, errText: "longer than"},
		{name: "too many parameters", in: rfc2617Credentials + strings.Repeat(", x=1", 30), wantErr: auth.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auth.ParseAuthorization(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(fmtErr(err), tc.errText) {
					t.Fatalf("error %v, want %v containing %q", err, tc.wantErr, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestParseErrorsDoNotLeak: the error never quotes values, which may be
// password equivalents.
func TestParseErrorsDoNotLeak(t *testing.T) {
	for _, in := range []string{
		rfc2617Credentials + `, response="6629fae49393a05397450978507c4ef1"`,
		strings.Replace(rfc2617Credentials, "nc=00000001", "nc=zz6629fae4", 1),
		strings.Replace(rfc2617Credentials, `"6629fae49393a05397450978507c4ef1"`, `"6629fae49393a05397450978507c4ef1`, 1),
	} {
		_, err := auth.ParseAuthorization(in)
		if err == nil || strings.Contains(err.Error(), "6629fae4") {
			t.Errorf("error %v", err)
		}
	}
}

func TestParseNC(t *testing.T) {
	cases := []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"00000001", 1, true}, {"1", 1, true}, {"0000000a", 10, true}, {"FFFFFFFF", 0xffffffff, true},
		{"", 0, false}, {"0", 0, false}, {"100000000", 0, false}, {"-1", 0, false}, {"0x1", 0, false},
	}
	for _, tc := range cases {
		got, ok := auth.ParseNC(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseNC(%q) = %d, %v", tc.in, got, ok)
		}
	}
}

// FuzzParseAuthorization: the parser never panics, accepts only what it
// documents, and reads its own serialisation back to the same values.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		rfc2617Credentials,
		`Digest username="a\"b", realm="r", nonce="n", uri="u", response="0123", algorithm=SHA-256, qop="auth-int", nc=1, cnonce=c`,
		`Digest username="a", realm="r", nonce="n", uri="u", response="r", username="b"`,
		`Digest username="unterminated`,
		`Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==`,
		`Digest ,,, username=a,realm=b,nonce=c,uri=d,response=e,`,
		"Digest username=\"\\\x00\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := auth.ParseAuthorization(s)
		if err != nil {
			if !errors.Is(err, auth.ErrMalformed) && !errors.Is(err, auth.ErrNotDigest) {
				t.Fatalf("error %v is neither ErrMalformed nor ErrNotDigest", err)
			}
			return
		}
		if len(s) > auth.MaxAuthorizationLen {
			t.Fatalf("accepted %d bytes", len(s))
		}
		if d.Username == "" || d.Nonce == "" || d.Response == "" {
			t.Fatalf("accepted empty required values: %+v", d)
		}
		if d.QOP != "" && d.QOP != "auth" && d.QOP != "auth-int" {
			t.Fatalf("qop %q", d.QOP)
		}
		if d.QOP != "" {
			if _, ok := auth.ParseNC(d.NC); !ok || d.CNonce == "" {
				t.Fatalf("qop %q with nc %q cnonce %q", d.QOP, d.NC, d.CNonce)
			}
		}
		for _, v := range []string{d.Username, d.Realm, d.Nonce, d.URI, d.Response, d.CNonce, d.Opaque} {
			if strings.ContainsAny(v, "\r\n\x00") {
				t.Fatalf("control character in %q", v)
			}
		}
		again := serialise(d)
		if len(again) > auth.MaxAuthorizationLen {
			return // quoting made it longer than the parser reads
		}
		back, err := auth.ParseAuthorization(again)
		if err != nil || back != d {
			t.Fatalf("round trip of %+v: %+v, %v\nserialised: %s", d, back, err, serialise(d))
		}
	})
}

// serialise writes d back as credentials, every value quoted.
func serialise(d auth.Digest) string {
	var b strings.Builder
	b.WriteString("Digest ")
	add := func(name, v string) {
		if b.Len() > len("Digest ") {
			b.WriteString(", ")
		}
		b.WriteString(name + `="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`)
	}
	add("username", d.Username)
	add("realm", d.Realm)
	add("nonce", d.Nonce)
	add("uri", d.URI)
	add("response", d.Response)
	if d.Algorithm != "" {
		add("algorithm", d.Algorithm)
	}
	if d.Opaque != "" {
		add("opaque", d.Opaque)
	}
	if d.QOP != "" {
		add("qop", d.QOP)
		add("nc", d.NC)
		add("cnonce", d.CNonce)
	}
	return b.String()
}

// FuzzAuthenticate runs whole credentials through Authenticate, seeded
// with valid ones so that mutations reach the nonce, the hashing and the
// replay table: no panic, a known result, and success only for alice.
func FuzzAuthenticate(f *testing.F) {
	a, _ := newAuth(f, func(a *auth.Auth) { a.RFC2069 = true })
	for _, alg := range []string{"SHA-256", "MD5", "SHA-512-256-sess"} {
		chal := challengeOf(f, a, "example.com", 0)[alg]
		c := &client{user: "alice", pass: "wonderland"}
		f.Add(c.authorization(chal, "REGISTER", nil))
		c.qop = "none"
		f.Add(c.authorization(chal, "REGISTER", nil))
	}
	f.Add(`Digest username="alice", realm="example.com", nonce="` + strings.Repeat("A", 43) + `", uri="sip:example.com", response="00"`)
	known := map[auth.Result]bool{auth.OK: true, auth.Error: true, auth.InvalidPassword: true, auth.UserUnknown: true,
		auth.StaleNonce: true, auth.NoCredentials: true, auth.NonceReused: true}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsAny(v, "\r\n") {
			return // not one header line
		}
		req, err := coretestParse("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-f\r\n" +
			"From: <sip:alice@example.com>;tag=a\r\nTo: <sip:alice@example.com>\r\nCall-ID: f\r\nCSeq: 1 REGISTER\r\n" +
			"Authorization: " + v + "\r\nContent-Length: 0\r\n\r\n")
		if err != nil {
			return
		}
		m := core.NewMsg(req, nil)
		res, _ := a.Authenticate(ctx, m, "example.com", auth.WWW, "", alice)
		if !known[res] {
			t.Fatalf("result %d", res)
		}
		if res == auth.OK {
			d, err := auth.ParseAuthorization(m.Req.GetHeader("Authorization").Value())
			if err != nil || d.Username != "alice" {
				t.Fatalf("authenticated %+v, %v", d, err)
			}
		}
	})
}
