package registrar

import (
	"testing"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"
)

// FuzzASCIIAOR checks that the one-pass AoR takes only URIs the long way
// accepts, and builds for them exactly what the long way does.
func FuzzASCIIAOR(f *testing.F) {
	for _, seed := range [][3]string{
		{"sip", "alice", "example.com"},
		{"SIP", "Alice", "EXAMPLE.com"},
		{"sips", "", "192.0.2.1"},
		{"", "bob", "host_name-1.example"},
		{"tel", "123", "x"},
		{"sip", "//x", "h"},
		{"sip", "a b", "h"},
		{"sip", "a\tb", "h"},
		{"sip", "a:b", "h"},
		{"sip", "a@b", "h"},
		{"sip", "Ä", "h"},
		{"sip", "a", "[2001:db8::1]"},
		{"sip", "a", "h\u212a"}, // Kelvin sign: folds to k
		{"sip", "a%40b;x=y?z", "h"},
		{"sip", "a\x7f", "h"},
	} {
		f.Add(seed[0], seed[1], seed[2], false)
		f.Add(seed[0], seed[1], seed[2], true)
	}
	f.Fuzz(func(t *testing.T, scheme, user, host string, caseSensitive bool) {
		if host == "" {
			return // AOR refuses it before either way
		}
		u := &sip.Uri{Scheme: scheme, User: user, Host: host}
		fast, ok := asciiAOR(u, caseSensitive)
		long, err := longAOR(u, caseSensitive)
		if ok && (err != nil || fast != long) {
			t.Fatalf("asciiAOR(%q, %q, %q) = %q; the long way: %q, %v", scheme, user, host, fast, long, err)
		}
	})
}

// TestASCIIAORTakesCommon checks that the one-pass AoR does take the
// URIs phones register, so that the fuzz test above compares something.
func TestASCIIAORTakesCommon(t *testing.T) {
	for _, tc := range []struct {
		scheme, user, host string
		want               string
	}{
		{"sip", "Alice", "Example.COM", "sip:alice@example.com"},
		{"SIPS", "bob", "192.0.2.1", "sips:bob@192.0.2.1"},
		{"", "", "registrar.example", "sip:registrar.example"},
	} {
		got, ok := asciiAOR(&sip.Uri{Scheme: tc.scheme, User: tc.user, Host: tc.host}, false)
		if !ok || got != tc.want {
			t.Errorf("asciiAOR(%q, %q, %q) = %q, %v; want %q", tc.scheme, tc.user, tc.host, got, ok, tc.want)
		}
	}
}

// BenchmarkAOR is the AoR of a phone's To URI, the one pass against the
// long way.
func BenchmarkAOR(b *testing.B) {
	u := &sip.Uri{Scheme: "sip", User: "Alice", Host: "Example.com"}
	b.Run("one-pass", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := AOR(u, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("long", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := longAOR(u, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// storableByRune is storable's definition, one rune at a time.
func storableByRune(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return false
		}
	}
	return true
}

func FuzzStorable(f *testing.F) {
	for _, s := range []string{
		"", "a", "locus-bench", "a84b4c76e66710@pc33.atlanta.example.com",
		"sip:alice@198.51.100.7:5060;transport=udp;ob",
		"0123456\x7f", "01234567\x7f", "0123456789abcde\x1f", "tab\there is fine ",
		"Grüße aus Köln, 8 bytes", "\xff\xfe01234567", "01234567\xc3", "0123456789\x00",
		"\x20\x20\x20\x20\x20\x20\x20\x20", "\x1f\x20\x20\x20\x20\x20\x20\x20", "~~~~~~~~~~~~~~~~",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := storable(s), storableByRune(s); got != want {
			t.Fatalf("storable(%q) = %v, want %v", s, got, want)
		}
	})
}

// TestStorableEveryByte puts each byte value at each position of a word
// and just past it, among printable ASCII.
func TestStorableEveryByte(t *testing.T) {
	for b := 0; b < 256; b++ {
		for pos := 0; pos < 17; pos++ {
			buf := []byte("abcdefghijklmnopq")
			buf[pos] = byte(b)
			s := string(buf)
			if got, want := storable(s), storableByRune(s); got != want {
				t.Fatalf("storable(%q) = %v, want %v", s, got, want)
			}
		}
	}
}

func BenchmarkStorable(b *testing.B) {
	s := "sip:user1234@198.51.100.7:5060;transport=udp;ob;+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\""
	for b.Loop() {
		if !storable(s) {
			b.Fatal("refused")
		}
	}
}
