package tm_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/tm"
)

const wait = 2 * time.Second

// A call to a registered user: INVITE/100/180/200 through locus, then the
// ACK and BYE routed by the Record-Route set (RFC 3261 §16).
func TestInviteDialog(t *testing.T) {
	px := startProxy(t, routeScript, "")
	alice, bob := newPhone(t, "alice"), newPhone(t, "bob")
	bob.register(px, "bob", "", "")

	alice.invite(px.udp, "bob", "call-1")
	alice.expectResponse(100, wait)
	inv := bob.expectRequest(sip.INVITE, wait)
	if n := viaCount(inv); n != 2 {
		t.Fatalf("callee got %d Vias, want 2:\n%s", n, inv)
	}
	if got := inv.MaxForwards().Val(); got != 69 {
		t.Errorf("Max-Forwards %d, want 69", got)
	}
	if inv.Recipient.Host+":"+fmt.Sprint(inv.Recipient.Port) != bob.addr {
		t.Errorf("Request-URI %s, want bob's contact %s", inv.Recipient.String(), bob.addr)
	}
	rr := inv.GetHeaders("Record-Route")
	if len(rr) != 1 || !strings.Contains(rr[0].Value(), px.udp) || !strings.Contains(rr[0].Value(), ";lr") {
		t.Fatalf("Record-Route %v, want locus's %s with lr", rr, px.udp)
	}
	top := inv.Via()
	if rcv, _ := top.Params.Get("branch"); !strings.HasPrefix(rcv, "z9hG4bK") {
		t.Errorf("locus's Via branch %q lacks the magic cookie", rcv)
	}
	if second := inv.GetHeaders("Via")[1].(*sip.ViaHeader); !second.Params.Has("rport") || second.Params.Has("rport") && mustParam(second, "rport") == "" {
		t.Errorf("caller's Via not stamped with rport: %s", second.Value())
	}

	bob.reply(px.udp, inv, 180)
	ring := alice.expectResponse(180, wait)
	if viaCount(ring) != 1 {
		t.Fatalf("caller's 180 has %d Vias:\n%s", viaCount(ring), ring)
	}
	bob.reply(px.udp, inv, 200)
	ok := alice.expectResponse(200, wait)
	if viaCount(ok) != 1 || len(ok.GetHeaders("Record-Route")) != 1 {
		t.Fatalf("caller's 200 malformed:\n%s", ok)
	}

	// ACK for the 2xx: end to end, routed by the Route set.
	alice.send(px.udp, fmt.Sprintf(`ACK sip:bob@%s SIP/2.0
Via: SIP/2.0/UDP %s;branch=z9hG4bK-ack-1;rport
%sMax-Forwards: 70
From: %s
To: %s
Call-ID: call-1
CSeq: 1 ACK
Content-Length: 0

`, bob.addr, alice.addr, routeSet(ok, true), ok.From().Value(), ok.To().Value()))
	ack := bob.expectRequest(sip.ACK, wait)
	if len(ack.GetHeaders("Route")) != 0 {
		t.Errorf("locus left its own Route in the ACK:\n%s", ack)
	}

	// BYE from the callee, routed back through locus to the caller.
	bob.send(px.udp, fmt.Sprintf(`BYE sip:alice@%s SIP/2.0
Via: SIP/2.0/UDP %s;branch=z9hG4bK-bye-1;rport
%sMax-Forwards: 70
From: %s
To: %s
Call-ID: call-1
CSeq: 2 BYE
Content-Length: 0

`, alice.addr, bob.addr, routeSet(ok, false), ok.To().Value(), ok.From().Value()))
	bye := alice.expectRequest(sip.BYE, wait)
	alice.reply(px.udp, bye, 200)
	bob.expectResponse(200, wait)
}

func mustParam(v *sip.ViaHeader, name string) string {
	s, _ := v.Params.Get(name)
	return s
}

// Two contacts: one busy, one answers; the caller gets the 200, the busy
// branch gets its ACK hop by hop.
func TestForkBusyAndAnswer(t *testing.T) {
	px := startProxy(t, routeScript, "")
	alice, b1, b2 := newPhone(t, "alice"), newPhone(t, "b1"), newPhone(t, "b2")
	b1.register(px, "bob", "", "")
	b2.register(px, "bob", "", "")

	alice.invite(px.udp, "bob", "call-fork")
	i1 := b1.expectRequest(sip.INVITE, wait)
	i2 := b2.expectRequest(sip.INVITE, wait)
	b1.reply(px.udp, i1, 486)
	ack := b1.expectRequest(sip.ACK, wait)
	if mustParam(ack.Via(), "branch") != mustParam(i1.Via(), "branch") {
		t.Errorf("ACK for 486 has another branch than the INVITE")
	}
	alice.quiet(200 * time.Millisecond) // the 486 is held while b2 may answer
	b2.reply(px.udp, i2, 200)
	alice.expectResponse(200, wait)
}

