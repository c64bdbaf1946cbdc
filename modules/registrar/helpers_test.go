package registrar_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/core/script"
	"github.com/locus-sip/locus/modules/registrar"
	"github.com/locus-sip/locus/modules/sl"
	"github.com/locus-sip/locus/modules/store/memstore"
	"github.com/locus-sip/locus/modules/usrloc"
	lua "github.com/yuin/gopher-lua"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a registrar over a real memory store, driven through the real
// engine and a Lua script.
type env struct {
	t     *testing.T
	reg   *registrar.Registrar
	ul    *usrloc.Usrloc
	clock *clock
	rt    *script.Runtime
	eng   *core.Engine
	// events records what the script's ksr_registrar_event saw through
	// KSR.t.record: the event and $ulc(exp=>aor), $ulc(exp=>addr).
	mu     sync.Mutex
	events []string
}

const saveRoute = `
function ksr_request_route()
	if KSR.is_REGISTER() then
		local rc = KSR.registrar.save("location", 0)
		KSR.x.exit()
	end
	local rc = KSR.registrar.lookup("location")
	if rc == 1 then
		KSR.sl.send_reply(299, KSR.t.target())
		return
	end
	KSR.sl.send_reply(404, "lookup " .. rc)
end
`

func newEnv(t *testing.T, route string, configure func(*registrar.Registrar)) *env {
	t.Helper()
	ul, err := usrloc.NewWithStore(memstore.New(), 1024, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	ul.SetClock(clk.Now)
	reg := registrar.NewWithService(ul, []string{"example.com"}, slog.New(slog.DiscardHandler))
	reg.SetClock(clk.Now)
	if configure != nil {
		configure(reg)
	}
	if err := reg.Validate(); err != nil {
		t.Fatal(err)
	}
	if route == "" {
		route = saveRoute
	}
	e := &env{t: t, reg: reg, ul: ul, clock: clk}
	record := core.LuaFunc{Name: "record", Fn: func(env *core.Env, L *lua.LState) int {
		ulc := reg.PVClasses()["ulc"]
		e.mu.Lock()
		defer e.mu.Unlock()
		e.events = append(e.events, fmt.Sprintf("%s %v %v", L.CheckString(1), ulc(env.Msg, "exp=>aor", 0), ulc(env.Msg, "exp=>addr", 0)))
		return 0
	}}
	tx := script.Export{Name: "t", Funcs: append([]core.LuaFunc{record}, testExports.Funcs...)}
	e.rt = coretest.Runtime(t, route, coretest.Export("registrar", reg), coretest.Export("sl", &sl.SL{}), tx)
	e.eng = core.NewEngine(e.rt, slog.New(slog.DiscardHandler), 0, "")
	t.Cleanup(func() { _ = ul.Cleanup() })
	return e
}

// testExports gives scripts a way to read the rewritten R-URI, $du and
// the branches without depending on the pv module.
var testExports = script.Export{Name: "t", Funcs: []core.LuaFunc{{
	Name: "target",
	Fn: func(env *core.Env, L *lua.LState) int {
		m := core.CheckMsg(env, L)
		s := m.Req.Recipient.String() + " du=" + m.DstURI
		for _, b := range m.Branches {
			s += " branch=" + b.URI
		}
		L.Push(lua.LString(s))
		return 1
	},
}}}

// send routes a raw request and returns its final reply.
func (e *env) send(raw string) (*sip.Response, *core.Msg) {
	e.t.Helper()
	m, rec := coretest.Msg(e.t, raw)
	e.eng.Process(m)
	f := rec.Final()
	if f == nil {
		e.t.Fatalf("no final reply to:\n%s", raw)
	}
	return f, m
}

// bindings returns the live bindings of aor in the location table.
func (e *env) bindings(aor string) []usrloc.Binding {
	e.t.Helper()
	bs, err := e.ul.Lookup(context.Background(), "location", aor)
	if err != nil {
		e.t.Fatal(err)
	}
	return bs
}

// reg describes a REGISTER to build.
type reg struct {
	to       string // To URI, default sip:alice@example.com
	contacts []string
	expires  string // Expires header value, "" for none
	callID   string
	cseq     int
	extra    []string // raw header lines
	via      string
}

func (r reg) String() string {
	to := r.to
	if to == "" {
		to = "sip:alice@example.com"
	}
	callID := r.callID
	if callID == "" {
		callID = "call-1@192.0.2.10"
	}
	cseq := r.cseq
	if cseq == 0 {
		cseq = 1
	}
	via := r.via
	if via == "" {
		via = "SIP/2.0/UDP 192.0.2.10:5060"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:example.com SIP/2.0\r\n")
	fmt.Fprintf(&b, "Via: %s;branch=z9hG4bK-%s-%d\r\n", via, strings.ReplaceAll(callID, "@", "-"), cseq)
	fmt.Fprintf(&b, "Max-Forwards: 70\r\nFrom: <%s>;tag=f1\r\nTo: <%s>\r\n", to, to)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d REGISTER\r\n", callID, cseq)
	for _, c := range r.contacts {
		fmt.Fprintf(&b, "Contact: %s\r\n", c)
	}
	if r.expires != "" {
		fmt.Fprintf(&b, "Expires: %s\r\n", r.expires)
	}
	for _, h := range r.extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// contacts returns the reply's Contact header values.
func contacts(res *sip.Response) []string {
	var out []string
	for _, h := range res.GetHeaders("Contact") {
		out = append(out, h.Value())
	}
	return out
}

func expiresOf(t *testing.T, contact string) string {
	t.Helper()
	for _, p := range strings.Split(contact, ";") {
		if v, ok := strings.CutPrefix(p, "expires="); ok {
			return v
		}
	}
	t.Fatalf("no expires in %q", contact)
	return ""
}
