//go:build linux

package core

import (
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"unsafe"
)

// rawUDP reads and writes a UDP socket with recvfrom and sendto issued as
// raw system calls, still through the runtime's poller (syscall.RawConn):
// on a non-blocking socket neither call blocks, and a raw call does not
// enter the scheduler's syscall state. Entering it wakes the runtime's
// monitor thread whenever every P was idle, which at a few thousand
// datagrams a second is once per datagram and costs about as much as the
// routing itself.
type rawUDP struct {
	rc    syscall.RawConn
	inet6 bool // an AF_INET6 socket: IPv4 peers are IPv4-mapped
	sends sync.Pool
}

// newRawUDP returns nil when the socket cannot be driven raw.
func newRawUDP(conn *net.UDPConn) *rawUDP {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil
	}
	family := -1
	if err := rc.Control(func(fd uintptr) {
		sa, err := syscall.Getsockname(int(fd))
		switch {
		case err != nil:
		case isInet4(sa):
			family = syscall.AF_INET
		case isInet6(sa):
			family = syscall.AF_INET6
		}
	}); err != nil || family < 0 {
		return nil
	}
	u := &rawUDP{rc: rc, inet6: family == syscall.AF_INET6}
	u.sends.New = func() any {
		s := &rawSend{}
		s.fn = s.send
		return s
	}
	return u
}

func isInet4(sa syscall.Sockaddr) bool { _, ok := sa.(*syscall.SockaddrInet4); return ok }
func isInet6(sa syscall.Sockaddr) bool { _, ok := sa.(*syscall.SockaddrInet6); return ok }

// rawRecv is one worker's receive state, reused for every datagram so
// that a read allocates nothing.
type rawRecv struct {
	buf   []byte
	n     int
	src   netip.AddrPort
	err   error
	sa    syscall.RawSockaddrAny
	salen uint32
	fn    func(fd uintptr) bool
}

func (u *rawUDP) newRecv(buf []byte) *rawRecv {
	if u == nil || len(buf) == 0 {
		return nil
	}
	r := &rawRecv{buf: buf}
	r.fn = r.recv
	return r
}

func (r *rawRecv) recv(fd uintptr) bool {
	for {
		r.salen = uint32(unsafe.Sizeof(r.sa))
		n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&r.buf[0])),
			uintptr(len(r.buf)), 0, uintptr(unsafe.Pointer(&r.sa)), uintptr(unsafe.Pointer(&r.salen)))
		switch e {
		case 0:
			r.n, r.src, r.err = int(n), addrPortOf(&r.sa), nil
			return true
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // wait for the poller
		default:
			r.n, r.err = 0, e
			return true
		}
	}
}

func (u *rawUDP) read(r *rawRecv) (int, netip.AddrPort, error) {
	if err := u.rc.Read(r.fn); err != nil {
		return 0, netip.AddrPort{}, err
	}
	return r.n, r.src, r.err
}

// rawSend is the state of one sendto, pooled.
type rawSend struct {
	b     []byte
	sa    syscall.RawSockaddrInet6 // or an Inet4 in its first bytes
	salen uintptr
	err   error
	fn    func(fd uintptr) bool
}

func (s *rawSend) send(fd uintptr) bool {
	for {
		_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(s.b))),
			uintptr(len(s.b)), 0, uintptr(unsafe.Pointer(&s.sa)), s.salen)
		switch e {
		case 0:
			s.err = nil
			return true
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // the socket buffer is full: wait for the poller
		default:
			s.err = e
			return true
		}
	}
}

func (u *rawUDP) write(b []byte, dst netip.AddrPort) error {
	ip := dst.Addr()
	if ip.Zone() != "" || (!u.inet6 && !ip.Unmap().Is4()) {
		return errRawUnsupported
	}
	s := u.sends.Get().(*rawSend)
	s.sa = syscall.RawSockaddrInet6{}
	if u.inet6 {
		s.sa.Family = syscall.AF_INET6
		putPort(&s.sa.Port, dst.Port())
		s.sa.Addr = ip.As16() // IPv4 peers as IPv4-mapped addresses
		s.salen = syscall.SizeofSockaddrInet6
	} else {
		a4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&s.sa))
		a4.Family = syscall.AF_INET
		putPort(&a4.Port, dst.Port())
		a4.Addr = ip.Unmap().As4()
		s.salen = syscall.SizeofSockaddrInet4
	}
	s.b = b
	err := u.rc.Write(s.fn)
	if err == nil {
		err = s.err
	}
	s.b, s.err = nil, nil
	u.sends.Put(s)
	return err
}

// putPort and getPort handle a port in network byte order.
func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func addrPortOf(sa *syscall.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case syscall.AF_INET:
		p := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), getPort(&p.Port))
	case syscall.AF_INET6:
		p := (*syscall.RawSockaddrInet6)(unsafe.Pointer(sa))
		a := netip.AddrFrom16(p.Addr)
		if p.Scope_id != 0 {
			a = a.WithZone(strconv.FormatUint(uint64(p.Scope_id), 10))
		}
		return netip.AddrPortFrom(a, getPort(&p.Port))
	}
	return netip.AddrPort{}
}
