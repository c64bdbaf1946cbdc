package xlog_test

import (
	"strings"
	"testing"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/xlog"
)

// FuzzCompile compiles script-supplied formats: never a panic; a format
// that compiles expands with and without a request; and text with every
// "$" doubled always compiles and prints back as itself.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"REGISTER $fu from $si:$sp\n", "$$", "$", "$(ru{uri.user})", "$(ulc(p=>addr)[1])",
		"$hdr(a(b)c)", "$(hdr(Via)[0]{s.len}{s.int})", "$var(x)$var(y)", "$()", "$((", "$x(]",
		"\x00$\xff", "$hdr(Expires) $$ $ct",
	} {
		f.Add(s)
	}
	p := classes()
	m, _ := coretest.Msg(f, coretest.Register)
	f.Fuzz(func(t *testing.T, s string) {
		if fm, err := xlog.Compile(s, p.ParseName); err == nil {
			out := fm.Expand(m, p, nil)
			if strings.IndexByte(s, '$') < 0 && string(out) != s {
				t.Fatalf("text without $ changed: %q -> %q", s, out)
			}
			fm.Expand(nil, p, nil)
		} else if fm != nil {
			t.Fatalf("format and error: %v", err)
		}
		escaped := strings.ReplaceAll(s, "$", "$$")
		fm, err := xlog.Compile(escaped, p.ParseName)
		if err != nil {
			t.Fatalf("escaped %q: %v", escaped, err)
		}
		if got := string(fm.Expand(m, p, nil)); got != s || len(fm.Unknown) != 0 {
			t.Fatalf("escaped %q printed %q, unknown %q", escaped, got, fm.Unknown)
		}
	})
}
