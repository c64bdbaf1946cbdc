package registrar_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/registrar"
	"github.com/locus-sip/locus/modules/usrloc"
)

const invite = `INVITE sip:alice@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bK-inv
Max-Forwards: 70
From: <sip:bob@example.com>;tag=b1
To: <sip:alice@example.com>
Call-ID: inv-1
CSeq: 1 INVITE
Contact: <sip:bob@192.0.2.99>
Content-Length: 0

`

func TestLookupBestContactAndBranches(t *testing.T) {
	e := newEnv(t, "", nil)
	e.send(reg{callID: "c1", contacts: []string{"<sip:low@192.0.2.10>;q=0.2"}}.String())
	e.clock.Advance(time.Second)
	e.send(reg{callID: "c2", contacts: []string{"<sip:old@192.0.2.10>"}}.String())
	e.clock.Advance(time.Second)
	e.send(reg{callID: "c3", contacts: []string{"<sip:new@192.0.2.10>"}}.String())
	res, _ := e.send(invite)
	if res.StatusCode != 299 {
		t.Fatalf("lookup: %d %s", res.StatusCode, res.Reason)
	}
	want := "sip:new@192.0.2.10 du= branch=sip:old@192.0.2.10 branch=sip:low@192.0.2.10"
	if res.Reason != want {
		t.Fatalf("target %q\nwant   %q", res.Reason, want)
	}
}

func TestLookupNotFoundAndMethods(t *testing.T) {
	e := newEnv(t, "", nil)
	res, _ := e.send(invite)
	if res.StatusCode != 404 || res.Reason != "lookup -1" {
		t.Fatalf("unknown AoR: %d %s", res.StatusCode, res.Reason)
	}
	e.send(reg{contacts: []string{`<sip:a@192.0.2.10>;methods="MESSAGE"`}}.String())
	res, _ = e.send(invite)
	if res.Reason != "lookup -2" {
		t.Fatalf("method not allowed: %d %s", res.StatusCode, res.Reason)
	}
	msg := strings.NewReplacer("INVITE sip", "MESSAGE sip", "1 INVITE", "1 MESSAGE").Replace(invite)
	if res, _ = e.send(msg); res.StatusCode != 299 {
		t.Fatalf("allowed method: %d %s", res.StatusCode, res.Reason)
	}
}

func TestLookupNATAndPath(t *testing.T) {
	e := newEnv(t, "", nil)
	// The phone says 10.0.0.5, the packet came from 192.0.2.10:5060.
	e.send(reg{callID: "nat", contacts: []string{"<sip:a@10.0.0.5:5060>"}}.String())
	res, _ := e.send(invite)
	if res.Reason != "sip:a@10.0.0.5:5060 du=sip:192.0.2.10:5060;transport=udp" {
		t.Fatalf("NAT target %q", res.Reason)
	}
	e2 := newEnv(t, "", nil)
	e2.send(reg{callID: "direct", contacts: []string{"<sip:a@192.0.2.10:5060>"}}.String())
	if res, _ := e2.send(invite); res.Reason != "sip:a@192.0.2.10:5060 du=" {
		t.Fatalf("direct target %q", res.Reason)
	}
	// The Via names a private address the packet did not come from: NAT,
	// even though the contact looks public.
	e4 := newEnv(t, "", nil)
	e4.send(reg{callID: "via-nat", via: "SIP/2.0/UDP 192.168.1.5:5060", contacts: []string{"<sip:a@198.51.100.9:5060>"}}.String())
	if res, _ := e4.send(invite); res.Reason != "sip:a@198.51.100.9:5060 du=sip:192.0.2.10:5060;transport=udp" {
		t.Fatalf("Via NAT target %q", res.Reason)
	}
	// No NAT: the device registers for another of its own ports.
	e5 := newEnv(t, "", nil)
	e5.send(reg{callID: "other-port", contacts: []string{"<sip:a@192.0.2.10:5070>"}}.String())
	if res, _ := e5.send(invite); res.Reason != "sip:a@192.0.2.10:5070 du=" {
		t.Fatalf("other-port target %q", res.Reason)
	}
	e3 := newEnv(t, "", nil)
	e3.send(reg{callID: "path", contacts: []string{"<sip:a@10.0.0.5>"}, extra: []string{"Path: <sip:edge.example.com;lr>"}}.String())
	if res, _ := e3.send(invite); res.Reason != "sip:a@10.0.0.5 du=sip:edge.example.com;lr" {
		t.Fatalf("path target %q", res.Reason)
	}
}

