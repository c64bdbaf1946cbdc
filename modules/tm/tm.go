package tm

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
)

// Return codes of t_relay and friends, as Kamailio's tm has them.
const (
	OK    = 1
	Error = -1
)

// errRetransmission is newTxn's answer to a request whose transaction
// already exists.
var errRetransmission = errors.New("tm: retransmission of a request in progress")

// branchPrefix starts the Via branch of every request locus forwards:
// the RFC 3261 magic cookie, then a marker.
const branchPrefix = "z9hG4bKlc"

// txn is a server transaction towards the caller plus the client
// transactions of its branches.
type txn struct {
	tm  *TM
	key serverKey
	m   *core.Msg
	up  core.Target

	mu       sync.Mutex
	branches []*branch
	last     *sip.Response // last response sent upstream
	final    int           // code of the final response sent upstream, 0 before
	canceled bool
	// busy is set while a route runs with m (the request route, then
	// failure routes): completion waits for it.
	busy    bool
	pending bool // all branches completed while busy
	// failed counts branches whose failure route has run: a failure
	// route runs once per set of branches.
	failed    int
	onFailure string
	onReply   string
	onBranch  string
	timerG    *time.Timer
	gInterval time.Duration
	done      bool
}

// branch is one client transaction: a copy of the request sent to one target.
type branch struct {
	t      *txn
	id     string
	req    *sip.Request
	target core.Target

	state     int // calling, proceeding, completed
	res       *sip.Response
	local     bool // ended by locus itself (timeout, send failure)
	localCode int
	// timer drives retransmission (until retransAt is zero) and the
	// final-response timeout (frAt): one timer, not one for each.
	timer     *time.Timer
	retransAt time.Time
	interval  time.Duration
	frAt      time.Time

	cancelWanted bool
	cancelReq    *sip.Request
	cancelTimer  *time.Timer
	cancelIntvl  time.Duration
}

const (
	calling = iota
	proceeding
	completed
)

// serverKey identifies the server transaction of a request (RFC 3261
// §17.2.3): the top Via's branch and sent-by, and the method, with ACK
// and CANCEL matching the INVITE they refer to when asked. A struct of
// the parsed fields: building a string key for every request cost an
// allocation each.
type serverKey struct {
	branch string // or Call-ID|From tag|CSeq number for RFC 2543 peers
	host   string
	port   int
	method sip.RequestMethod
}

// serverKeyOf returns the key of req's server transaction; ok is false
// for a request without Via.
func serverKeyOf(req *sip.Request, method sip.RequestMethod) (k serverKey, ok bool) {
	via := req.Via()
	if via == nil {
		return serverKey{}, false
	}
	br, _ := via.Params.Get("branch")
	if !strings.HasPrefix(br, "z9hG4bK") {
		// RFC 2543 peers: Call-ID, From tag and CSeq number identify it.
		var b strings.Builder
		if c := req.CallID(); c != nil {
			b.WriteString(string(*c))
		}
		if f := req.From(); f != nil {
			tag, _ := f.Params.Get("tag")
			b.WriteString("|" + tag)
		}
		if c := req.CSeq(); c != nil {
			b.WriteString("|" + strconv.FormatUint(uint64(c.SeqNo), 10))
		}
		br = b.String()
	}
	return serverKey{branch: br, host: via.Host, port: via.Port, method: method}, true
}

// txnOf returns the transaction the current request already has.
func txnOf(m *core.Msg) *txn {
	t, _ := m.Get(txnKey).(*txn)
	return t
}

const txnKey = "tm.txn"

