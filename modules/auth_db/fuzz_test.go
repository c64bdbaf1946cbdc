package authdb_test

import (
	"testing"

	"github.com/locus-sip/locus/modules/auth"
	authdb "github.com/locus-sip/locus/modules/auth_db"
)

// FuzzParseLine: a credentials line never panics the parser, and an
// accepted line reads back the same from its String form.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		"alice:example.com:" + auth.HA1(auth.MD5, "alice", "example.com", "w"),
		"alice:[2001:db8::1]:SHA-256:" + auth.HA1(auth.SHA256, "alice", "x", "w"),
		"# comment", "", ":::", "a:b:SHA-256-sess:00", "a:b:MD5:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, ok, err := authdb.ParseLine(s)
		if err != nil || !ok {
			return
		}
		if e.User == "" || e.Realm == "" || !auth.ValidHA1(e.Hash, e.HA1) || e.Hash.Sess() {
			t.Fatalf("accepted %+v", e)
		}
		back, ok, err := authdb.ParseLine(e.String())
		if err != nil || !ok || back != e {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, e, e.String(), back, err)
		}
	})
}
