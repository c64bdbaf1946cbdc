package core

import (
	"strings"
	"testing"
)

func FuzzUnbracket(f *testing.F) {
	for _, s := range []string{"", "[", "]", "[]", "example.com", "192.0.2.1", "[2001:db8::1]",
		"[[2001:db8::1]]", "]x[", "[x", "x]", "a[b]c", "[a]b", "a[b]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Unbracket(s), strings.Trim(s, "[]"); got != want {
			t.Fatalf("Unbracket(%q) = %q, want %q", s, got, want)
		}
	})
}