// Intercept absorbs what belongs to a transaction before the script runs:
// a retransmitted request (its last response is sent again) and the ACK
// of a non-2xx final response (hop by hop, RFC 3261 §17.2.1).
func (t *TM) Intercept(m *core.Msg) bool {
	if t.count.Load() == 0 {
		// No transaction at all, as for a registrar that answers
		// statelessly: nothing to look up. count changes under mu
		// together with the map.
		return false
	}
	req := m.Req
	method := req.Method
	if method == sip.CANCEL {
		return false
	}
	if method == sip.ACK {
		method = sip.INVITE
	}
	key, ok := serverKeyOf(req, method)
	if !ok {
		return false
	}
	t.mu.Lock()
	x := t.server[key]
	t.mu.Unlock()
	if x == nil {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if req.IsAck() {
		if x.final < 300 {
			return false // an ACK for a 2xx is end to end: the script routes it
		}
		if x.timerG != nil {
			x.timerG.Stop()
			x.timerG = nil
		}
		return true
	}
	if x.last != nil {
		_ = x.sendUp(x.last)
	}
	return true
}

// newTxn creates the server transaction of m, or returns the one it has.
// It fails when max_transactions are in progress.
func (t *TM) newTxn(m *core.Msg) (*txn, error) {
	if x := txnOf(m); x != nil {
		return x, nil
	}
	if t.MaxTransactions > 0 && t.count.Load() >= int64(t.MaxTransactions) {
		return nil, errors.New("tm: too many transactions in progress")
	}
	key, ok := serverKeyOf(m.Req, m.Req.Method)
	if !ok {
		return nil, errors.New("tm: request without Via")
	}
	m.StampVia()
	x := &txn{tm: t, key: key, m: m, up: m.UpstreamTarget(), busy: true}
	t.mu.Lock()
	if old := t.server[key]; old != nil {
		t.mu.Unlock()
		// A retransmission that arrived while the original was still in
		// the script: the transaction answers it.
		old.mu.Lock()
		if old.last != nil {
			_ = old.sendUp(old.last)
		}
		old.mu.Unlock()
		return nil, errRetransmission
	}
	t.server[key] = x
	t.count.Add(1) // under mu, with the map: Intercept trusts a count of 0
	t.mu.Unlock()
	m.Retain() // the transaction keeps the request; a retransmission's is not kept
	m.Set(txnKey, x)
	m.SetResponder(x.respond)
	m.AfterRoute(x.routeDone)
	return x, nil
}

// respond is the responder of a request with a transaction: replies of
// the script (t_reply, sl) go upstream through it.
func (x *txn) respond(res *sip.Response) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if res.StatusCode >= 200 {
		x.finalSent(res)
	}
	return x.sendUp(res)
}

// sendUp sends a response towards the caller; x.mu is held.
func (x *txn) sendUp(res *sip.Response) error {
	out := x.tm.outbound()
	if out == nil {
		return errors.New("tm: no sockets")
	}
	x.last = res
	return out.Send(context.Background(), x.up, res)
}

// finalSent records the final response; x.mu is held. Over UDP a non-2xx
// final response to an INVITE is retransmitted until the ACK comes
// (Timer G, bounded by Timer H).
func (x *txn) finalSent(res *sip.Response) {
	if x.final != 0 {
		return
	}
	x.final = res.StatusCode
	x.tm.metrics.final(res.StatusCode)
	if x.m.Req.Method == sip.INVITE && res.StatusCode >= 300 && x.up.Proto == "udp" {
		x.gInterval = time.Duration(x.tm.T1)
		x.timerG = time.AfterFunc(x.gInterval, x.retransmitFinal)
	}
	x.maybeFinish()
}

func (x *txn) retransmitFinal() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.timerG == nil {
		return // the ACK came
	}
	_ = x.sendUp(x.last)
	x.gInterval = min(2*x.gInterval, time.Duration(x.tm.T2))
	x.timerG.Reset(x.gInterval)
}

// maybeFinish schedules the end of a transaction whose final response
// went upstream and whose branches are all completed; x.mu is held.
func (x *txn) maybeFinish() {
	if x.done || x.final == 0 {
		return
	}
	for _, b := range x.branches {
		if b.state != completed {
			return
		}
	}
	x.done = true
	wait := time.Duration(x.tm.WaitTimer)
	if x.m.Req.Method == sip.INVITE && x.final >= 300 && x.up.Proto == "udp" {
		wait = max(wait, 64*time.Duration(x.tm.T1)) // Timer H
	}
	x.tm.waits.add(x, wait)
}

func (x *txn) remove() {
	x.mu.Lock()
	x.stopTimers()
	branches := x.branches
	x.mu.Unlock()
	t := x.tm
	t.mu.Lock()
	if t.server[x.key] == x {
		delete(t.server, x.key)
		t.count.Add(-1)
	}
	for _, b := range branches {
		if t.client[b.id] == b {
			delete(t.client, b.id)
		}
	}
	t.mu.Unlock()
}

// stopTimers stops every timer of the transaction; x.mu is held.
func (x *txn) stopTimers() {
	if x.timerG != nil {
		x.timerG.Stop()
		x.timerG = nil
	}
	for _, b := range x.branches {
		b.stopTimers()
	}
}

func (b *branch) stopTimers() {
	for _, tm := range []*time.Timer{b.timer, b.cancelTimer} {
		if tm != nil {
			tm.Stop()
		}
	}
	b.timer, b.cancelTimer = nil, nil
	b.retransAt = time.Time{}
}

