package core_test

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
)

type routerFunc func(m *core.Msg) error

func (f routerFunc) Route(m *core.Msg) error { return f(m) }

func TestEngineFallbacks(t *testing.T) {
	cases := []struct {
		name       string
		route      routerFunc
		code       int
		retryAfter bool
	}{
		{"replied", func(m *core.Msg) error { return m.Reply(200, "OK") }, 200, false},
		{"no reply", func(m *core.Msg) error { return nil }, 500, false},
		{"error", func(m *core.Msg) error { return errors.New("boom") }, 500, false},
		{"error after reply keeps the reply", func(m *core.Msg) error { _ = m.Reply(403, ""); return errors.New("late") }, 403, false},
		{"busy", func(m *core.Msg) error { return core.ErrBusy }, 503, true},
		{"panic", func(m *core.Msg) error { panic("bug") }, 500, false},
		{"dropped", func(m *core.Msg) error { m.Dropped = true; return nil }, 0, false},
		{"handled elsewhere", func(m *core.Msg) error { m.Handled = true; return nil }, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, rec := coretest.Msg(t, coretest.Register)
			core.NewEngine(tc.route, slog.New(slog.DiscardHandler), 0, "locus").Process(m)
			if rec.Code() != tc.code {
				t.Fatalf("code %d, want %d", rec.Code(), tc.code)
			}
			if tc.code == 0 {
				if len(rec.Replies) != 0 {
					t.Fatalf("unexpected replies %v", rec.Replies)
				}
				return
			}
			if len(rec.Replies) != 1 {
				t.Fatalf("%d replies, want 1", len(rec.Replies))
			}
			if got := rec.Final().GetHeader("Retry-After") != nil; got != tc.retryAfter {
				t.Fatalf("Retry-After present=%v, want %v", got, tc.retryAfter)
			}
			if h := rec.Final().GetHeader("Server"); h == nil || h.Value() != "locus" {
				t.Fatalf("Server header = %v", h)
			}
		})
	}
}

func TestEngineAckGetsNoReply(t *testing.T) {
	ack := strings.Replace(strings.Replace(coretest.Register, "REGISTER sip", "ACK sip", 1), "1 REGISTER", "1 ACK", 1)
	m, rec := coretest.Msg(t, ack)
	core.NewEngine(routerFunc(func(m *core.Msg) error {
		if err := m.Reply(200, "OK"); !errors.Is(err, core.ErrNoReply) {
			t.Errorf("reply to ACK: %v", err)
		}
		return nil
	}), slog.New(slog.DiscardHandler), 0, "").Process(m)
	if len(rec.Replies) != 0 {
		t.Fatalf("ACK got replies: %v", rec.Replies)
	}
}

func TestEngineInflightLimit(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	eng := core.NewEngine(routerFunc(func(m *core.Msg) error {
		entered <- struct{}{}
		<-release
		return m.Reply(200, "OK")
	}), slog.New(slog.DiscardHandler), 1, "")
	first, rec1 := coretest.Msg(t, coretest.Register)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); eng.Process(first) }()
	<-entered
	second, rec2 := coretest.Msg(t, coretest.Register)
	eng.Process(second)
	if rec2.Code() != 503 || rec2.Final().GetHeader("Retry-After") == nil {
		t.Fatalf("over the limit: %d %v", rec2.Code(), rec2.Replies)
	}
	close(release)
	wg.Wait()
	if rec1.Code() != 200 || eng.Inflight() != 0 {
		t.Fatalf("first: %d, inflight %d", rec1.Code(), eng.Inflight())
	}
}

func TestReplyAddsReceived(t *testing.T) {
	raw := strings.Replace(coretest.Register, "SIP/2.0/UDP 192.0.2.10:5060", "SIP/2.0/UDP phone.example.com:5060", 1)
	m, rec := coretest.Msg(t, raw)
	if err := m.Reply(200, "OK"); err != nil {
		t.Fatal(err)
	}
	via := rec.Final().Via()
	if got, _ := via.Params.Get("received"); got != "192.0.2.10" {
		t.Fatalf("Via = %s, want received=192.0.2.10", via.Value())
	}
	// Same host as the source: no received.
	m, rec = coretest.Msg(t, coretest.Register)
	_ = m.Reply(200, "OK")
	if rec.Final().Via().Params.Has("received") {
		t.Fatalf("received added though sent-by matches: %s", rec.Final().Via().Value())
	}
}

func TestReplyHeadersAndGuards(t *testing.T) {
	m, rec := coretest.Msg(t, coretest.Register)
	m.ReplyHeaders = append(m.ReplyHeaders, sip.NewHeader("X-Policy", "strict"))
	if err := m.Reply(100, ""); err != nil {
		t.Fatal(err)
	}
	if err := m.Reply(200, "", sip.NewHeader("Date", "Tue, 24 Nov 2026 03:00:00 GMT")); err != nil {
		t.Fatal(err)
	}
	if err := m.Reply(404, ""); !errors.Is(err, core.ErrReplied) {
		t.Fatalf("second final: %v", err)
	}
	if err := m.Reply(180, ""); !errors.Is(err, core.ErrReplied) {
		t.Fatalf("provisional after final: %v", err)
	}
	if err := m.Reply(700, ""); err == nil {
		t.Fatal("code 700 accepted")
	}
	f := rec.Final()
	if f.Reason != "OK" || f.GetHeader("X-Policy") == nil || f.GetHeader("Date") == nil || m.ReplyCode() != 200 {
		t.Fatalf("final = %s", f)
	}
	if len(rec.Replies) != 2 || rec.Replies[0].StatusCode != 100 {
		t.Fatalf("replies = %v", rec.Replies)
	}
	if err := core.CheckHeaderValue("a\r\nb"); err == nil {
		t.Fatal("CRLF accepted")
	}
}

