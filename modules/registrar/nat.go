package registrar

import (
	"net/netip"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/usrloc"
)

// viaBehindNAT reports whether the REGISTER's top Via names another
// address than the one it came from (Kamailio's nat_uac_test 2 and 16):
// a NAT rewrote the source on the way.
func viaBehindNAT(m *core.Msg) bool {
	v := m.Req.Via()
	if v == nil || m.SrcIP == "" {
		return false
	}
	if !sameIP(v.Host, m.SrcIP) {
		return true
	}
	if m.Transport != "udp" {
		return false // a stream's source port is never the Via's
	}
	port := v.Port
	if port == 0 {
		port = 5060
	}
	return port != m.SrcPort
}

// natFlag is usrloc.FlagNAT when the binding's device is behind NAT: the
// REGISTER's Via says so, or the contact is a private address (RFC 1918,
// RFC 6598, IPv6 ULA) other than the source (nat_uac_test 1).
func natFlag(p *request, c *contact) uint32 {
	if p.viaNAT {
		return usrloc.FlagNAT
	}
	host := core.Unbracket(c.uri.Host)
	if host == p.srcIP {
		return 0 // the source itself, the common case: no parsing
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || sameAddr(ip, p.srcIP) {
		return 0
	}
	if ip.IsPrivate() || shared.Contains(ip) {
		return usrloc.FlagNAT
	}
	return 0
}

// shared is RFC 6598's carrier-grade NAT space.
var shared = netip.MustParsePrefix("100.64.0.0/10")

// sameAddr is sameIP(ip.String(), b) without formatting ip.
func sameAddr(ip netip.Addr, b string) bool {
	y, err := netip.ParseAddr(core.Unbracket(b))
	if err != nil {
		return ip.String() == b
	}
	return ip.Unmap() == y.Unmap()
}

func sameIP(a, b string) bool {
	if a == b {
		return true // what the parsing below concludes too, without it
	}
	x, err1 := netip.ParseAddr(core.Unbracket(a))
	y, err2 := netip.ParseAddr(core.Unbracket(b))
	if err1 != nil || err2 != nil {
		return a == b
	}
	return x.Unmap() == y.Unmap()
}
