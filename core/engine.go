package core

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Router runs a request through the routing script.
type Router interface {
	Route(m *Msg) error
}

// ErrBusy is returned by a Router that has no capacity left for a request.
var ErrBusy = errors.New("core: routing capacity exhausted")

// Engine runs every SIP request through the Router and makes sure each
// gets exactly one final reply.
type Engine struct {
	router      Router
	metrics     *Metrics
	log         *slog.Logger
	maxInflight int64
	inflight    atomic.Int64
	server      string
	serverHdr   sip.Header // server's, shared by every reply
	intercept   Interceptor
	responses   ResponseHandler
}

// SetTransactions installs the transaction layer: i sees requests before
// the script, r receives responses. Either may be nil.
func (e *Engine) SetTransactions(i Interceptor, r ResponseHandler) {
	e.intercept, e.responses = i, r
}

// HandleResponse passes a response that reached a socket to the
// transaction layer; without one it is dropped.
func (e *Engine) HandleResponse(res *sip.Response, proto string) {
	if e.responses != nil {
		e.responses.HandleResponse(res, proto)
	}
}

// NewEngine returns an engine that routes through r. maxInflight bounds the
// requests in progress (0: unbounded); server is the Server header value.
func NewEngine(r Router, log *slog.Logger, maxInflight int, server string) *Engine {
	e := &Engine{router: r, log: log, maxInflight: int64(maxInflight), server: server}
	if server != "" {
		e.serverHdr = sip.NewHeader("Server", server)
	}
	return e
}

// SetMetrics makes the engine count requests and time the script.
func (e *Engine) SetMetrics(m *Metrics) { e.metrics = m }

// Inflight is the number of requests being processed.
func (e *Engine) Inflight() int64 { return e.inflight.Load() }

// HandleSIP is the sipgo request handler (stream transports: UDP has its
// own listener).
//
// Replies from the script are stateless, as Kamailio's sl module sends
// them, and forwarded requests live in tm's own transactions: sipgo's
// server transaction is dropped before the script runs and replies are
// written on the request's connection. Kept, an INVITE's would answer a
// CANCEL on its own (200, then 487 upstream) instead of letting it reach
// tm and the branches: a CANCEL can arrive while the INVITE is still
// being routed, as soon as a branch's 180 went upstream.
func (e *Engine) HandleSIP(req *sip.Request, tx sip.ServerTransaction) {
	var conn sip.Connection
	if ct, ok := tx.(interface{ Connection() sip.Connection }); ok {
		conn = ct.Connection()
	}
	var respond Responder
	switch {
	case conn != nil:
		respond = func(res *sip.Response) error { return conn.WriteMsg(res) }
		tx.Terminate()
	case tx != nil:
		respond = tx.Respond
		defer tx.Terminate()
	}
	m := NewMsg(req, respond)
	if conn != nil {
		m.SetLocal(conn.LocalAddr())
	}
	e.Process(m)
}

// Process routes one request and sends the fallback reply if the script
// left it unanswered.
func (e *Engine) Process(m *Msg) {
	m.Server, m.serverHdr = e.server, e.serverHdr
	n := e.inflight.Add(1)
	var scriptTime time.Duration
	defer func() {
		e.inflight.Add(-1)
		e.metrics.observe(m.Req.Method, m.ReplyCode(), scriptTime)
	}()
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("panic while routing", "panic", fmt.Sprint(p), "method", m.Req.Method.String(),
				"call_id", callID(m), "stack", string(debug.Stack()))
			e.fallback(m, 500, "Server Internal Error")
		}
	}()
	if e.maxInflight > 0 && n > e.maxInflight && !m.Req.IsAck() {
		e.log.Warn("overloaded: too many requests in progress", "inflight", n, "src", m.SourceAddr())
		if e.metrics != nil {
			e.metrics.overloaded.Inc()
		}
		_ = m.Reply(503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
		return
	}
	if !strings.EqualFold(m.Req.SipVersion, "SIP/2.0") && !m.Req.IsAck() {
		// Not a SIP/2.0 request: nothing else in it can be trusted (RFC 3261 §8.2.x).
		_ = m.Reply(505, "Version Not Supported")
		return
	}
	if e.intercept != nil && e.intercept.Intercept(m) {
		return
	}
	defer m.runAfterRoute()
	start := time.Now()
	err := e.router.Route(m)
	scriptTime = time.Since(start)
	switch {
	case m.Req.IsAck():
		if err != nil {
			e.log.Error("script error on ACK", "error", err, "call_id", callID(m))
		}
	case errors.Is(err, ErrBusy):
		e.log.Warn("overloaded: no script state free", "src", m.SourceAddr())
		if e.metrics != nil {
			e.metrics.overloaded.Inc()
		}
		e.fallback(m, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
	case err != nil:
		e.log.Error("script error", "error", err, "method", m.Req.Method.String(), "call_id", callID(m))
		e.fallback(m, 500, "Server Internal Error")
	case !m.Replied() && !m.Dropped && !m.Handled:
		e.log.Error("script returned without replying, forwarding or dropping",
			"method", m.Req.Method.String(), "call_id", callID(m))
		e.fallback(m, 500, "Server Internal Error")
	}
}

func (e *Engine) fallback(m *Msg, code int, reason string, hdrs ...sip.Header) {
	if m.Replied() || m.Dropped || m.Handled || m.Req.IsAck() {
		return
	}
	if err := m.Reply(code, reason, hdrs...); err != nil && !errors.Is(err, ErrReplied) {
		e.log.Error("send fallback reply", "code", code, "error", err)
	}
}

func callID(m *Msg) string {
	if h := m.Req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}
