package registrar

import (
	"testing"

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
