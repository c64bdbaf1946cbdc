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

// TestCtlMask puts every byte value at every position of a word of
// printable text, and one control character below another, and checks
// each byte's flag against the definition.
func TestCtlMask(t *testing.T) {
	isCtl := func(c byte) bool { return c < 0x20 || c == 0x7f }
	check := func(buf [8]byte) {
		var x uint64
		for i := 7; i >= 0; i-- {
			x = x<<8 | uint64(buf[i])
		}
		m := CtlMask(x)
		for i, c := range buf {
			if got := m>>(8*i)&0xff == 0x80; got != isCtl(c) {
				t.Fatalf("CtlMask(% x): byte %d (%#x) flagged %v", buf, i, c, got)
			}
		}
		if m&^0x8080808080808080 != 0 {
			t.Fatalf("CtlMask(% x) = %#x: bits besides the high ones", buf, m)
		}
	}
	for b := 0; b < 256; b++ {
		for pos := 0; pos < 8; pos++ {
			buf := [8]byte{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}
			buf[pos] = byte(b)
			check(buf)
			buf[(pos+1)%8] = 0x00 // a borrow from below must not flag its neighbour
			check(buf)
			buf[(pos+1)%8] = 0xff
			check(buf)
		}
	}
}
