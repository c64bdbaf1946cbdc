package sipparse

import (
	"strings"
	"testing"
)

var benchMessages = []struct {
	name string
	data []byte
}{
	{"register", []byte(registerPhone)},
	{"invite_sdp", []byte(inviteSDP)},
}

// benchEach runs parse on every benchmark message, in a sub-benchmark each.
func benchEach(b *testing.B, parse func(data []byte) error) {
	for _, m := range benchMessages {
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(m.data)))
			for b.Loop() {
				if err := parse(m.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParse is the fast path on messages it takes whole.
func BenchmarkParse(b *testing.B) {
	for _, m := range benchMessages {
		if parseFast(m.data) == nil {
			b.Fatalf("the fast path does not take %s", m.name)
		}
	}
	benchEach(b, func(data []byte) error {
		_, err := ParseRequest(data)
		return err
	})
}

// BenchmarkParseReusable is Parse with the request's memory handed back
// after each message, as the UDP listener does.
func BenchmarkParseReusable(b *testing.B) {
	benchEach(b, func(data []byte) error {
		_, mem, err := ParseReusable(data)
		mem.Release()
		return err
	})
}

// BenchmarkParseSipgo is sipgo's parser on the same messages.
func BenchmarkParseSipgo(b *testing.B) {
	benchEach(b, func(data []byte) error {
		_, err := sipgoParser.ParseSIP(data)
		return err
	})
}

// BenchmarkParseFallback measures what a message the fast path gives up on
// midway costs: its attempt, then sipgo's parse.
func BenchmarkParseFallback(b *testing.B) {
	// A space before the Contact's parameters, after six headers.
	data := []byte(strings.Replace(registerPhone, ">;+sip.instance", "> ;+sip.instance", 1))
	if parseFast(data) != nil {
		b.Fatal("the fast path takes this message")
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseRequest(data); err != nil {
			b.Fatal(err)
		}
	}
}