// A 6xx ends the search: the ringing branch is cancelled and the caller
// gets the 6xx.
func TestFork6xxCancelsOthers(t *testing.T) {
	px := startProxy(t, routeScript, "")
	alice, b1, b2 := newPhone(t, "alice"), newPhone(t, "b1"), newPhone(t, "b2")
	b1.register(px, "bob", "", "")
	b2.register(px, "bob", "", "")

	alice.invite(px.udp, "bob", "call-6xx")
	i1 := b1.expectRequest(sip.INVITE, wait)
	i2 := b2.expectRequest(sip.INVITE, wait)
	b2.reply(px.udp, i2, 180)
	alice.expectResponse(180, wait)
	b1.reply(px.udp, i1, 603)
	b1.expectRequest(sip.ACK, wait)
	c := b2.expectRequest(sip.CANCEL, wait)
	b2.reply(px.udp, c, 200)
	b2.reply(px.udp, i2, 487)
	b2.expectRequest(sip.ACK, wait)
	alice.expectResponse(603, wait)
}

// CANCEL from the caller reaches every branch; the caller gets 200 for
// the CANCEL and 487 for the INVITE.
func TestCancelFromCaller(t *testing.T) {
	px := startProxy(t, routeScript, "")
	alice, b1, b2 := newPhone(t, "alice"), newPhone(t, "b1"), newPhone(t, "b2")
	b1.register(px, "bob", "", "")
	b2.register(px, "bob", "", "")

	inv := alice.invite(px.udp, "bob", "call-cancel")
	i1 := b1.expectRequest(sip.INVITE, wait)
	i2 := b2.expectRequest(sip.INVITE, wait)
	b1.reply(px.udp, i1, 180)
	b2.reply(px.udp, i2, 183)
	alice.expectResponse(180, wait)
	alice.expectResponse(183, wait)

	alice.cancel(px.udp, inv)
	alice.expectResponse(200, wait) // for the CANCEL
	for _, b := range []*phone{b1, b2} {
		i := i1
		if b == b2 {
			i = i2
		}
		c := b.expectRequest(sip.CANCEL, wait)
		if mustParam(c.Via(), "branch") != mustParam(i.Via(), "branch") {
			t.Errorf("%s: CANCEL branch differs from its INVITE's", b.name)
		}
		b.reply(px.udp, c, 200)
		b.reply(px.udp, i, 487)
		b.expectRequest(sip.ACK, wait)
	}
	res := alice.expectResponse(487, wait)
	if res.CSeq().MethodName != sip.INVITE {
		t.Errorf("487 for %s", res.CSeq().MethodName)
	}
}

// No answer at all: 408 after fr_timer. A ringing branch that never
// answers is cancelled after fr_inv_timer and the caller gets 408.
func TestTimeouts(t *testing.T) {
	cfg := strings.Replace(strings.Replace(baseConfig, "fr_timer: 2s", "fr_timer: 300ms", 1), "fr_inv_timer: 3s", "fr_inv_timer: 600ms", 1)
	px := startProxy(t, routeScript, cfg)
	alice, bob := newPhone(t, "alice"), newPhone(t, "bob")
	bob.register(px, "bob", "", "")

	start := time.Now()
	alice.invite(px.udp, "bob", "call-silent")
	bob.expectRequest(sip.INVITE, wait)
	// UDP: locus retransmits (Timer A, T1 = 500 ms) — the first copy
	// may come before the timeout.
	alice.expectResponse(408, wait)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("408 after %s, before fr_timer", d)
	}

	alice2 := newPhone(t, "alice2")
	alice2.invite(px.udp, "bob", "call-ringing")
	var inv *sip.Request
	for inv == nil || inv.CallID().Value() != "call-ringing" {
		inv = bob.expectRequest(sip.INVITE, wait)
	}
	bob.reply(px.udp, inv, 180)
	alice2.expectResponse(180, wait)
	c := bob.expectRequest(sip.CANCEL, wait)
	bob.reply(px.udp, c, 200)
	bob.reply(px.udp, inv, 487)
	alice2.expectResponse(408, wait)
}

