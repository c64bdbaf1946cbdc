//go:build !linux

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

func (u *rawUDP) read(*rawRecv) (int, netip.AddrPort, error) {
	return 0, netip.AddrPort{}, errRawUnsupported
}

func (u *rawUDP) write([]byte, netip.AddrPort) error { return errRawUnsupported }
