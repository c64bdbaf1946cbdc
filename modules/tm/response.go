package tm

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
)

// HandleResponse matches a response to its branch by the top Via's branch
// (RFC 3261 §17.1.3). A response that matches none is forwarded
// statelessly when its top Via is locus's (a 2xx retransmitted after the
// transaction ended), and dropped otherwise.
func (t *TM) HandleResponse(res *sip.Response, proto string) {
	via := res.Via()
	cseq := res.CSeq()
	if via == nil || cseq == nil {
		return
	}
	id, _ := via.Params.Get("branch")
	if strings.HasPrefix(id, branchPrefix+"u") && t.uacResponse(id, res) {
		return
	}
	t.mu.Lock()
	b := t.client[id]
	t.mu.Unlock()
	if b == nil {
		t.forwardResponseStateless(res)
		return
	}
	x := b.t
	if cseq.MethodName == sip.CANCEL {
		x.mu.Lock()
		if b.cancelTimer != nil {
			b.cancelTimer.Stop()
			b.cancelTimer = nil
		}
		x.mu.Unlock()
		return
	}
	if cseq.MethodName != b.req.Method {
		return
	}
	res.RemoveHeader("Via")
	if res.Via() == nil {
		return // it was sent to locus alone: nothing to forward
	}
	x.onResponse(b, res)
}

func (x *txn) onResponse(b *branch, res *sip.Response) {
	code := res.StatusCode
	invite := b.req.Method == sip.INVITE
	x.mu.Lock()
	if b.state == completed {
		// A retransmission: a 2xx passes end to end, a non-2xx to an
		// INVITE gets its ACK again.
		if invite && code >= 200 && code < 300 && !b.local {
			_ = x.sendUpRaw(res)
		} else if invite && code >= 300 && !b.local {
			b.sendAck(res)
		}
		x.mu.Unlock()
		return
	}
	if code < 200 {
		if b.state == calling {
			b.state = proceeding
			if invite {
				b.retransAt = time.Time{}
			} else {
				b.interval = time.Duration(x.tm.T2)
			}
		}
		if invite && b.timer != nil {
			b.frAt = time.Now().Add(time.Duration(x.tm.FrInvTimer)) // Timer C
			b.rearm()
		}
		if b.cancelWanted {
			b.sendCancel()
		}
		if code == 100 || x.final != 0 {
			x.mu.Unlock()
			return
		}
		onReply := x.onReply
		x.mu.Unlock()
		if onReply != "" && !x.runReplyRoute(onReply, b, res) {
			return
		}
		x.mu.Lock()
		if x.final == 0 {
			_ = x.sendUp(res)
		}
		x.mu.Unlock()
		return
	}
	b.state = completed
	b.res = res
	b.stopTimers()
	if invite && code >= 300 {
		b.sendAck(res)
	}
	onReply := x.onReply
	x.mu.Unlock()
	if onReply != "" {
		x.runReplyRoute(onReply, b, res)
	}
	if code < 300 {
		x.mu.Lock()
		first := x.final == 0
		x.cancelBranches()
		if !first && invite {
			_ = x.sendUpRaw(res) // every 2xx of a forked INVITE goes upstream
		}
		x.mu.Unlock()
		if first {
			_ = x.m.Send(res)
		}
		x.mu.Lock()
		x.maybeFinish()
		x.mu.Unlock()
		return
	}
	if code >= 600 {
		x.mu.Lock()
		x.cancelBranches()
		x.mu.Unlock()
	}
	x.complete()
}

// sendUpRaw sends a response upstream without making it the one that a
// retransmitted request gets; x.mu is held.
func (x *txn) sendUpRaw(res *sip.Response) error {
	if out := x.tm.outbound(); out != nil {
		return out.Send(context.Background(), x.up, res)
	}
	return nil
}

// complete runs when a branch has completed without a 2xx. When every
// branch has, the failure route runs (once per set of branches, and only
// when armed); then, unless the script forwarded again or replied, the
// best response goes upstream.
func (x *txn) complete() {
	x.mu.Lock()
	if x.final != 0 {
		x.maybeFinish()
		x.mu.Unlock()
		return
	}
	for _, b := range x.branches {
		if b.state != completed {
			x.mu.Unlock()
			return
		}
	}
	if x.busy {
		x.pending = true
		x.mu.Unlock()
		return
	}
	if x.onFailure != "" && x.failed < len(x.branches) {
		fn := x.onFailure
		x.onFailure = ""
		x.failed = len(x.branches)
		x.busy = true
		x.mu.Unlock()
		x.runFailureRoute(fn)
		x.mu.Lock()
		x.busy, x.pending = false, false
		x.mu.Unlock()
		x.complete()
		return
	}
	best := x.best()
	x.mu.Unlock()
	if best != nil {
		_ = x.m.Send(best)
	}
}

