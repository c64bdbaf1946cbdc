package scripts

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/script"
	"github.com/locus-sip/locus/core/sipparse"
)

// BenchmarkRegisterPath measures one REGISTER through everything but the
// socket: parse the datagram, build the request view, run a registrar
// script (sanity, maxfwd, save), build and serialise the 200 OK. "new"
// registers a new AoR every time; "refresh" re-registers the same contacts
// of 1,000 AoRs with a growing CSeq, as phones refreshing do.
func BenchmarkRegisterPath(b *testing.B) {
	b.Run("new", func(b *testing.B) {
		eng, done := registerEngine(b)
		defer done()
		i := 0
		for b.Loop() {
			registerOnce(b, eng, i, 1)
			i++
		}
	})
	b.Run("refresh", func(b *testing.B) {
		eng, done := registerEngine(b)
		defer done()
		const users = 1000
		for u := range users {
			registerOnce(b, eng, u, 1)
		}
		i := 0
		for b.Loop() {
			registerOnce(b, eng, i%users, i/users+2)
			i++
		}
	})
}

func registerEngine(b *testing.B) (*core.Engine, func()) {
	b.Helper()
	src := `
function ksr_request_route()
	if KSR.sanity.sanity_check_defaults() < 0 then KSR.x.exit() end
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		return
	end
	if KSR.is_REGISTER() then
		KSR.registrar.save("location", 0)
		return
	end
	KSR.sl.sl_send_reply(404, "Not Found")
end`
	file := filepath.Join(b.TempDir(), "route.lua")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	var cfg core.Config
	if err := core.ParseConfig([]byte("store: \"memory:\"\nmodules:\n  registrar: {domains: [example.com]}\n"), &cfg); err != nil {
		b.Fatal(err)
	}
	cfg.ApplyDefaults()
	log := slog.New(slog.DiscardHandler)
	host, err := core.LoadModules(context.Background(), &cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	exports := script.ExportsOf(host.Modules())
	rt, err := script.New(script.Options{File: file, Exports: exports, Log: log})
	if err != nil {
		host.Cleanup()
		b.Fatal(err)
	}
	eng := core.NewEngine(rt, log, 0, "locus")
	eng.SetMetrics(core.NewMetrics(host.Metrics, eng))
	b.ReportAllocs()
	return eng, func() {
		rt.Close()
		host.Cleanup()
	}
}

// registerOnce sends the REGISTER of user n with the given CSeq through eng
// and checks for its 200 OK.
func registerOnce(b *testing.B, eng *core.Engine, n, cseq int) {
	user := strconv.Itoa(n)
	raw := make([]byte, 0, 512)
	raw = append(raw, "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-"...)
	raw = append(raw, user...)
	raw = append(raw, '-')
	raw = strconv.AppendInt(raw, int64(cseq), 10)
	raw = append(raw, ";rport\r\nMax-Forwards: 70\r\nFrom: <sip:user"...)
	raw = append(raw, user...)
	raw = append(raw, "@example.com>;tag=f"...)
	raw = append(raw, user...)
	raw = append(raw, "\r\nTo: <sip:user"...)
	raw = append(raw, user...)
	raw = append(raw, "@example.com>\r\nCall-ID: c"...)
	raw = append(raw, user...)
	raw = append(raw, "@192.0.2.10\r\nCSeq: "...)
	raw = strconv.AppendInt(raw, int64(cseq), 10)
	raw = append(raw, " REGISTER\r\nContact: <sip:user"...)
	raw = append(raw, user...)
	raw = append(raw, "@192.0.2.10:5060;transport=udp>\r\nExpires: 3600\r\nUser-Agent: bench/1.0\r\nContent-Length: 0\r\n\r\n"...)
	msg, mem, err := sipparse.ParseReusable(raw) // as the UDP listener parses
	if err != nil {
		b.Fatal(err)
	}
	req := msg.(*sip.Request)
	req.SetSource("192.0.2.10:5060")
	req.SetTransport("UDP")
	m := core.NewMsg(req, serialise)
	eng.Process(m)
	if m.ReplyCode() != 200 {
		b.Fatalf("reply %d", m.ReplyCode())
	}
	mem.Release() // nothing retained a REGISTER's request
}

// replyBuf is the reply buffer, reused as the transport reuses pooled ones.
var replyBuf bytes.Buffer

// serialise writes the reply as the transport would.
func serialise(res *sip.Response) error {
	replyBuf.Reset()
	core.WriteMessage(&replyBuf, res)
	if res.StatusCode != 200 {
		return fmt.Errorf("reply %d", res.StatusCode)
	}
	return nil
}