// A retransmitted INVITE is absorbed by the transaction: the callee sees
// one INVITE, the caller gets the last response again.
func TestRetransmissionAbsorbed(t *testing.T) {
	px := startProxy(t, routeScript, "")
	alice, bob := newPhone(t, "alice"), newPhone(t, "bob")
	bob.register(px, "bob", "", "")
	n := alice.seq.Load()
	inv := alice.invite(px.udp, "bob", "call-rtx")
	alice.expectResponse(100, wait)
	i := bob.expectRequest(sip.INVITE, wait)
	bob.reply(px.udp, i, 180)
	alice.expectResponse(180, wait)
	alice.seq.Store(n)
	alice.sendMsg(px.udp, inv)
	alice.expectResponse(180, wait) // the last response, again
	bob.quiet(300 * time.Millisecond)
	bob.reply(px.udp, i, 200)
	alice.expectResponse(200, wait)
}

// A MESSAGE (non-INVITE) is relayed and answered.
func TestRelayMessage(t *testing.T) {
	px := startProxy(t, routeScript, "")
	alice, bob := newPhone(t, "alice"), newPhone(t, "bob")
	bob.register(px, "bob", "", "")
	alice.send(px.udp, fmt.Sprintf(`MESSAGE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP %s;branch=z9hG4bK-msg-1
Max-Forwards: 70
From: <sip:alice@example.com>;tag=m1
To: <sip:bob@example.com>
Call-ID: msg-1
CSeq: 1 MESSAGE
Content-Type: text/plain
Content-Length: 5

hello`, alice.addr))
	m := bob.expectRequest(sip.MESSAGE, wait)
	if string(m.Body()) != "hello" {
		t.Errorf("body %q", m.Body())
	}
	bob.reply(px.udp, m, 202)
	alice.expectResponse(202, wait)
}

// Unknown users get the script's 404; nothing is left in progress.
func TestNotFound(t *testing.T) {
	px := startProxy(t, routeScript, "")
	alice := newPhone(t, "alice")
	alice.invite(px.udp, "nobody", "call-404")
	alice.expectResponse(404, wait)
	if n := px.tm.Active(); n != 0 {
		t.Errorf("%d transactions in progress", n)
	}
}

// Serial forking: contacts by q, the next group tried from the failure
// route when the first fails.
func TestSerialForkingFailureRoute(t *testing.T) {
	src := strings.Replace(routeScript, "function ROUTE_HOOK() end", `function ROUTE_HOOK()
	KSR.tm.t_load_contacts()
	KSR.tm.t_next_contacts()
	KSR.tm.t_on_failure("next_contact")
end

function next_contact()
	if KSR.tm.t_is_canceled() > 0 then return end
	if KSR.tm.t_next_contacts() > 0 then
		KSR.tm.t_on_failure("next_contact")
		KSR.tm.t_relay()
	end
end`, 1)
	px := startProxy(t, src, "")
	alice, high, low := newPhone(t, "alice"), newPhone(t, "high"), newPhone(t, "low")
	high.register(px, "bob", "", ";q=0.9")
	low.register(px, "bob", "", ";q=0.1")

	alice.invite(px.udp, "bob", "call-serial")
	i := high.expectRequest(sip.INVITE, wait)
	low.quiet(150 * time.Millisecond) // not forked in parallel
	high.reply(px.udp, i, 486)
	high.expectRequest(sip.ACK, wait)
	j := low.expectRequest(sip.INVITE, wait)
	low.reply(px.udp, j, 200)
	alice.expectResponse(200, wait)
}