// routeDone runs when the request route (or a failure route) returned:
// completion that happened meanwhile is handled now.
func (x *txn) routeDone() {
	x.mu.Lock()
	x.busy = false
	pending := x.pending
	x.pending = false
	x.mu.Unlock()
	if pending {
		x.complete()
	}
}

// Relay forwards m statefully to the Request-URI (or $du) and every
// branch. ACKs for 2xx and CANCELs without a transaction are forwarded
// statelessly. It returns OK, or Error with m's error code set for the
// script's sl_reply_error.
func (t *TM) Relay(ctx context.Context, m *core.Msg) int {
	switch m.Req.Method {
	case sip.ACK:
		return t.forwardStateless(ctx, m)
	case sip.CANCEL:
		if x := t.invite(m.Req); x != nil {
			_ = m.Reply(200, "OK")
			x.cancel()
			return OK
		}
		return t.forwardStateless(ctx, m)
	}
	x, err := t.newTxn(m)
	if errors.Is(err, errRetransmission) {
		m.Dropped = true // absorbed: no reply of its own
		return 0
	}
	if err != nil {
		t.log.Warn("t_relay refused", "error", err, "call_id", callID(m.Req))
		m.SetError(503, "Service Unavailable")
		return Error
	}
	x.mu.Lock()
	if x.final != 0 {
		x.mu.Unlock()
		return Error // already answered
	}
	if m.Req.Method == sip.INVITE && t.AutoInv100 && x.last == nil {
		if res, err := m.NewReply(100, "Trying"); err == nil {
			_ = x.sendUp(res)
		}
	}
	x.mu.Unlock()
	t.metrics.relay(m.Req.Method)
	m.Handled = true
	x.mu.Lock()
	x.onFailure, _ = m.Get(onFailureKey).(string)
	x.onReply, _ = m.Get(onReplyKey).(string)
	x.onBranch, _ = m.Get(onBranchKey).(string)
	canceled := x.canceled
	x.mu.Unlock()
	if canceled {
		_ = m.Reply(487, "Request Terminated")
		return OK
	}

	targets := make([]core.Branch, 0, 1+len(m.Branches))
	// The main branch goes to the Request-URI as it is (URI left empty):
	// no round trip through a string.
	main := core.Branch{Dst: m.DstURI, ConnID: m.DstConn}
	if b := m.Binding; b != nil && b.URI == m.Req.Recipient.String() {
		main.Path, main.RUID, main.AOR, main.Table, main.Instance = b.Path, b.RUID, b.AOR, b.Table, b.Instance
	}
	targets = append(targets, main)
	targets = append(targets, m.Branches...)
	m.Branches = nil

	sent := 0
	var firstErr int
	for _, tg := range targets {
		code := x.addBranch(ctx, tg)
		if code == 0 {
			sent++
		} else if firstErr == 0 {
			firstErr = code
		}
	}
	if sent == 0 {
		x.mu.Lock()
		inFailure := x.failed > 0
		x.mu.Unlock()
		if !inFailure {
			// Nothing went out: the script decides what to answer.
			m.Handled = false
			m.SetError(firstErr, core.ReasonPhrase(firstErr))
			return Error
		}
	}
	return OK
}

