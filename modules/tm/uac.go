package tm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
)

// ErrTimeout is returned by Request when no final response came in time.
var ErrTimeout = errors.New("tm: no final response")

// Request sends a request locus makes itself (a keepalive OPTIONS, for
// example) to target as a client transaction of its own: locus's Via is
// put on top, the request is retransmitted over UDP (Timer E) and the
// first final response is returned. It gives up with ErrTimeout after
// fr_timer or when ctx ends.
func (t *TM) Request(ctx context.Context, req *sip.Request, target core.Target) (*sip.Response, error) {
	out := t.outbound()
	if out == nil {
		return nil, errors.New("tm: no sockets")
	}
	host, port, err := out.SentBy(target.Proto, target.Addr)
	if err != nil {
		return nil, err
	}
	id := branchPrefix + "u" + strconv.FormatUint(t.seq.Add(1), 36)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(target.Proto),
		Host: host, Port: port, Params: sip.NewParams()}
	via.Params.Add("branch", id)
	req.PrependHeader(via)
	req.SetTransport(strings.ToUpper(target.Proto))
	req.SetDestination(target.Addr)

	done := make(chan *sip.Response, 1)
	t.mu.Lock()
	t.uac[id] = done
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.uac, id)
		t.mu.Unlock()
	}()
	if err := out.Send(ctx, target, req); err != nil {
		return nil, err
	}
	timeout := time.NewTimer(time.Duration(t.FrTimer))
	defer timeout.Stop()
	interval := time.Duration(t.T1)
	var retrans <-chan time.Time
	if target.Proto == "udp" {
		tk := time.NewTimer(interval)
		defer tk.Stop()
		retrans = tk.C
		for {
			select {
			case res := <-done:
				return res, nil
			case <-retrans:
				_ = out.Send(ctx, target, req)
				interval = min(2*interval, time.Duration(t.T2))
				tk.Reset(interval)
			case <-timeout.C:
				return nil, fmt.Errorf("%w from %s", ErrTimeout, target)
			case <-ctx.Done():
				return nil, fmt.Errorf("%w from %s: %w", ErrTimeout, target, ctx.Err())
			}
		}
	}
	select {
	case res := <-done:
		return res, nil
	case <-timeout.C:
		return nil, fmt.Errorf("%w from %s", ErrTimeout, target)
	case <-ctx.Done():
		return nil, fmt.Errorf("%w from %s: %w", ErrTimeout, target, ctx.Err())
	}
}

// uacResponse delivers a final response to a waiting Request; it
// reports whether the response was one of them.
func (t *TM) uacResponse(id string, res *sip.Response) bool {
	t.mu.Lock()
	ch, ok := t.uac[id]
	t.mu.Unlock()
	if !ok {
		return false
	}
	if res.StatusCode >= 200 {
		select {
		case ch <- res:
		default:
		}
	}
	return true
}