// A failure route sends the call to voicemail with KSR.setdsturi; when
// that fails too, the caller gets the best response of all branches.
func TestFailureRouteVoicemail(t *testing.T) {
	vm := newPhone(t, "vm")
	src := strings.Replace(routeScript, "function ROUTE_HOOK() end", `function ROUTE_HOOK()
	KSR.tm.t_on_failure("voicemail")
end

function voicemail()
	if KSR.setdsturi("sip:`+vm.addr+`") < 0 then error("setdsturi refused") end
	KSR.tm.t_relay()
end`, 1)
	px := startProxy(t, src, "")
	alice, bob := newPhone(t, "alice"), newPhone(t, "bob")
	bob.register(px, "bob", "", "")

	alice.invite(px.udp, "bob", "call-vm")
	i := bob.expectRequest(sip.INVITE, wait)
	bob.reply(px.udp, i, 480)
	bob.expectRequest(sip.ACK, wait)
	v := vm.expectRequest(sip.INVITE, wait)
	if v.Recipient.User != "bob" {
		t.Errorf("voicemail got Request-URI %s, want bob's", v.Recipient.String())
	}
	vm.reply(px.udp, v, 200)
	alice.expectResponse(200, wait)

	// Voicemail busy as well: the failure route is not armed again, so
	// the best response goes upstream; 480 and 486 rank alike (4xx from
	// the branches), the first branch's wins.
	alice.invite(px.udp, "bob", "call-vm-2")
	i = bob.expectRequest(sip.INVITE, wait)
	bob.reply(px.udp, i, 480)
	bob.expectRequest(sip.ACK, wait)
	v = vm.expectRequest(sip.INVITE, wait)
	vm.reply(px.udp, v, 486)
	vm.expectRequest(sip.ACK, wait)
	alice.expectResponse(480, wait)
}

// A device registered over TCP from a port it does not listen on (behind
// NAT) is reached over the connection it registered on. Once that
// connection is gone the branch fails with 480, and with
// handle_lost_tcp the binding is removed.
func TestTCPFlow(t *testing.T) {
	cfg := baseConfig + "  usrloc:\n    handle_lost_tcp: true\n"
	px := startProxy(t, routeScript, cfg)
	alice := newPhone(t, "alice")
	bob := newTCPPhone(t, "bob", px.tcp)
	bob.register(px, "bob", "sip:bob@192.0.2.77:5060;transport=tcp", "")

	alice.invite(px.udp, "bob", "call-tcp")
	inv := bob.expectRequest(sip.INVITE, wait)
	if via := inv.Via(); via.Transport != "TCP" {
		t.Errorf("locus's Via says %s, want TCP", via.Transport)
	}
	if rr := inv.GetHeaders("Record-Route"); len(rr) != 2 {
		t.Errorf("UDP in, TCP out: want two Record-Routes, got %d", len(rr))
	}
	bob.reply(px.tcp, inv, 200)
	alice.expectResponse(200, wait)

	bob.tcp.Close()
	time.Sleep(100 * time.Millisecond)
	alice.invite(px.udp, "bob", "call-tcp-gone")
	alice.expectResponse(480, wait)
	alice.invite(px.udp, "bob", "call-tcp-removed")
	alice.expectResponse(404, wait)
}

// A device behind NAT registers a private Contact: requests go to the
// address its REGISTER came from.
func TestNATReceivedAddress(t *testing.T) {
	px := startProxy(t, routeScript, "")
	alice, bob := newPhone(t, "alice"), newPhone(t, "bob")
	bob.register(px, "bob", "sip:bob@10.11.12.13:5060", "")
	alice.invite(px.udp, "bob", "call-nat")
	inv := bob.expectRequest(sip.INVITE, wait)
	if inv.Recipient.Host != "10.11.12.13" {
		t.Errorf("Request-URI %s, want the registered contact", inv.Recipient.String())
	}
	bob.reply(px.udp, inv, 200)
	alice.expectResponse(200, wait)
}

// A binding with Path (RFC 3327) is reached through the edge proxy: the
// Path becomes the route set.
func TestPathRouteSet(t *testing.T) {
	px := startProxy(t, routeScript, "")
	alice, edge := newPhone(t, "alice"), newPhone(t, "edge")
	edge.register(px, "bob", "sip:bob@10.1.1.1:5060", "\nPath: <sip:"+edge.addr+";lr>\nSupported: path")
	alice.invite(px.udp, "bob", "call-path")
	inv := edge.expectRequest(sip.INVITE, wait)
	routes := inv.GetHeaders("Route")
	if len(routes) != 1 || !strings.Contains(routes[0].Value(), edge.addr) {
		t.Fatalf("want the Path as Route, got %v", routes)
	}
	edge.reply(px.udp, inv, 200)
	alice.expectResponse(200, wait)
}

