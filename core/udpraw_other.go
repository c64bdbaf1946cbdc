//go:build !linux || 386

package core

import (
	"net"
	"net/netip"
)

// rawUDP is Linux only: elsewhere the listener uses the net package.
type rawUDP struct{}

type rawRecv struct{}

func newRawUDP(*net.UDPConn) *rawUDP      { return nil }
func (u *rawUDP) newRecv([]byte) *rawRecv { return nil }

func (u *rawUDP) read(*rawRecv) (int, netip.AddrPort, int64, error) {
	return 0, netip.AddrPort{}, 0, errRawUnsupported
}

func (u *rawUDP) write([]byte, netip.AddrPort) error { return errRawUnsupported }