func TestReplyToTagStableAndRport(t *testing.T) {
	raw := strings.Replace(coretest.Register, "5060;branch", "5062;rport;branch", 1)
	m1, rec1 := coretest.Msg(t, raw)
	m2, rec2 := coretest.Msg(t, raw)
	_ = m1.Reply(200, "OK")
	_ = m2.Reply(200, "OK")
	tag1, _ := rec1.Final().To().Params.Get("tag")
	tag2, _ := rec2.Final().To().Params.Get("tag")
	if tag1 == "" || tag1 != tag2 {
		t.Fatalf("To tags %q and %q: want equal and non-empty for a retransmission", tag1, tag2)
	}
	if m1.Req.To().Params.Has("tag") {
		t.Fatal("the request's To was modified")
	}
	via := rec1.Final().Via()
	if rp, _ := via.Params.Get("rport"); rp != "5060" {
		t.Fatalf("rport = %q in %s", rp, via.Value())
	}
	if rcv, _ := via.Params.Get("received"); rcv != "192.0.2.10" {
		t.Fatalf("received = %q in %s", rcv, via.Value())
	}
	if d := rec1.Final().Destination(); d != "192.0.2.10:5060" {
		t.Fatalf("destination %s, want the source port for rport", d)
	}
	other := strings.Replace(raw, "CSeq: 1 REGISTER", "CSeq: 2 REGISTER", 1)
	m3, rec3 := coretest.Msg(t, other)
	_ = m3.Reply(200, "OK")
	if tag3, _ := rec3.Final().To().Params.Get("tag"); tag3 == tag1 {
		t.Fatal("a new request got the same To tag")
	}
	// Without rport, the reply goes to the source IP and the Via port.
	m4, rec4 := coretest.Msg(t, strings.Replace(coretest.Register, "192.0.2.10:5060;branch", "192.0.2.10:5070;branch", 1))
	_ = m4.Reply(200, "OK")
	if d := rec4.Final().Destination(); d != "192.0.2.10:5070" {
		t.Fatalf("destination %s, want Via port", d)
	}
}

func TestVersionNotSupported(t *testing.T) {
	tested := 0
	for _, v := range []string{"SIP/3.0", "SIP"} {
		raw := strings.Replace(coretest.Register, "sip:example.com SIP/2.0", "sip:example.com "+v, 1)
		req, err := coretest.ParseRequest(raw)
		if err != nil {
			continue // the parser refused it: fine too
		}
		tested++
		var got []*sip.Response
		m := core.NewMsg(req, func(r *sip.Response) error { got = append(got, r); return nil })
		routed := false
		core.NewEngine(routerFunc(func(m *core.Msg) error { routed = true; return m.Reply(200, "OK") }),
			slog.New(slog.DiscardHandler), 0, "").Process(m)
		if routed || len(got) != 1 || got[0].StatusCode != 505 || got[0].SipVersion != "SIP/2.0" {
			t.Fatalf("%s: routed=%v replies=%v", v, routed, got)
		}
	}
	if tested == 0 {
		t.Fatal("the parser refused every version: nothing tested")
	}
}

// TestReplyServerHeader: the engine's shared Server header, and the value
// of Msg.Server when something changed it or no engine set it.
func TestReplyServerHeader(t *testing.T) {
	for _, tc := range []struct {
		name, engine, set, want string
	}{
		{"engine's", "locus", "", "locus"},
		{"changed by the route", "locus", "edge", "edge"},
		{"none", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, rec := coretest.Msg(t, coretest.Register)
			core.NewEngine(routerFunc(func(m *core.Msg) error {
				if tc.set != "" {
					m.Server = tc.set
				}
				return m.Reply(200, "OK")
			}), slog.New(slog.DiscardHandler), 0, tc.engine).Process(m)
			h := rec.Final().GetHeader("Server")
			switch {
			case tc.want == "" && h != nil:
				t.Fatalf("Server header %q, want none", h.Value())
			case tc.want != "" && (h == nil || h.Value() != tc.want):
				t.Fatalf("Server header %v, want %q", h, tc.want)
			}
			if cl := rec.Final().GetHeader("Content-Length"); cl == nil || cl.Value() != "0" {
				t.Fatalf("Content-Length %v, want 0", cl)
			}
		})
	}
	m, rec := coretest.Msg(t, coretest.Register) // no engine
	m.Server = "bare"
	if err := m.Reply(200, "OK"); err != nil {
		t.Fatal(err)
	}
	if h := rec.Final().GetHeader("Server"); h == nil || h.Value() != "bare" {
		t.Fatalf("Server header %v, want bare", h)
	}
}
