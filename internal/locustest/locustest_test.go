package locustest_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/locus-sip/locus/internal/locustest"
)

func TestMain(m *testing.M) { locustest.Main(m) }

// TestRegisterAndDrop registers a contact through a tiny script, reads the
// binding back in the 200, and checks that a dropped request gets no reply.
func TestRegisterAndDrop(t *testing.T) {
	script := filepath.Join(t.TempDir(), "route.lua")
	locustest.WriteFile(t, script, `
function ksr_request_route()
	if KSR.is_OPTIONS() then KSR.x.drop() end
	KSR.registrar.save("location", 0)
end
`)
	p := locustest.Start(t, "--listen", "udp:127.0.0.1:0", "--store", "memory:", "--script", script)
	if p.Addrs["udp"] == "" {
		t.Fatalf("no udp listener in %v", p.Addrs)
	}
	c := locustest.Dial(t, p.Addrs["udp"])

	res := c.MustExchange(locustest.Register("alice", "localhost", "sip:alice@192.0.2.1:5060", 600, "phone/1").String())
	if res.StatusCode != 200 {
		t.Fatalf("REGISTER: %d %s, want 200", res.StatusCode, res.Reason)
	}
	if h := res.GetHeader("Contact"); h == nil || h.Value() != "<sip:alice@192.0.2.1:5060>;expires=600" {
		t.Fatalf("200 Contact = %v, want the binding with expires=600", h)
	}

	if res, err := c.Exchange(locustest.Options("alice", "localhost", "probe").String(), 300*time.Millisecond); err != locustest.ErrTimeout {
		t.Fatalf("dropped OPTIONS: got %v, %v; want no reply", res, err)
	}
	if p.Log.Count("locus started") != 1 {
		t.Fatalf("log has %d \"locus started\" records, want 1", p.Log.Count("locus started"))
	}
}