func TestRegisteredUnregisterFetch(t *testing.T) {
	e := newEnv(t, "", nil)
	e.send(reg{callID: "c1", contacts: []string{"<sip:a@192.0.2.10>", "<sip:b@192.0.2.11>"}}.String())
	ctx := context.Background()
	m, _ := coretest.Msg(t, invite)
	if ok, err := e.reg.Registered(ctx, m, "location", ""); !ok || err != nil {
		t.Fatalf("registered: %v %v", ok, err)
	}
	n, err := e.reg.FetchContacts(ctx, m, "location", "alice@example.com", "p")
	if err != nil || n != 2 {
		t.Fatalf("fetch: %d %v", n, err)
	}
	ulc := e.reg.PVClasses()["ulc"]
	if ulc(m, "p=>count", 0) != 2 || ulc(m, "p=>aor", 0) != "sip:alice@example.com" {
		t.Fatalf("$ulc count/aor: %v %v", ulc(m, "p=>count", 0), ulc(m, "p=>aor", 0))
	}
	if ulc(m, "p=>addr", 1) != "sip:b@192.0.2.11" || ulc(m, "p=>expires", 0) != 3600 || ulc(m, "p=>addr", 2) != nil {
		t.Fatalf("$ulc addr: %v %v", ulc(m, "p=>addr", 1), ulc(m, "p=>expires", 0))
	}
	ruid, _ := ulc(m, "p=>ruid", 0).(string)
	if _, err := e.reg.Unregister(ctx, "location", "sip:alice@example.com", ruid); err != nil {
		t.Fatal(err)
	}
	if bs := e.bindings("sip:alice@example.com"); len(bs) != 1 || bs[0].RUID == ruid {
		t.Fatalf("unregister by ruid: %+v", bs)
	}
	if _, err := e.reg.Unregister(ctx, "location", "sip:alice@example.com", "nope"); err != registrar.ErrNoBinding {
		t.Fatalf("unknown ruid: %v", err)
	}
	if _, err := e.reg.Unregister(ctx, "location", "sip:alice@example.com", ""); err != nil {
		t.Fatal(err)
	}
	if ok, _ := e.reg.Registered(ctx, m, "location", "sip:alice@example.com"); ok {
		t.Fatal("still registered after unregister")
	}
}

func TestExpiryEvent(t *testing.T) {
	e := newEnv(t, `
function ksr_request_route()
	KSR.registrar.save("location")
end
function ksr_registrar_event(ev)
	if ev ~= "usrloc:contact-expired" then error("event " .. ev) end
	KSR.t.record(ev)
end`, nil)
	e.reg.WatchExpiry(e.ul, func() core.ScriptCaller { return e.rt })
	e.send(reg{contacts: []string{"<sip:a@192.0.2.10>;expires=60"}}.String())
	var got []string
	e.ul.OnExpired(func(x usrloc.Expired) { got = append(got, x.Table+" "+x.Contact) })
	e.clock.Advance(59 * time.Second)
	if n, err := e.ul.Sweep(context.Background()); err != nil || n != 0 {
		t.Fatalf("early sweep removed %d (%v)", n, err)
	}
	e.clock.Advance(2 * time.Second)
	if n, err := e.ul.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("sweep removed %d (%v)", n, err)
	}
	if len(got) != 1 || got[0] != "location sip:a@192.0.2.10" {
		t.Fatalf("expired callback: %v", got)
	}
	if len(e.events) != 1 || e.events[0] != "usrloc:contact-expired sip:alice@example.com sip:a@192.0.2.10" {
		t.Fatalf("event route saw %q", e.events)
	}
}
