package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/core/script"
)

// fuzzRoute exercises KSR.sl and the KSR.is_* predicates; every method has
// one expected outcome (fuzzOutcome), so the target can check the reply.
const fuzzRoute = `
function ksr_request_route()
	if KSR.is_ACK() then KSR.x.exit() end
	if KSR.is_REGISTER() then
		KSR.sl.send_reply(200, "OK")
		KSR.x.exit()
	end
	if KSR.is_OPTIONS() then
		KSR.sl.sl_send_reply(200, "Options")
		return
	end
	if KSR.is_INVITE() then
		KSR.sl.send_reply(100, "Trying")
		KSR.sl.send_reply(486, "Busy Here")
		if KSR.sl.send_reply(200, "Too Late") ~= -1 then error("second final reply accepted") end
		KSR.x.exit()
	end
	if KSR.is_method_in("BC") then
		KSR.sl.send_reply(481, "")
		KSR.x.exit()
	end
	if KSR.is_MESSAGE() then KSR.x.drop() end
	if KSR.is_SUBSCRIBE() or KSR.is_NOTIFY() then error("boom") end
	if KSR.is_PUBLISH() then return end
	if KSR.is_INFO() then
		KSR.sl.sl_reply_error()
		KSR.x.exit()
	end
	if KSR.is_method("PING") then
		KSR.info("ping")
		KSR.sl.send_reply(200, "Pong")
		KSR.x.exit()
	end
	KSR.sl.send_reply(405, "")
end
`

// fuzzOutcome is the final reply a request gets (0: none): 505 from the
// engine for a version other than SIP/2.0, else fuzzRoute's for its method.
func fuzzOutcome(req *sip.Request) int {
	m := req.Method
	if m != sip.ACK && !strings.EqualFold(req.SipVersion, "SIP/2.0") {
		return 505
	}
	switch m {
	case sip.ACK, sip.MESSAGE:
		return 0
	case sip.REGISTER, sip.OPTIONS:
		return 200
	case sip.INVITE:
		return 486
	case sip.BYE, sip.CANCEL:
		return 481
	case sip.SUBSCRIBE, sip.NOTIFY, sip.PUBLISH, sip.INFO:
		return 500
	}
	if strings.EqualFold(string(m), "PING") {
		return 200
	}
	return 405
}

// panicLog counts the engine's "panic while routing" records.
type panicLog struct {
	mu     sync.Mutex
	panics []string
}

func (h *panicLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *panicLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *panicLog) WithGroup(string) slog.Handler            { return h }
func (h *panicLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		s := r.Message
		r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
		h.mu.Lock()
		h.panics = append(h.panics, s)
		h.mu.Unlock()
	}
	return nil
}

func (h *panicLog) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.panics
	h.panics = nil
	return p
}

// compiledExports returns the Lua exports of the compiled-in modules the
// fuzz script uses: sl only.
func compiledExports(t testing.TB) []script.Export {
	info, ok := core.LookupModule("sl")
	if !ok {
		t.Fatal("module sl is not compiled in")
	}
	ex, ok := info.New().(core.LuaExporter)
	if !ok {
		t.Fatal("module sl exports no Lua functions")
	}
	return []script.Export{{Name: "sl", Funcs: ex.LuaExports()}}
}

