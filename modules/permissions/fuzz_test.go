package permissions_test

import (
	"strings"
	"testing"

	"github.com/locus-sip/locus/modules/permissions"
)

// FuzzParseRule: an entry never panics the parser, and an accepted entry
// reads back the same from its String form.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "192.0.2.1:5060", "10.0.0.0/8", "10.0.0.0/8:0", "2001:db8::/32",
		"[2001:db8::1]:5061", "[::ffff:1.2.3.4]:1", "::ffff:10.0.0.0/104", "[", "]:", "1:2:3", "1.2.3.4:99999", "fe80::1%lo"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := permissions.ParseRule(s)
		if err != nil {
			return
		}
		if !r.Prefix.IsValid() || r.Port < 0 || r.Port > 65535 || r.Prefix != r.Prefix.Masked() || r.Prefix.Addr().Is4In6() {
			t.Fatalf("%q accepted as %+v", s, r)
		}
		back, err := permissions.ParseRule(r.String())
		if err != nil || back != r {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, r, r.String(), back, err)
		}
	})
}

// FuzzParseFile: a file never panics the parser; every accepted line
// is one rule.
func FuzzParseFile(f *testing.F) {
	f.Add("# x\n1 10.0.0.0/8\n2 [2001:db8::1]:5060\n")
	f.Add("1 1.2.3.4\n\n  \n")
	f.Fuzz(func(t *testing.T, s string) {
		g, err := permissions.ParseFile(strings.NewReader(s))
		if err != nil {
			return
		}
		n := 0
		for id, rs := range g {
			if id < 0 {
				t.Fatalf("group %d", id)
			}
			n += len(rs)
		}
		if n > strings.Count(s, "\n")+1 {
			t.Fatalf("%d rules from %d lines", n, strings.Count(s, "\n")+1)
		}
	})
}
