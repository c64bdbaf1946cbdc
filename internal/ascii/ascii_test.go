package ascii

import (
	"strings"
	"testing"
)

func TestEqualFoldLower(t *testing.T) {
	for _, c := range []struct {
		s, lower string
		want     bool
	}{
		{"Via", "via", true},
		{"VIA", "via", true},
		{"via", "via", true},
		{"Vi", "via", false},
		{"Vias", "via", false},
		{"Vla", "via", false},
		{"\u212a", "k", false}, // the Kelvin sign is not k
		{"", "", true},
		{"Content-Length", "content-length", true},
		{"Content_Length", "content-length", false},
	} {
		if got := EqualFoldLower(c.s, c.lower); got != c.want {
			t.Errorf("EqualFoldLower(%q, %q) = %v", c.s, c.lower, got)
		}
	}
}

func TestIndexAny(t *testing.T) {
	for _, s := range []string{"", "a", "ab c", "\tx", "user@host", "[::1]", "sip:a@[::1]", "<sip:x>;a=b", `"Bob" <sip:b>`, "héllo wörld", "\x80 \xff"} {
		for _, set := range []string{" \t", "@[", "\"<;", " :@", "x"} {
			if got, want := IndexAny(s, set), strings.IndexAny(s, set); got != want {
				t.Errorf("IndexAny(%q, %q) = %d, want %d", s, set, got, want)
			}
			if got, want := ContainsAny(s, set), strings.ContainsAny(s, set); got != want {
				t.Errorf("ContainsAny(%q, %q) = %v, want %v", s, set, got, want)
			}
		}
	}
}

// FuzzIndexAny compares IndexAny with strings.IndexAny for the sets the
// parser, writer and registrar use.
func FuzzIndexAny(f *testing.F) {
	for _, s := range []string{"", "a b", "sip:a@[::1]", "<sip:x>;a=b", "\xff\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, set := range []string{" \t", "@[", "\"<;", " :@"} {
			if got, want := IndexAny(s, set), strings.IndexAny(s, set); got != want {
				t.Fatalf("IndexAny(%q, %q) = %d, want %d", s, set, got, want)
			}
		}
	})
}

// FuzzTrimSPHT compares the SP/HTAB trims with strings' for any input.
func FuzzTrimSPHT(f *testing.F) {
	for _, s := range []string{"", " ", "\t \t", " a ", "\ta b\t", "x", " \xa0x\xa0 ", "\t\r\n "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := TrimSPHT(s), strings.Trim(s, " \t"); got != want {
			t.Fatalf("TrimSPHT(%q) = %q, want %q", s, got, want)
		}
		if got, want := TrimLeftSPHT(s), strings.TrimLeft(s, " \t"); got != want {
			t.Fatalf("TrimLeftSPHT(%q) = %q, want %q", s, got, want)
		}
		if got, want := TrimRightSPHT(s), strings.TrimRight(s, " \t"); got != want {
			t.Fatalf("TrimRightSPHT(%q) = %q, want %q", s, got, want)
		}
	})
}
