package core

import (
	"errors"
	"net/netip"
)

// errRawUnsupported makes a raw write fall back to the net package: an
// address the raw path does not handle (an IPv6 zone, IPv6 on an IPv4
// socket).
var errRawUnsupported = errors.New("core: address not handled by the raw UDP path")

// readFrom reads one datagram, with a raw recvfrom when the platform
// allows (see rawUDP).
func (l *udpListener) readFrom(buf []byte, rr *rawRecv) (int, netip.AddrPort, error) {
	if l.raw == nil || rr == nil {
		return l.conn.ReadFromUDPAddrPort(buf)
	}
	return l.raw.read(rr)
}

// writeTo sends one datagram, with a raw sendto when the platform allows.
func (l *udpListener) writeTo(b []byte, dst netip.AddrPort) error {
	if l.raw != nil {
		if err := l.raw.write(b, dst); !errors.Is(err, errRawUnsupported) {
			return err
		}
	}
	_, err := l.conn.WriteToUDPAddrPort(b, dst)
	return err
}
