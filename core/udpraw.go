package core

import (
	"errors"
	"net/netip"
)

// errRawUnsupported makes a raw write fall back to the net package: an
// address the raw path does not handle (an IPv6 zone, IPv6 on an IPv4
// socket).
var errRawUnsupported = errors.New("core: address not handled by the raw UDP path")

// readFrom reads one datagram, with a raw recvmsg when the platform
// allows (see rawUDP). It also returns when the kernel received the
// datagram (Unix ns), 0 where the platform does not say.
func (l *udpListener) readFrom(buf []byte, rr *rawRecv) (int, netip.AddrPort, int64, error) {
	if l.raw == nil || rr == nil {
		n, src, err := l.conn.ReadFromUDPAddrPort(buf)
		return n, src, 0, err
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