// invite returns the INVITE transaction a CANCEL refers to.
func (t *TM) invite(req *sip.Request) *txn {
	key, ok := serverKeyOf(req, sip.INVITE)
	if !ok {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.server[key]
}

// addBranch builds and sends one branch; it returns 0, or the code the
// branch ended with when it could not be sent.
func (x *txn) addBranch(ctx context.Context, tg core.Branch) int {
	t := x.tm
	out := t.outbound()
	b := &branch{t: x}
	req, target, err := t.branchRequest(ctx, x.m, tg)
	code := 0
	if err != nil || out == nil {
		uri := tg.URI
		if uri == "" {
			uri = x.m.Req.Recipient.String()
		}
		t.log.Warn("branch not sent", "uri", uri, "error", err)
		code = 503
	} else {
		b.req, b.target = req, target
		if x.onBranch != "" && !x.runBranchRoute(b) {
			return 0 // dropped by the branch route
		}
		b.id = branchPrefix + strconv.FormatUint(t.seq.Add(1), 36)
		via := req.Via()
		via.Params.Remove("branch")
		via.Params.Add("branch", b.id)
		// The branch joins the transaction, timers running, before it is
		// sent: its response, and a CANCEL from the caller after that, may
		// come before Send returns, and must find it.
		x.mu.Lock()
		x.branches = append(x.branches, b)
		b.cancelWanted = x.canceled && req.Method == sip.INVITE
		b.startTimers()
		x.mu.Unlock()
		t.mu.Lock()
		t.client[b.id] = b
		t.mu.Unlock()
		err := out.Send(ctx, target, req)
		if err == nil {
			return 0
		}
		code = 503
		if errors.Is(err, core.ErrNoFlow) {
			code = 480
			x.lostFlow(ctx, tg)
		}
		t.log.Info("branch not sent", "target", target.String(), "error", err, "call_id", callID(req))
		x.mu.Lock()
		b.stopTimers()
		b.state = completed
		b.local, b.localCode = true, code
		x.mu.Unlock()
		return code
	}
	x.mu.Lock()
	x.branches = append(x.branches, b)
	b.state = completed
	b.local, b.localCode = true, code
	x.mu.Unlock()
	return code
}

// lostFlow tells usrloc that the binding's connection is gone.
func (x *txn) lostFlow(ctx context.Context, tg core.Branch) {
	if x.tm.flows == nil || tg.RUID == "" {
		return
	}
	if removed, err := x.tm.flows.LostFlow(ctx, tg.Table, tg.AOR, tg.RUID); err != nil {
		x.tm.log.Warn("removing binding of lost connection", "aor", tg.AOR, "error", err)
	} else if removed {
		x.tm.log.Info("binding removed: its connection is gone", "aor", tg.AOR, "ruid", tg.RUID)
	}
}

// localResponse is a final response locus makes for a branch.
func (x *txn) localResponse(code int) *sip.Response {
	res, err := x.m.NewReply(code, core.ReasonPhrase(code))
	if err != nil {
		res = sip.NewResponse(code, core.ReasonPhrase(code))
	}
	return res
}

// branchRequest builds the copy of the request for one target: its
// Request-URI (the request's own when tg.URI is empty), the route set from the binding's Path, Max-Forwards,
// Record-Route and locus's Via; and where it goes (RFC 3261 §16.6).
func (t *TM) branchRequest(ctx context.Context, m *core.Msg, tg core.Branch) (*sip.Request, core.Target, error) {
	req := copyRequest(m.Req)
	if tg.URI != "" {
		var ru sip.Uri
		if err := sip.ParseUri(tg.URI, &ru); err != nil {
			return nil, core.Target{}, err
		}
		req.Recipient = ru
	}
	if len(tg.Path) > 0 {
		routes := make([]sip.Header, 0, len(tg.Path))
		for _, p := range tg.Path {
			var u sip.Uri
			if err := sip.ParseUri(strings.Trim(strings.TrimSpace(p), "<>"), &u); err != nil {
				return nil, core.Target{}, err
			}
			routes = append(routes, &sip.RouteHeader{Address: u})
		}
		core.InsertAfterVia(req, routes...)
	}
	target, err := nextHop(ctx, req, tg)
	if err != nil {
		return nil, core.Target{}, err
	}
	if mf := req.MaxForwards(); mf != nil {
		if mf.Val() == 0 {
			return nil, core.Target{}, errors.New("Max-Forwards is 0")
		}
		mf.Dec()
	} else {
		req.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	}
	out := t.outbound()
	if out == nil {
		return nil, core.Target{}, errors.New("tm: no sockets")
	}
	host, port, err := out.SentBy(target.Proto, target.Addr)
	if err != nil {
		return nil, core.Target{}, err
	}
	if m.RecordRouted {
		inHost, inPort, err := out.SentBy(m.Transport, m.SourceAddr())
		if err != nil {
			return nil, core.Target{}, err
		}
		rrIn := recordRoute(inHost, inPort, m.Transport)
		if inHost != host || inPort != port || m.Transport != target.Proto {
			// Double Record-Route: the callee's side reaches the outbound
			// socket, the caller's side the inbound one.
			core.InsertAfterVia(req, recordRoute(host, port, target.Proto), rrIn)
		} else {
			core.InsertAfterVia(req, rrIn)
		}
	}
	via := &sip.ViaHeader{
		ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(target.Proto),
		Host: host, Port: port, Params: sip.NewParams(),
	}
	via.Params.Add("branch", "")
	req.PrependHeader(via)
	req.SetTransport(strings.ToUpper(target.Proto))
	req.SetDestination(target.Addr)
	return req, target, nil
}

// copyRequest is a deep copy of req for a branch. sip.Request.Clone
// also works out the request's destination from its Route set (with
// fmt) and grows the header list from nothing, a third of a branch's
// allocations; a branch sets its own destination and transport.
func copyRequest(req *sip.Request) *sip.Request {
	c := sip.NewRequest(req.Method, req.Recipient) // copies the URI's parameters
	c.SipVersion = req.SipVersion
	for _, h := range req.Headers() {
		c.AppendHeader(sip.HeaderClone(h))
	}
	c.SetBody(slices.Clone(req.Body()))
	c.SetSource(req.Source())
	c.Laddr = req.Laddr
	return c
}

func recordRoute(host string, port int, proto string) *sip.RecordRouteHeader {
	u := sip.Uri{Scheme: "sip", Host: core.Unbracket(host), Port: port, UriParams: sip.NewParams()}
	if proto != "udp" {
		u.UriParams.Add("transport", proto)
	}
	u.UriParams.Add("lr", "")
	return &sip.RecordRouteHeader{Address: u}
}

// nextHop is where a branch goes: the connection the binding registered
// on (a flow), else the top Route (loose routing; a strict next hop gets
// the Request-URI moved to the end of the route set), else the
// destination URI ($du, the NAT address or Path), else the Request-URI.
func nextHop(ctx context.Context, req *sip.Request, tg core.Branch) (core.Target, error) {
	if tg.ConnID != "" {
		proto, addr, ok := strings.Cut(tg.ConnID, ":")
		if ok {
			return core.Target{Proto: proto, Addr: addr, Flow: true}, nil
		}
	}
	if r, ok := req.GetHeader("Route").(*sip.RouteHeader); ok {
		if r.Address.UriParams != nil && r.Address.UriParams.Has("lr") {
			return core.TargetOf(ctx, &r.Address)
		}
		// RFC 3261 §16.6 step 6: a strict router gets the request with
		// its URI in the Request-URI and the old one as the last Route.
		next := *r.Address.Clone()
		req.RemoveHeader("Route")
		req.AppendHeader(&sip.RouteHeader{Address: req.Recipient})
		req.Recipient = next
		return core.TargetOf(ctx, &next)
	}
	if tg.Dst != "" {
		var du sip.Uri
		if err := sip.ParseUri(tg.Dst, &du); err != nil {
			return core.Target{}, err
		}
		return core.TargetOf(ctx, &du)
	}
	return core.TargetOf(ctx, &req.Recipient)
}

// startTimers arms retransmission (UDP) and the final-response timeout
// on the branch's one timer; x.mu is held.
func (b *branch) startTimers() {
	t := b.t.tm
	now := time.Now()
	if b.target.Proto == "udp" {
		b.interval = time.Duration(t.T1)
		b.retransAt = now.Add(b.interval)
	}
	b.frAt = now.Add(time.Duration(t.FrTimer))
	b.timer = time.AfterFunc(b.next().Sub(now), b.tick)
}

// next is when the branch's timer is due: the next retransmission or the
// final-response timeout; x.mu is held.
func (b *branch) next() time.Time {
	if !b.retransAt.IsZero() && b.retransAt.Before(b.frAt) {
		return b.retransAt
	}
	return b.frAt
}

// rearm moves the branch's timer to its next deadline; x.mu is held.
func (b *branch) rearm() {
	if b.timer != nil {
		b.timer.Reset(time.Until(b.next()))
	}
}

// tick runs when the branch's timer fires: a timeout, or a
// retransmission (Timer A, or E for other methods).
func (b *branch) tick() {
	x := b.t
	x.mu.Lock()
	if b.state == completed || b.timer == nil {
		x.mu.Unlock()
		return
	}
	now := time.Now()
	if !now.Before(b.frAt) {
		b.timeout() // unlocks
		return
	}
	if !b.retransAt.IsZero() && !now.Before(b.retransAt) {
		if out := x.tm.outbound(); out != nil {
			_ = out.Send(context.Background(), b.target, b.req)
		}
		if b.req.Method == sip.INVITE {
			b.interval *= 2 // Timer A
		} else {
			b.interval = min(2*b.interval, time.Duration(x.tm.T2)) // Timer E
		}
		b.retransAt = now.Add(b.interval)
	}
	b.rearm()
	x.mu.Unlock()
}

// timeout ends a branch that got no final response in time with 408; an
// INVITE branch that had a provisional is cancelled first. x.mu is held
// and released.
func (b *branch) timeout() {
	x := b.t
	if b.state == proceeding && b.req.Method == sip.INVITE {
		b.sendCancel()
	}
	b.state = completed
	b.local, b.localCode = true, 408
	b.retransAt = time.Time{}
	x.mu.Unlock()
	x.complete()
}

// cancel cancels every branch still in progress (a CANCEL from the
// caller, or a 2xx or 6xx on another branch).
func (x *txn) cancel() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.canceled = true
	x.cancelBranches()
}

