package scripts

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/script"
)

// BenchmarkRegisterPath measures one REGISTER through everything but the
// socket: parse the datagram, build the request view, run a registrar
// script (sanity, maxfwd, save), build and serialise the 200 OK.
func BenchmarkRegisterPath(b *testing.B) {
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
	defer host.Cleanup()
	exports := script.ExportsOf(host.Modules())
	rt, err := script.New(script.Options{File: file, Exports: exports, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close()
	eng := core.NewEngine(rt, log, 0, "locus")
	eng.SetMetrics(core.NewMetrics(host.Metrics, eng))

	const users = 10000
	raws := make([][]byte, users)
	for i := range raws {
		raws[i] = []byte(fmt.Sprintf("REGISTER sip:example.com SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-%d;rport\r\nMax-Forwards: 70\r\n"+
			"From: <sip:user%d@example.com>;tag=f%d\r\nTo: <sip:user%d@example.com>\r\n"+
			"Call-ID: c%d@192.0.2.10\r\nCSeq: %%d REGISTER\r\nContact: <sip:user%d@192.0.2.10:5060;transport=udp>\r\n"+
			"Expires: 3600\r\nUser-Agent: bench/1.0\r\nContent-Length: 0\r\n\r\n", i, i, i, i, i, i))
	}
	parser := sip.NewParser()
	var out strings.Builder
	respond := func(res *sip.Response) error {
		out.Reset()
		res.StringWrite(&out)
		if res.StatusCode != 200 {
			return fmt.Errorf("reply %d", res.StatusCode)
		}
		return nil
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		raw := fmt.Appendf(nil, string(raws[i%users]), i/users+1)
		i++
		msg, err := parser.ParseSIP(raw)
		if err != nil {
			b.Fatal(err)
		}
		req := msg.(*sip.Request)
		req.SetSource("192.0.2.10:5060")
		req.SetTransport("UDP")
		m := core.NewMsg(req, respond)
		eng.Process(m)
		if m.ReplyCode() != 200 {
			b.Fatalf("reply %d", m.ReplyCode())
		}
	}
}