// best selects the response to send upstream (RFC 3261 §16.7 step 6):
// a 6xx, else the lowest class, within 4xx preferring the codes a caller
// can act on; responses from the branches win over locus's own. A 503 is
// sent as 500 (the caller must not think locus itself is overloaded), and
// the challenges of every 401/407 are merged. x.mu is held.
func (x *txn) best() *sip.Response {
	var (
		pick *branch
		rank = 1 << 30
	)
	for _, b := range x.branches {
		code := b.code()
		if code == 0 {
			continue
		}
		r := code / 100 * 10
		switch {
		case code >= 600:
			r = 0
		case code == 401 || code == 407 || code == 415 || code == 420 || code == 484:
			r += 0
		case b.local:
			r += 2
		default:
			r++
		}
		if r < rank {
			pick, rank = b, r
		}
	}
	if pick == nil {
		return x.localResponse(500)
	}
	code := pick.code()
	if pick.local {
		x.tm.metrics.localReply(code)
		return x.localResponse(code)
	}
	if code == 503 {
		return x.localResponse(500)
	}
	res := pick.res
	if code == 401 || code == 407 {
		res = res.Clone()
		for _, b := range x.branches {
			if b == pick || b.res == nil || b.local || (b.res.StatusCode != 401 && b.res.StatusCode != 407) {
				continue
			}
			for _, name := range []string{"WWW-Authenticate", "Proxy-Authenticate"} {
				for _, h := range b.res.GetHeaders(name) {
					res.AppendHeader(sip.HeaderClone(h))
				}
			}
		}
	}
	return res
}

// code is the final status of a branch, 0 while it is pending.
func (b *branch) code() int {
	if b.local {
		return b.localCode
	}
	if b.res != nil {
		return b.res.StatusCode
	}
	return 0
}

// sendAck acknowledges a non-2xx final response of an INVITE branch hop
// by hop (RFC 3261 §17.1.1.3); x.mu is held.
func (b *branch) sendAck(res *sip.Response) {
	r := b.req
	ack := sip.NewRequest(sip.ACK, *r.Recipient.Clone())
	ack.AppendHeader(r.Via().Clone())
	for _, h := range r.GetHeaders("Route") {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	if h := r.From(); h != nil {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	if h := res.To(); h != nil {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	if h := r.CallID(); h != nil {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	if h := r.CSeq(); h != nil {
		ack.AppendHeader(&sip.CSeqHeader{SeqNo: h.SeqNo, MethodName: sip.ACK})
	}
	ack.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	ack.AppendHeader(sip.NewHeader("Content-Length", "0"))
	if out := b.t.tm.outbound(); out != nil {
		_ = out.Send(context.Background(), b.target, ack)
	}
}

// forwardResponseStateless passes on a response whose transaction is gone
// when its top Via is locus's: to the next Via's received address and
// rport (RFC 3261 §16.11, §18.2.2).
func (t *TM) forwardResponseStateless(res *sip.Response) {
	via := res.Via()
	out := t.outbound()
	if out == nil || !strings.HasPrefix(branchOf(via), branchPrefix) || !out.IsMyself(via.Host, via.Port) {
		return
	}
	res.RemoveHeader("Via")
	next := res.Via()
	if next == nil {
		return
	}
	host := next.Host
	if rcv, ok := next.Params.Get("received"); ok && rcv != "" {
		host = rcv
	}
	port := next.Port
	if rp, ok := next.Params.Get("rport"); ok {
		if p, err := strconv.Atoi(rp); err == nil && p > 0 {
			port = p
		}
	}
	if port == 0 {
		port = 5060
	}
	target := core.Target{Proto: strings.ToLower(next.Transport), Addr: net.JoinHostPort(core.Unbracket(host), strconv.Itoa(port)), Flow: true}
	if err := out.Send(context.Background(), target, res); err != nil {
		t.log.Debug("stateless response forward failed", "target", target.String(), "error", err)
	}
}

func branchOf(v *sip.ViaHeader) string {
	b, _ := v.Params.Get("branch")
	return b
}

// runFailureRoute runs the script's failure route with the request; a
// failure route must arm itself again to run once more.
func (x *txn) runFailureRoute(fn string) {
	sc := x.tm.scriptCaller()
	if sc == nil {
		return
	}
	x.m.Set(onFailureKey, "")
	x.m.Set(inFailureKey, true)
	if err := sc.Call(x.m, fn); err != nil {
		x.tm.log.Error("failure route", "route", fn, "error", err, "call_id", callID(x.m.Req))
	}
	x.m.Set(inFailureKey, false)
}

// runReplyRoute runs the reply route with the response; it reports false
// when the script dropped a provisional response.
func (x *txn) runReplyRoute(fn string, b *branch, res *sip.Response) bool {
	sc := x.tm.scriptCaller()
	if sc == nil {
		return true
	}
	rm := core.NewMsg(b.req, nil)
	rm.Res = res
	if err := sc.Call(rm, fn); err != nil {
		x.tm.log.Error("reply route", "route", fn, "error", err, "call_id", callID(b.req))
	}
	return !rm.Dropped || res.StatusCode >= 200
}

// runBranchRoute runs the branch route with the branch's request; it
// reports false when the script dropped the branch.
func (x *txn) runBranchRoute(b *branch) bool {
	sc := x.tm.scriptCaller()
	if sc == nil {
		return true
	}
	bm := core.NewMsg(b.req, nil)
	bm.Vars = x.m.Vars
	if err := sc.Call(bm, x.onBranch); err != nil {
		x.tm.log.Error("branch route", "route", x.onBranch, "error", err, "call_id", callID(b.req))
	}
	return !bm.Dropped
}