// Reply and branch routes: the branch route stamps each branch, the reply
// route drops 180s (the caller only sees 183 and the final answer).
func TestReplyAndBranchRoutes(t *testing.T) {
	src := strings.Replace(routeScript, "function ROUTE_HOOK() end", `function ROUTE_HOOK()
	KSR.tm.t_on_branch("stamp")
	KSR.tm.t_on_reply("filter")
end

function stamp()
	KSR.hdr.append("X-Branch: yes\r\n")
end

function filter()
	if KSR.pv.get("$rs") == 180 then KSR.x.drop() end
end`, 1)
	px := startProxy(t, src, "")
	alice, bob := newPhone(t, "alice"), newPhone(t, "bob")
	bob.register(px, "bob", "", "")
	alice.invite(px.udp, "bob", "call-routes")
	inv := bob.expectRequest(sip.INVITE, wait)
	if inv.GetHeader("X-Branch") == nil {
		t.Errorf("branch route did not run:\n%s", inv)
	}
	bob.reply(px.udp, inv, 180)
	bob.reply(px.udp, inv, 183)
	alice.expectResponse(183, wait)
	bob.reply(px.udp, inv, 200)
	alice.expectResponse(200, wait)
}

// t_newtran + t_reply answer statefully: a retransmission gets the same
// reply from the transaction without running the script again.
func TestNewtranReply(t *testing.T) {
	src := `function ksr_request_route()
	if KSR.tm.t_check_trans() > 0 then error("no transaction yet") end
	KSR.tm.t_newtran()
	if KSR.tm.t_check_trans() < 0 then error("t_newtran made none") end
	KSR.tm.t_reply(488, "Not Here")
end`
	px := startProxy(t, src, "")
	alice := newPhone(t, "alice")
	inv := alice.invite(px.udp, "bob", "call-newtran")
	alice.expectResponse(488, wait)
	alice.sendMsg(px.udp, inv)
	alice.expectResponse(488, wait) // from the transaction (the script would error)
	// Over UDP, the 488 is retransmitted until the ACK comes (Timer G).
	alice.expectResponse(488, 1500*time.Millisecond)
}

// A caller over TCP: responses go back over its connection, and a CANCEL
// over it reaches the UDP callee.
func TestTCPCaller(t *testing.T) {
	px := startProxy(t, routeScript, "")
	bob := newPhone(t, "bob")
	bob.register(px, "bob", "", "")
	alice := newTCPPhone(t, "alice", px.tcp)

	inv := alice.invite(px.tcp, "bob", "call-from-tcp")
	alice.expectResponse(100, wait)
	i := bob.expectRequest(sip.INVITE, wait)
	bob.reply(px.udp, i, 180)
	alice.expectResponse(180, wait)
	alice.cancel(px.tcp, inv)
	alice.expectResponse(200, wait)
	c := bob.expectRequest(sip.CANCEL, wait)
	bob.reply(px.udp, c, 200)
	bob.reply(px.udp, i, 487)
	alice.expectResponse(487, wait)
}

// A CANCEL over TCP that arrives while the INVITE's route is still
// running (here: busy after t_relay) reaches the branches: nothing else
// answers it first.
func TestTCPCancelWhileRouting(t *testing.T) {
	src := strings.Replace(routeScript, "	if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end\nend", `	if KSR.tm.t_relay() < 0 then KSR.sl.sl_reply_error() end
	if KSR.is_INVITE() then
		-- a slow policy after the relay, until the CANCEL reached tm
		for i = 1, 2000000 do
			if i % 1000 == 0 and KSR.tm.t_is_canceled() > 0 then break end
		end
	end
end`, 1)
	if src == routeScript {
		t.Fatal("script not modified")
	}
	px := startProxy(t, src, "")
	bob := newPhone(t, "bob")
	bob.register(px, "bob", "", "")
	alice := newTCPPhone(t, "alice", px.tcp)

	inv := alice.invite(px.tcp, "bob", "cancel-while-routing")
	i := bob.expectRequest(sip.INVITE, wait)
	bob.reply(px.udp, i, 180)
	alice.expectResponse(180, wait)
	alice.cancel(px.tcp, inv)
	alice.expectResponse(200, wait)
	c := bob.expectRequest(sip.CANCEL, wait)
	bob.reply(px.udp, c, 200)
	bob.reply(px.udp, i, 487)
	alice.expectResponse(487, wait)
}