// FuzzRequestPath feeds raw bytes through the whole request path: the
// sipgo parser, core.Msg, core.Engine and the Lua runtime with a real
// routing script. It checks that nothing panics, that every non-ACK
// request gets exactly the one final reply the script prescribes (none
// when dropped), and that no Lua state leaks: after each input, 50 valid
// requests must still route quickly through a pool of two states.
func FuzzRequestPath(f *testing.F) {
	for _, s := range []string{
		coretest.Register,
		strings.Replace(coretest.Register, "REGISTER", "OPTIONS", -1),
		"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: i1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n",
		"ACK sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: a1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
		"MESSAGE sip:b@x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK3\r\nCall-ID: m\r\nCSeq: 9 MESSAGE\r\n\r\n",
		"PING sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nCSeq: 1 PING\r\n\r\n",
		"BYE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK5\r\nFrom: <sip:a@x>;tag=b1\r\nTo: <sip:b@x>;tag=b2\r\nCall-ID: b5\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n",
		"REGISTER sip:example.com SIP/3.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK6\r\nCall-ID: v3\r\nCSeq: 1 REGISTER\r\n\r\n",
		"REGISTER sip:example.com SIP/2.0\r\n\r\n",
		"REGISTER sip:example.com SIP/2.0\r\nCSeq: 1\r\nVia: \r\nContact: *\r\nContact: <sip:a@b>;expires=-1\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK4\r\nCSeq: 1 REGISTER\r\n\r\n",
		"\x00\xff garbage \r\n\r\n",
	} {
		f.Add([]byte(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")))
	}

	dir := f.TempDir()
	file := filepath.Join(dir, "route.lua")
	if err := os.WriteFile(file, []byte(fuzzRoute), 0o644); err != nil {
		f.Fatal(err)
	}
	plog := &panicLog{}
	log := slog.New(plog)
	// Two states: a leaked one shows within two inputs as a valid request
	// waiting out the timeout and getting 503.
	rt, err := script.New(script.Options{File: file, PoolSize: 2, Timeout: 200 * time.Millisecond,
		Exports: compiledExports(f), Log: log})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(rt.Close)
	eng := core.NewEngine(rt, log, 0, "locus")
	valid := coretest.Request(f, coretest.Register)

	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.NewParser().ParseSIP(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		req.SetSource("192.0.2.10:5060")
		req.SetTransport("UDP")
		rec := &coretest.Recorder{}
		m := core.NewMsg(req, rec.Respond)
		eng.Process(m)
		if p := plog.take(); len(p) > 0 {
			t.Fatalf("panic while routing %q:\n%s", data, strings.Join(p, "\n"))
		}

		finals := 0
		for _, r := range rec.Replies {
			if r.StatusCode >= 200 {
				finals++
			}
		}
		want := fuzzOutcome(req)
		switch {
		case want == 0 && len(rec.Replies) != 0:
			t.Fatalf("%s got %d replies (first %d), want none", req.Method, len(rec.Replies), rec.Replies[0].StatusCode)
		case want != 0 && finals != 1:
			t.Fatalf("%s got %d final replies, want exactly one (%d); replies %v", req.Method, finals, want, codes(rec))
		case want != 0 && rec.Code() != want:
			t.Fatalf("%s got %d, want %d", req.Method, rec.Code(), want)
		case want != 0 && m.ReplyCode() != want:
			t.Fatalf("Msg.ReplyCode %d, want %d", m.ReplyCode(), want)
		}
		if req.Method == sip.MESSAGE && want == 0 && !m.Dropped {
			t.Fatalf("MESSAGE not marked dropped")
		}
		// A request that is itself well-formed SIP/2.0 (it survives a
		// serialise-parse round trip) must get replies that do too. The
		// parser accepts far more than that (a request line " X: SIP", a
		// From of ":0:"), and locus echoes it: see wellFormed.
		for _, r := range rec.Replies {
			if !wellFormed(req) {
				break
			}
			back, err := sip.NewParser().ParseSIP([]byte(r.String()))
			if err != nil {
				t.Fatalf("reply %d does not parse back: %v\n%s", r.StatusCode, err, r.String())
			}
			if _, ok := back.(*sip.Response); !ok {
				t.Fatalf("reply %d parses back as %T", r.StatusCode, back)
			}
		}

		start := time.Now()
		for i := 0; i < 50; i++ {
			vm := core.NewMsg(valid.Clone(), (&coretest.Recorder{}).Respond)
			eng.Process(vm)
			if vm.ReplyCode() != 200 {
				t.Fatalf("valid REGISTER #%d after the input got %d, want 200 (a Lua state leaked?)", i, vm.ReplyCode())
			}
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("50 valid requests took %v after the input", d)
		}
	})
}

func codes(rec *coretest.Recorder) string {
	var s []string
	for _, r := range rec.Replies {
		s = append(s, fmt.Sprint(r.StatusCode))
	}
	return strings.Join(s, ",")
}

// wellFormed reports whether req is SIP/2.0 with a method token and
// serialises to text the parser takes back.
func wellFormed(req *sip.Request) bool {
	if req.SipVersion != "SIP/2.0" || req.Method == "" {
		return false
	}
	_, err := sip.NewParser().ParseSIP([]byte(req.String()))
	return err == nil
}