// cancelBranches sends CANCEL on every pending branch that had a
// provisional and marks the others to be cancelled when one comes
// (RFC 3261 §9.1); x.mu is held.
func (x *txn) cancelBranches() {
	if x.m.Req.Method != sip.INVITE {
		return
	}
	for _, b := range x.branches {
		if b.state == completed || b.cancelWanted {
			continue
		}
		b.cancelWanted = true
		if b.state == proceeding {
			b.sendCancel()
		}
	}
}

// sendCancel sends the CANCEL of an INVITE branch; x.mu is held.
func (b *branch) sendCancel() {
	if b.cancelReq != nil {
		return
	}
	r := b.req
	c := sip.NewRequest(sip.CANCEL, *r.Recipient.Clone())
	c.AppendHeader(r.Via().Clone())
	for _, h := range r.GetHeaders("Route") {
		c.AppendHeader(sip.HeaderClone(h))
	}
	if h := r.From(); h != nil {
		c.AppendHeader(sip.HeaderClone(h))
	}
	if h := r.To(); h != nil {
		c.AppendHeader(sip.HeaderClone(h))
	}
	if h := r.CallID(); h != nil {
		c.AppendHeader(sip.HeaderClone(h))
	}
	if h := r.CSeq(); h != nil {
		c.AppendHeader(&sip.CSeqHeader{SeqNo: h.SeqNo, MethodName: sip.CANCEL})
	}
	c.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	c.AppendHeader(sip.NewHeader("Content-Length", "0"))
	c.SetTransport(r.Transport())
	c.SetDestination(b.target.Addr)
	b.cancelReq = c
	x := b.t
	if out := x.tm.outbound(); out != nil {
		_ = out.Send(context.Background(), b.target, c)
	}
	if b.target.Proto == "udp" {
		b.cancelIntvl = time.Duration(x.tm.T1)
		b.cancelTimer = time.AfterFunc(b.cancelIntvl, b.retransmitCancel)
	}
}