// tm.Request: a request of locus's own (a keepalive) gets its final
// response; an unanswered one is retransmitted and times out.
func TestRequest(t *testing.T) {
	cfg := strings.Replace(baseConfig, "fr_timer: 2s", "fr_timer: 1200ms", 1)
	px := startProxy(t, routeScript, cfg)
	bob := newPhone(t, "bob")
	options := func() *sip.Request {
		r := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", User: "bob", Host: "127.0.0.1"})
		r.AppendHeader(sip.NewHeader("From", "<sip:pinger@locus.invalid>;tag=p1"))
		r.AppendHeader(sip.NewHeader("To", "<sip:bob@127.0.0.1>"))
		r.AppendHeader(sip.NewHeader("Call-ID", "ping-1"))
		r.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.OPTIONS})
		r.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
		r.AppendHeader(sip.NewHeader("Content-Length", "0"))
		return r
	}
	target := core.Target{Proto: "udp", Addr: bob.addr}
	got := make(chan *sip.Response, 1)
	go func() {
		res, err := px.tm.Request(context.Background(), options(), target)
		if err != nil {
			t.Error(err)
		}
		got <- res
	}()
	req := bob.expectRequest(sip.OPTIONS, wait)
	bob.reply(px.udp, req, 200)
	if res := <-got; res == nil || res.StatusCode != 200 {
		t.Fatalf("Request returned %v", res)
	}

	start := time.Now()
	go func() {
		_, err := px.tm.Request(context.Background(), options(), target)
		if !errors.Is(err, tm.ErrTimeout) {
			t.Errorf("unanswered Request: %v, want ErrTimeout", err)
		}
		got <- nil
	}()
	bob.expectRequest(sip.OPTIONS, wait)
	bob.expectRequest(sip.OPTIONS, wait) // Timer E retransmission
	<-got
	if d := time.Since(start); d < time.Second {
		t.Errorf("gave up after %s, before fr_timer", d)
	}
}

// A retransmission that arrives while the original is still in the script
// is absorbed by the transaction the original creates: one INVITE reaches
// the callee, the caller never sees an error.
func TestRetransmissionDuringRoute(t *testing.T) {
	src := strings.Replace(routeScript, "function ROUTE_HOOK() end", `function ROUTE_HOOK()
	local x = 0
	for i = 1, 200000 do x = x + i end -- a slow policy
end`, 1)
	px := startProxy(t, src, "")
	alice, bob := newPhone(t, "alice"), newPhone(t, "bob")
	bob.register(px, "bob", "", "")
	inv := alice.invite(px.udp, "bob", "call-slow")
	alice.sendMsg(px.udp, inv)
	i := bob.expectRequest(sip.INVITE, wait)
	bob.reply(px.udp, i, 200)
	alice.expectResponse(200, wait)
	bob.quiet(700 * time.Millisecond) // no second INVITE (locus's own retransmission stopped at the 200)
}

// Over UDP an unanswered INVITE is sent again at T1, 2·T1, 4·T1 (Timer A)
// with the same branch, until a provisional comes; fr_inv_timer then
// bounds the wait (Timer C).
func TestRetransmitTimerA(t *testing.T) {
	cfg := strings.NewReplacer("fr_timer: 2s", "fr_timer: 2s\n    t1: 100ms\n    t2: 400ms", "fr_inv_timer: 3s", "fr_inv_timer: 500ms").Replace(baseConfig)
	px := startProxy(t, routeScript, cfg)
	alice, bob := newPhone(t, "alice"), newPhone(t, "bob")
	bob.register(px, "bob", "", "")

	alice.invite(px.udp, "bob", "call-retransmit")
	first := bob.expectRequest(sip.INVITE, wait)
	start := time.Now()
	branch := mustParam(first.Via(), "branch")
	var gaps []time.Duration
	last := start
	for range 3 {
		inv := bob.expectRequest(sip.INVITE, wait)
		if b := mustParam(inv.Via(), "branch"); b != branch {
			t.Fatalf("retransmission has branch %q, want %q", b, branch)
		}
		gaps = append(gaps, time.Since(last))
		last = time.Now()
	}
	// 100, 200, 400 ms; scheduling may stretch them, never shrink them much.
	for i, want := range []time.Duration{100, 200, 400} {
		if g := gaps[i]; g < want*time.Millisecond*8/10 {
			t.Errorf("retransmission %d after %s, want about %d ms", i+1, g, want)
		}
	}
	bob.reply(px.udp, first, 180)
	alice.expectResponse(180, wait)
	bob.quiet(300 * time.Millisecond) // no retransmission after a provisional
	c := bob.expectRequest(sip.CANCEL, wait)
	bob.reply(px.udp, c, 200)
	bob.reply(px.udp, first, 487)
	alice.expectResponse(408, wait)
}
