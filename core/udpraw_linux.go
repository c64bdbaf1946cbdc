//go:build linux && !386

package core

import (
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"unsafe"
)

// rawUDP reads and writes a UDP socket with recvmsg and sendto issued as
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
	// Ask the kernel to stamp every datagram with its arrival time: the
	// listener sheds requests that waited too long in the socket.
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	})
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
	buf []byte
	n   int
	src netip.AddrPort
	// stamp is when the kernel received the datagram (Unix ns), 0 if
	// the socket does not say.
	stamp int64
	err   error
	sa    syscall.RawSockaddrAny
	iov   syscall.Iovec
	hdr   syscall.Msghdr
	// ctl receives the SCM_TIMESTAMPNS control message; uint64s keep it
	// aligned for the cmsghdr.
	ctl [8]uint64
	fn  func(fd uintptr) bool
}

func (u *rawUDP) newRecv(buf []byte) *rawRecv {
	if u == nil || len(buf) == 0 {
		return nil
	}
	r := &rawRecv{buf: buf}
	r.iov.Base = &buf[0]
	r.iov.SetLen(len(buf))
	r.hdr.Name = (*byte)(unsafe.Pointer(&r.sa))
	r.hdr.Iov = &r.iov
	r.hdr.Iovlen = 1
	r.hdr.Control = (*byte)(unsafe.Pointer(&r.ctl[0]))
	r.fn = r.recv
	return r
}

func (r *rawRecv) recv(fd uintptr) bool {
	for {
		r.hdr.Namelen = uint32(unsafe.Sizeof(r.sa))
		r.hdr.SetControllen(int(unsafe.Sizeof(r.ctl)))
		r.hdr.Flags = 0
		n, _, e := syscall.RawSyscall(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&r.hdr)), 0)
		switch e {
		case 0:
			r.n, r.src, r.err = int(n), addrPortOf(&r.sa), nil
			r.stamp = r.timestamp()
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

// timestamp returns the SCM_TIMESTAMPNS of the datagram just read, or 0.
func (r *rawRecv) timestamp() int64 {
	const hdrLen = int(unsafe.Sizeof(syscall.Cmsghdr{}))
	ctl := unsafe.Slice((*byte)(unsafe.Pointer(&r.ctl[0])), int(r.hdr.Controllen))
	for len(ctl) >= hdrLen {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&ctl[0]))
		l := int(h.Len)
		if l < hdrLen || l > len(ctl) {
			return 0
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS && l >= hdrLen+int(unsafe.Sizeof(syscall.Timespec{})) {
			ts := (*syscall.Timespec)(unsafe.Pointer(&ctl[hdrLen]))
			return ts.Nano()
		}
		ctl = ctl[min(len(ctl), (l+7)&^7):]
	}
	return 0
}

// read returns one datagram, its source and when the kernel received it
// (Unix ns; 0 if unknown).
func (u *rawUDP) read(r *rawRecv) (int, netip.AddrPort, int64, error) {
	if err := u.rc.Read(r.fn); err != nil {
		return 0, netip.AddrPort{}, 0, err
	}
	return r.n, r.src, r.stamp, r.err
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