func (b *branch) retransmitCancel() {
	x := b.t
	x.mu.Lock()
	defer x.mu.Unlock()
	if b.cancelTimer == nil || b.state == completed {
		return
	}
	if out := x.tm.outbound(); out != nil {
		_ = out.Send(context.Background(), b.target, b.cancelReq)
	}
	b.cancelIntvl = min(2*b.cancelIntvl, time.Duration(x.tm.T2))
	b.cancelTimer.Reset(b.cancelIntvl)
}

// forwardStateless sends an ACK for a 2xx, or a CANCEL locus has no
// transaction for, to its next hop with locus's Via (RFC 3261 §16.11).
func (t *TM) forwardStateless(ctx context.Context, m *core.Msg) int {
	tg := core.Branch{Dst: m.DstURI, ConnID: m.DstConn} // to the Request-URI as it is
	m.StampVia()
	req, target, err := t.branchRequest(ctx, m, tg)
	if err != nil {
		t.log.Info("stateless forward failed", "method", string(m.Req.Method), "error", err)
		m.SetError(503, "Service Unavailable")
		return Error
	}
	// A stateless branch is derived from the incoming one, so that a
	// retransmission takes the same branch (RFC 3261 §16.11).
	in := ""
	if v := m.Req.Via(); v != nil {
		in, _ = v.Params.Get("branch")
	}
	via := req.Via()
	via.Params.Remove("branch")
	via.Params.Add("branch", branchPrefix+"s"+strconv.FormatUint(hash(in+string(m.Req.Method)), 36))
	out := t.outbound()
	if err := out.Send(ctx, target, req); err != nil {
		t.log.Info("stateless forward failed", "method", string(m.Req.Method), "target", target.String(), "error", err)
		m.SetError(503, "Service Unavailable")
		return Error
	}
	m.Handled = true
	if m.Req.IsCancel() {
		_ = m.Reply(200, "OK")
	}
	return OK
}

func hash(s string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func callID(req *sip.Request) string {
	if c := req.CallID(); c != nil {
		return string(*c)
	}
	return ""
}
