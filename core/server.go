package core

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

var setSIPLogger sync.Once

// Server owns the SIP user agent and its listeners. Listeners and
// transactions live outside script generations: a reload touches neither.
type Server struct {
	eng     *Engine
	workers int
	// maxQueueDelay is the UDP listeners' shedding threshold.
	maxQueueDelay time.Duration
	ua            *sipgo.UserAgent
	srv           *sipgo.Server
	log           *slog.Logger
	closers       []io.Closer
	udp           []*udpListener
	addrs         []string
	wg            sync.WaitGroup
	outboundState
}

// NewServer builds the SIP stack with eng handling every request.
func NewServer(eng *Engine, log *slog.Logger) (*Server, error) {
	sipLog := slog.New(quietSIP{log.Handler()}).With("module", "sip")
	// sipgo's connection code logs through its package logger: without
	// this its lines bypass locus's format and level. It is process-wide
	// and read by sipgo's goroutines without a lock, so it is set once:
	// the first server's logger serves every later one (tests).
	setSIPLogger.Do(func() { sip.SetDefaultLogger(sipLog) })
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(DefaultUserAgent),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipLog),
			// Responses over stream transports belong to tm's branches,
			// not to sipgo's client transactions.
			sip.WithTransactionLayerUnhandledResponseHandler(func(res *sip.Response) {
				eng.HandleResponse(res, strings.ToLower(res.Transport()))
			})),
	)
	if err != nil {
		return nil, fmt.Errorf("core: sip user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		ua.Close()
		return nil, fmt.Errorf("core: sip server: %w", err)
	}
	// No method handlers: every request, whatever its method, reaches the engine.
	srv.OnNoRoute(eng.HandleSIP)
	return &Server{eng: eng, ua: ua, srv: srv, log: log, workers: DefaultUDPWorkers()}, nil
}

// SetUDPWorkers sets how many goroutines serve each UDP socket.
func (s *Server) SetUDPWorkers(n int) {
	if n > 0 {
		s.workers = n
	}
}

// SetUDPMaxQueueDelay sets how long a request may wait in a UDP socket's
// buffer and still be handled; an older one is dropped unread. 0 (the
// default) sheds nothing. Call it before Listen.
func (s *Server) SetUDPMaxQueueDelay(d time.Duration) {
	s.maxQueueDelay = max(d, 0)
}

// DefaultUDPWorkers is the number of workers per UDP socket: enough that
// requests waiting on a store do not stall the socket.
func DefaultUDPWorkers() int { return 16 * runtime.GOMAXPROCS(0) }

// Listen binds every socket; it returns on the first failure, closing
// what it had bound. Serving starts at once in the background.
func (s *Server) Listen(socks []Listen) error {
	for _, l := range socks {
		addr, err := s.listen(l)
		if err != nil {
			s.Close()
			return fmt.Errorf("core: listen %s: %w", l.Socket, err)
		}
		s.addSocket(addr)
		s.log.Info("listening", "proto", l.Proto(), "addr", addr[len(l.Proto())+1:])
	}
	return nil
}

func (s *Server) listen(l Listen) (string, error) {
	proto, addr := l.Proto(), l.Addr()
	var (
		serve func() error
		bound net.Addr
	)
	switch proto {
	case "udp":
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return "", err
		}
		c, err := net.ListenUDP("udp", ua)
		if err != nil {
			return "", err
		}
		s.closers = append(s.closers, c)
		bound = c.LocalAddr()
		ul := newUDPListener(c, s.eng, s.log.With("module", "udp"), s.workers)
		ul.maxQueueDelay = s.maxQueueDelay
		s.addrMu.Lock()
		s.udp = append(s.udp, ul)
		s.addrMu.Unlock()
		serve = func() error { ul.serve(); return nil }
	case "tcp", "ws":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return "", err
		}
		s.closers = append(s.closers, ln)
		bound = ln.Addr()
		if proto == "tcp" {
			serve = func() error { return s.srv.ServeTCP(ln) }
		} else {
			serve = func() error { return s.srv.ServeWS(ln) }
		}
	case "tls", "wss":
		cert, err := tls.LoadX509KeyPair(l.Cert, l.Key)
		if err != nil {
			return "", fmt.Errorf("certificate: %w", err)
		}
		ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err != nil {
			return "", err
		}
		s.closers = append(s.closers, ln)
		bound = ln.Addr()
		if proto == "tls" {
			serve = func() error { return s.srv.ServeTLS(ln) }
		} else {
			serve = func() error { return s.srv.ServeWSS(ln) }
		}
	default:
		return "", fmt.Errorf("unknown protocol %q", proto)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := serve(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Error("listener stopped", "proto", proto, "addr", bound.String(), "error", err)
		}
	}()
	return proto + ":" + bound.String(), nil
}

// Addrs returns the bound sockets as "proto:ip:port", in configuration order.
func (s *Server) Addrs() []string {
	s.addrMu.RLock()
	defer s.addrMu.RUnlock()
	return s.addrs[:len(s.addrs):len(s.addrs)]
}

// Close stops the listeners and the SIP stack.
func (s *Server) Close() error {
	for _, c := range s.closers {
		_ = c.Close()
	}
	s.closers = nil
	err := s.ua.Close()
	s.wg.Wait()
	return err
}

// Shutdown closes the listeners, waits up to ctx for in-flight requests of
// eng to finish, and closes the SIP stack.
func (s *Server) Shutdown(ctx context.Context, eng *Engine) error {
	// Stream listeners close (accepted connections stay up); UDP sockets
	// stop being read but stay open until the replies are out.
	udp := map[io.Closer]bool{}
	for _, l := range s.udp {
		udp[l.conn] = true
		l.stopReading()
	}
	for _, c := range s.closers {
		if !udp[c] {
			_ = c.Close()
		}
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for eng.Inflight() > 0 {
		select {
		case <-ctx.Done():
			s.log.Warn("shutdown: requests still in progress", "inflight", eng.Inflight())
			return s.Close()
		case <-tick.C:
		}
	}
	return s.Close()
}

// quietSIP lowers sipgo's warnings about connection reference counts to
// debug: they come from a harmless race when a client closes its TCP
// connection right after the reply, and would flood operators' logs.
type quietSIP struct{ slog.Handler }

func (q quietSIP) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && strings.Contains(r.Message, "ref went negative") {
		r.Level = slog.LevelDebug
	}
	if !q.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return q.Handler.Handle(ctx, r)
}

func (q quietSIP) Enabled(ctx context.Context, l slog.Level) bool {
	// Warnings may be lowered to debug in Handle; let them through here.
	return q.Handler.Enabled(ctx, l) || l == slog.LevelWarn
}

func (q quietSIP) WithAttrs(as []slog.Attr) slog.Handler { return quietSIP{q.Handler.WithAttrs(as)} }
func (q quietSIP) WithGroup(n string) slog.Handler       { return quietSIP{q.Handler.WithGroup(n)} }
