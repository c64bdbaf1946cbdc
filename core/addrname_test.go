package core

import (
	"net/netip"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// TestAddrName checks the strings a UDP worker keeps per source: Source is
// the address as "ip:port", and SrcIP is what sip.ParseAddr takes out of
// it (brackets removed) for IPv4, IPv6, IPv4-mapped and zoned addresses,
// and they follow a change of source.
func TestAddrName(t *testing.T) {
	var a addrName
	for _, s := range []string{"192.0.2.7:5060", "[2001:db8::1]:5070", "[::ffff:192.0.2.8]:5060", "[fe80::1%eth0]:5062", "192.0.2.7:5060"} {
		ap := netip.MustParseAddrPort(s)
		got := a.of(ap)
		wantIP, _, err := sip.ParseAddr(ap.String())
		if err != nil {
			t.Fatal(err)
		}
		if got.s != ap.String() || got.ip != wantIP || got.ap != ap {
			t.Errorf("of(%s) = %q, %q; want %q, %q", s, got.s, got.ip, ap.String(), wantIP)
		}
	}
}
