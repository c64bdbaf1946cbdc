package registrar_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/locus-sip/locus/modules/registrar"
)

// 1. AoR from the To URI, canonical; domains not served get 404.
func TestAORCanonical(t *testing.T) {
	cases := []struct {
		name, to, want string
		caseSensitive  bool
	}{
		{"host lower-cased, port and params dropped", "sip:Alice@EXAMPLE.com:5070;transport=tcp", "sip:Alice@example.com", true},
		{"user folded when case-insensitive", "sip:Alice@Example.COM", "sip:alice@example.com", false},
		{"sips kept", "sips:bob@example.com", "sips:bob@example.com", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "", func(r *registrar.Registrar) { r.CaseSensitiveUser = tc.caseSensitive })
			res, _ := e.send(reg{to: tc.to, contacts: []string{"<sip:a@192.0.2.10:5060>"}}.String())
			if res.StatusCode != 200 {
				t.Fatalf("got %d %s", res.StatusCode, res.Reason)
			}
			if bs := e.bindings(tc.want); len(bs) != 1 || bs[0].AOR != tc.want {
				t.Fatalf("bindings under %s: %+v", tc.want, bs)
			}
		})
	}
	e := newEnv(t, "", nil)
	res, _ := e.send(reg{to: "sip:alice@other.example.net", contacts: []string{"<sip:a@192.0.2.10>"}}.String())
	if res.StatusCode != 404 {
		t.Fatalf("foreign domain: %d", res.StatusCode)
	}
	if bs := e.bindings("sip:alice@other.example.net"); len(bs) != 0 {
		t.Fatalf("foreign domain stored: %+v", bs)
	}
}

func TestAnyDomain(t *testing.T) {
	e := newEnv(t, "", nil)
	any := registrar.NewWithService(nil, []string{"*"}, nil)
	if !any.Serves("whatever.example.org") {
		t.Fatal(`"*" does not serve every domain`)
	}
	if e.reg.Serves("example.org") || !e.reg.Serves("EXAMPLE.COM") {
		t.Fatal("domain matching wrong")
	}
}

// 2. Require with an unsupported option tag → 420 with Unsupported.
func TestRequire(t *testing.T) {
	e := newEnv(t, "", nil)
	res, _ := e.send(reg{contacts: []string{"<sip:a@192.0.2.10>"}, extra: []string{"Require: path, foo, bar"}}.String())
	if res.StatusCode != 420 {
		t.Fatalf("got %d", res.StatusCode)
	}
	if h := res.GetHeader("Unsupported"); h == nil || h.Value() != "foo, bar" {
		t.Fatalf("Unsupported = %v", h)
	}
	res, _ = e.send(reg{contacts: []string{"<sip:a@192.0.2.10>"}, extra: []string{"Require: path"}, cseq: 2}.String())
	if res.StatusCode != 200 {
		t.Fatalf("Require: path refused: %d", res.StatusCode)
	}
}

// 3. Expiry: param, else header, else default; 0 removes; 423 or clamp
// below min; clamp above max; bad values 400.
func TestExpires(t *testing.T) {
	cases := []struct {
		name     string
		contact  string
		header   string
		mode     string
		code     int
		expires  string // in the 200's Contact
		minHdr   string
		noStored bool
	}{
		{"param wins over header", "<sip:a@192.0.2.10>;expires=120", "600", "reject", 200, "120", "", false},
		{"header", "<sip:a@192.0.2.10>", "600", "reject", 200, "600", "", false},
		{"default", "<sip:a@192.0.2.10>", "", "reject", 200, "3600", "", false},
		{"below min rejected", "<sip:a@192.0.2.10>;expires=30", "", "reject", 423, "", "60", true},
		{"below min clamped", "<sip:a@192.0.2.10>;expires=30", "", "clamp", 200, "60", "", false},
		{"above max clamped", "<sip:a@192.0.2.10>", "999999", "reject", 200, "86400", "", false},
		{"not a number", "<sip:a@192.0.2.10>;expires=soon", "", "reject", 400, "", "", true},
		{"negative", "<sip:a@192.0.2.10>", "-5", "reject", 400, "", "", true},
		{"overflow", "<sip:a@192.0.2.10>;expires=99999999999", "", "reject", 400, "", "", true},
		{"zero of a new contact stores nothing", "<sip:a@192.0.2.10>;expires=0", "", "reject", 200, "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "", func(r *registrar.Registrar) { r.MinExpiresMode = tc.mode })
			res, _ := e.send(reg{contacts: []string{tc.contact}, expires: tc.header}.String())
			if res.StatusCode != tc.code {
				t.Fatalf("got %d %s, want %d", res.StatusCode, res.Reason, tc.code)
			}
			if tc.minHdr != "" {
				if h := res.GetHeader("Min-Expires"); h == nil || h.Value() != tc.minHdr {
					t.Fatalf("Min-Expires = %v", h)
				}
			}
			bs := e.bindings("sip:alice@example.com")
			if tc.noStored {
				if len(bs) != 0 {
					t.Fatalf("stored: %+v", bs)
				}
				return
			}
			cs := contacts(res)
			if len(cs) != 1 || expiresOf(t, cs[0]) != tc.expires {
				t.Fatalf("200 contacts %v, want expires=%s", cs, tc.expires)
			}
			if len(bs) != 1 || bs[0].Remaining(e.clock.Now()) != mustAtoi(tc.expires) {
				t.Fatalf("stored %+v", bs)
			}
		})
	}
}

func mustAtoi(s string) int {
	var n int
	fmt.Sscanf(s, "%d", &n)
	return n
}

func TestExpiresZeroRemoves(t *testing.T) {
	e := newEnv(t, "", nil)
	e.send(reg{contacts: []string{"<sip:a@192.0.2.10>", "<sip:b@192.0.2.11>"}}.String())
	res, _ := e.send(reg{contacts: []string{"<sip:a@192.0.2.10>;expires=0"}, cseq: 2}.String())
	if res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	bs := e.bindings("sip:alice@example.com")
	if len(bs) != 1 || bs[0].Contact != "sip:b@192.0.2.11" {
		t.Fatalf("after removal: %+v", bs)
	}
	if cs := contacts(res); len(cs) != 1 || !strings.Contains(cs[0], "sip:b@192.0.2.11") {
		t.Fatalf("200 lists %v", cs)
	}
}

func TestExpiresRandomisation(t *testing.T) {
	e := newEnv(t, "", func(r *registrar.Registrar) { r.ExpiresRange = 50 })
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		res, _ := e.send(reg{callID: fmt.Sprintf("c%d", i), contacts: []string{fmt.Sprintf("<sip:a%d@192.0.2.10>;expires=1000", i)}}.String())
		for _, c := range contacts(res) {
			if strings.Contains(c, fmt.Sprintf("a%d@", i)) {
				v := mustAtoi(expiresOf(t, c))
				if v < 500 || v > 1000 {
					t.Fatalf("randomised expires %d outside [500,1000]", v)
				}
				seen[expiresOf(t, c)] = true
			}
		}
	}
	if len(seen) < 3 {
		t.Fatalf("expires_range=50 gave only %v", seen)
	}
}

// 4. Contact: * only alone and with Expires: 0.
func TestWildcard(t *testing.T) {
	e := newEnv(t, "", nil)
	e.send(reg{contacts: []string{"<sip:a@192.0.2.10>", "<sip:b@192.0.2.11>"}}.String())
	for _, bad := range []reg{
		{contacts: []string{"*"}, cseq: 2},
		{contacts: []string{"*"}, expires: "60", cseq: 2},
		{contacts: []string{"*", "<sip:c@192.0.2.12>"}, expires: "0", cseq: 2},
	} {
		res, _ := e.send(bad.String())
		if res.StatusCode != 400 {
			t.Fatalf("%v: got %d", bad.contacts, res.StatusCode)
		}
	}
	if n := len(e.bindings("sip:alice@example.com")); n != 2 {
		t.Fatalf("bad wildcard changed bindings: %d left", n)
	}
	res, _ := e.send(reg{contacts: []string{"*"}, expires: "0", cseq: 3}.String())
	if res.StatusCode != 200 || len(contacts(res)) != 0 {
		t.Fatalf("unregister all: %d %v", res.StatusCode, contacts(res))
	}
	if n := len(e.bindings("sip:alice@example.com")); n != 0 {
		t.Fatalf("%d bindings left", n)
	}
}

func TestWildcardOutOfOrder(t *testing.T) {
	e := newEnv(t, "", nil)
	e.send(reg{contacts: []string{"<sip:a@192.0.2.10>"}, cseq: 5}.String())
	res, _ := e.send(reg{contacts: []string{"*"}, expires: "0", cseq: 4}.String())
	if res.StatusCode != 500 || len(e.bindings("sip:alice@example.com")) != 1 {
		t.Fatalf("older * accepted: %d", res.StatusCode)
	}
}

// 5. Call-ID/CSeq ordering.
func TestCallIDCSeq(t *testing.T) {
	e := newEnv(t, "", nil)
	aor := "sip:alice@example.com"
	e.send(reg{contacts: []string{"<sip:a@192.0.2.10>;expires=600"}, cseq: 10}.String())
	before := e.bindings(aor)[0]

	res, _ := e.send(reg{contacts: []string{"<sip:a@192.0.2.10>;expires=900"}, cseq: 9}.String())
	if res.StatusCode != 500 {
		t.Fatalf("lower CSeq: got %d", res.StatusCode)
	}
	if after := e.bindings(aor)[0]; after.CSeq != 10 || !after.Expires.Equal(before.Expires) {
		t.Fatalf("lower CSeq touched the binding: %+v", after)
	}

	e.clock.Advance(5 * time.Second)
	res, _ = e.send(reg{contacts: []string{"<sip:a@192.0.2.10>;expires=900"}, cseq: 10}.String())
	if res.StatusCode != 200 || len(contacts(res)) != 1 {
		t.Fatalf("retransmission: got %d %v", res.StatusCode, contacts(res))
	}
	if after := e.bindings(aor)[0]; !after.Expires.Equal(before.Expires) {
		t.Fatal("retransmission changed the binding")
	}

	e.clock.Advance(30 * time.Second)
	res, _ = e.send(reg{contacts: []string{"<sip:a@192.0.2.10>;expires=900"}, cseq: 10}.String())
	if res.StatusCode != 500 {
		t.Fatalf("same CSeq after cseq_delay: got %d", res.StatusCode)
	}

	res, _ = e.send(reg{callID: "other-call", contacts: []string{"<sip:a@192.0.2.10>;expires=900"}, cseq: 1}.String())
	if res.StatusCode != 200 {
		t.Fatalf("new Call-ID: got %d", res.StatusCode)
	}
	after := e.bindings(aor)
	if len(after) != 1 || after[0].CallID != "other-call" || after[0].CSeq != 1 || after[0].RUID != before.RUID {
		t.Fatalf("new Call-ID did not update in place: %+v", after)
	}
}

// 6. Contact matching by URI equality and by instance.
func TestContactMatching(t *testing.T) {
	e := newEnv(t, "", nil)
	aor := "sip:alice@example.com"
	e.send(reg{contacts: []string{"<sip:a@Host.Example.com:5060;transport=udp>"}, cseq: 1}.String())
	e.send(reg{contacts: []string{"<sip:a@host.example.com:5060;transport=UDP;ob>"}, cseq: 2}.String())
	if n := len(e.bindings(aor)); n != 1 {
		t.Fatalf("equal URIs made %d bindings", n)
	}
	e.send(reg{contacts: []string{"<sip:a@host.example.com;transport=udp>"}, cseq: 3}.String())
	if n := len(e.bindings(aor)); n != 2 {
		t.Fatalf("absent port matched explicit 5060: %d bindings", n)
	}
	e.send(reg{contacts: []string{"<sip:A@host.example.com:5060;transport=udp>"}, cseq: 4}.String())
	if n := len(e.bindings(aor)); n != 3 {
		t.Fatalf("user part compared case-insensitively: %d bindings", n)
	}

	e2 := newEnv(t, "", nil)
	inst := `+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1`
	e2.send(reg{contacts: []string{"<sip:a@192.0.2.10:5060>;" + inst}, cseq: 1}.String())
	res, _ := e2.send(reg{contacts: []string{"<sip:a@198.51.100.7:40000>;" + inst}, cseq: 2,
		extra: []string{"Supported: outbound, path"}}.String())
	bs := e2.bindings(aor)
	if len(bs) != 1 || bs[0].Contact != "sip:a@198.51.100.7:40000" || bs[0].Instance != "urn:uuid:00000000-0000-1000-8000-000A95A0E128" || bs[0].RegID != 1 {
		t.Fatalf("instance matching: %+v", bs)
	}
	if h := res.GetHeader("Require"); h == nil || h.Value() != "outbound" {
		t.Fatalf("outbound registration without Require: outbound: %v", h)
	}
	if cs := contacts(res); len(cs) != 1 || !strings.Contains(cs[0], `+sip.instance="<urn:uuid:`) || !strings.Contains(cs[0], "reg-id=1") {
		t.Fatalf("200 contacts %v", cs)
	}
	e2.send(reg{contacts: []string{"<sip:a@198.51.100.7:40001>;" + strings.Replace(inst, "reg-id=1", "reg-id=2", 1)}, cseq: 3}.String())
	if n := len(e2.bindings(aor)); n != 2 {
		t.Fatalf("another reg-id (a second flow) should add a binding: %d", n)
	}
}

// 7. No Contact: a query.
func TestQuery(t *testing.T) {
	e := newEnv(t, `
function ksr_request_route()
	local rc = KSR.registrar.save("location", 0x02)
	if rc ~= 4 and KSR.is_REGISTER() and rc ~= 1 then error("rc " .. rc) end
	KSR.registrar.reg_send_reply()
end`, nil)
	e.send(reg{contacts: []string{"<sip:a@192.0.2.10>", "<sip:b@192.0.2.11>;q=0.5"}}.String())
	before := e.bindings("sip:alice@example.com")
	e.clock.Advance(10 * time.Second)
	res, _ := e.send(reg{cseq: 2}.String())
	if res.StatusCode != 200 {
		t.Fatalf("query: %d", res.StatusCode)
	}
	cs := contacts(res)
	if len(cs) != 2 || !strings.Contains(strings.Join(cs, " "), "q=0.5") {
		t.Fatalf("query lists %v", cs)
	}
	for _, c := range cs {
		if expiresOf(t, c) != "3590" {
			t.Fatalf("remaining expiry not reported: %s", c)
		}
	}
	after := e.bindings("sip:alice@example.com")
	if len(after) != 2 || after[0].CSeq != before[0].CSeq || !after[0].Modified.Equal(before[0].Modified) {
		t.Fatalf("query changed bindings: %+v", after)
	}
}

// 8. The 200 lists bindings with expires and q, has Date, echoes Path, Supported.
func TestOKReply(t *testing.T) {
	e := newEnv(t, "", nil)
	res, _ := e.send(reg{contacts: []string{"<sip:a@192.0.2.10>;q=0.7", "<sip:b@192.0.2.11>;expires=300"},
		extra: []string{"Path: <sip:edge1.example.com;lr>", "Path: <sip:edge2.example.com;lr>", "Supported: path"}}.String())
	if res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	cs := contacts(res)
	if len(cs) != 2 || cs[0] != "<sip:a@192.0.2.10>;expires=3600;q=0.7" || cs[1] != "<sip:b@192.0.2.11>;expires=300" {
		t.Fatalf("contacts %q", cs)
	}
	d := res.GetHeader("Date")
	if d == nil {
		t.Fatal("no Date")
	}
	if got, err := time.Parse(registrar.DateFormat, d.Value()); err != nil || !got.Equal(e.clock.Now()) {
		t.Fatalf("Date %q: %v", d.Value(), err)
	}
	var paths []string
	for _, h := range res.GetHeaders("Path") {
		paths = append(paths, h.Value())
	}
	if strings.Join(paths, ",") != "<sip:edge1.example.com;lr>,<sip:edge2.example.com;lr>" {
		t.Fatalf("Path echoed as %v", paths)
	}
	if s := res.GetHeader("Supported"); s == nil || !strings.Contains(s.Value(), "path") {
		t.Fatalf("Supported = %v", s)
	}
	if bs := e.bindings("sip:alice@example.com"); len(bs[0].Path) != 2 {
		t.Fatalf("Path not stored: %+v", bs[0].Path)
	}
}

// 9. max_contacts: 503 by default, or evict the oldest.
func TestMaxContacts(t *testing.T) {
	e := newEnv(t, "", func(r *registrar.Registrar) { r.MaxContacts = 2 })
	e.send(reg{callID: "c1", contacts: []string{"<sip:a@192.0.2.10>"}}.String())
	e.clock.Advance(time.Second)
	e.send(reg{callID: "c2", contacts: []string{"<sip:b@192.0.2.11>"}}.String())
	res, _ := e.send(reg{callID: "c3", contacts: []string{"<sip:c@192.0.2.12>"}}.String())
	if res.StatusCode != 503 || len(e.bindings("sip:alice@example.com")) != 2 {
		t.Fatalf("over the limit: %d %s", res.StatusCode, res.Reason)
	}
	// A refresh of an existing binding is never refused.
	res, _ = e.send(reg{callID: "c1", cseq: 2, contacts: []string{"<sip:a@192.0.2.10>"}}.String())
	if res.StatusCode != 200 {
		t.Fatalf("refresh at the limit: %d", res.StatusCode)
	}

	e = newEnv(t, "", func(r *registrar.Registrar) { r.MaxContacts = 2; r.MaxContactsMode = "evict_oldest" })
	e.send(reg{callID: "c1", contacts: []string{"<sip:a@192.0.2.10>"}}.String())
	e.clock.Advance(time.Second)
	e.send(reg{callID: "c2", contacts: []string{"<sip:b@192.0.2.11>"}}.String())
	e.clock.Advance(time.Second)
	res, _ = e.send(reg{callID: "c3", contacts: []string{"<sip:c@192.0.2.12>"}}.String())
	bs := e.bindings("sip:alice@example.com")
	if res.StatusCode != 200 || len(bs) != 2 {
		t.Fatalf("evict: %d, %d bindings", res.StatusCode, len(bs))
	}
	for _, b := range bs {
		if b.Contact == "sip:a@192.0.2.10" {
			t.Fatal("the oldest binding survived")
		}
	}
}

// 10. Every binding field is stored.
func TestBindingFields(t *testing.T) {
	e := newEnv(t, "", nil)
	_, _ = e.send(reg{
		via:      "SIP/2.0/UDP 10.0.0.5:5060",
		callID:   "fields@x",
		cseq:     42,
		contacts: []string{`<sip:a@10.0.0.5:5060>;q=0.3;+sip.instance="<urn:uuid:1>";reg-id=7;expires=100`},
		extra:    []string{"User-Agent: Phone/1.0", "Path: <sip:edge.example.com;lr>", "Allow: INVITE, MESSAGE"},
	}.String())
	bs := e.bindings("sip:alice@example.com")
	if len(bs) != 1 {
		t.Fatalf("%d bindings", len(bs))
	}
	b := bs[0]
	now := e.clock.Now()
	checks := []struct {
		name string
		ok   bool
	}{
		{"aor", b.AOR == "sip:alice@example.com"},
		{"contact", b.Contact == "sip:a@10.0.0.5:5060"},
		{"expires", b.Expires.Equal(now.Add(100 * time.Second))},
		{"q", b.Q == 300},
		{"call-id", b.CallID == "fields@x"},
		{"cseq", b.CSeq == 42},
		{"received", b.Received == "udp:192.0.2.10:5060"},
		{"path", len(b.Path) == 1 && b.Path[0] == "<sip:edge.example.com;lr>"},
		{"instance", b.Instance == "urn:uuid:1"},
		{"reg-id", b.RegID == 7},
		{"user agent", b.UserAgent == "Phone/1.0"},
		{"methods", b.Methods == "INVITE,MESSAGE"},
		{"modified", b.Modified.Equal(now)},
		{"ruid", b.RUID != ""},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s not stored: %+v", c.name, b)
		}
	}
}

// 11. Expired bindings are never returned.
func TestExpiredNotReturned(t *testing.T) {
	e := newEnv(t, "", nil)
	e.send(reg{contacts: []string{"<sip:a@192.0.2.10>;expires=60", "<sip:b@192.0.2.11>;expires=120"}}.String())
	e.clock.Advance(61 * time.Second)
	bs := e.bindings("sip:alice@example.com")
	if len(bs) != 1 || bs[0].Contact != "sip:b@192.0.2.11" {
		t.Fatalf("after 61 s: %+v", bs)
	}
	res, _ := e.send(reg{cseq: 2}.String())
	if cs := contacts(res); len(cs) != 1 || expiresOf(t, cs[0]) != "59" {
		t.Fatalf("query after expiry lists %v", cs)
	}
}

// 12. Concurrent REGISTERs for one AoR lose no binding.
func TestConcurrentSave(t *testing.T) {
	e := newEnv(t, "", nil)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				res, _ := e.send(reg{callID: fmt.Sprintf("g%d-%d", g, i),
					contacts: []string{fmt.Sprintf("<sip:dev%d-%d@192.0.2.10>", g, i)}}.String())
				if res.StatusCode != 200 {
					t.Errorf("got %d", res.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	if n := len(e.bindings("sip:alice@example.com")); n != 200 {
		t.Fatalf("%d bindings, want 200", n)
	}
}

func TestSaveReturnCodes(t *testing.T) {
	// With flag 0x02 save does not reply, so the script can report the code.
	e := newEnv(t, `
function ksr_request_route()
	local rc = KSR.registrar.save("location", 2)
	KSR.sl.send_reply(200, "rc=" .. rc)
end`, func(r *registrar.Registrar) { r.MaxContacts = 1 })
	steps := []struct {
		r    reg
		want string
	}{
		{reg{contacts: []string{"<sip:a@192.0.2.10>"}}, "rc=1"},
		{reg{contacts: []string{"<sip:a@192.0.2.10>"}, cseq: 2}, "rc=2"},
		{reg{cseq: 3}, "rc=4"},
		{reg{contacts: []string{"<sip:b@192.0.2.10>"}, cseq: 4}, "rc=-2"},
		{reg{contacts: []string{"<sip:a@192.0.2.10>;expires=0"}, cseq: 5}, "rc=3"},
		{reg{contacts: []string{"<sip:a@192.0.2.10>;expires=x"}, cseq: 6}, "rc=-1"},
	}
	for _, s := range steps {
		res, _ := e.send(s.r.String())
		if res.Reason != s.want {
			t.Fatalf("%v: got %q, want %q", s.r.contacts, res.Reason, s.want)
		}
	}
}

// Every store must be able to keep what save stores: text that is not
// valid UTF-8 is refused (URIs, Call-ID) or cleaned (User-Agent).
func TestStorableText(t *testing.T) {
	e := newEnv(t, "", nil)
	res, _ := e.send(reg{contacts: []string{"<sip:a@192.0.2.10>"}, extra: []string{"User-Agent: Phone\xe9\xff/1.0"}}.String())
	if res.StatusCode != 200 {
		t.Fatalf("Latin-1 User-Agent refused: %d", res.StatusCode)
	}
	if bs := e.bindings("sip:alice@example.com"); len(bs) != 1 || bs[0].UserAgent != "Phone?/1.0" {
		t.Fatalf("User-Agent stored as %q", bs[0].UserAgent)
	}
	res, _ = e.send(reg{callID: "bad\xff", contacts: []string{"<sip:b@192.0.2.10>"}}.String())
	if res.StatusCode != 400 {
		t.Fatalf("invalid Call-ID: %d", res.StatusCode)
	}
}

// TestRefreshRemoveAdd sends one REGISTER that refreshes a binding, removes
// another, leaves a third alone and adds a fourth: the bindings are
// updated in place and compacted, the new one goes last.
func TestRefreshRemoveAdd(t *testing.T) {
	e := newEnv(t, "", nil)
	const aor = "sip:alice@example.com"
	e.send(reg{callID: "c1", cseq: 1, contacts: []string{"<sip:a@192.0.2.10>", "<sip:b@192.0.2.11>", "<sip:c@192.0.2.12>"}}.String())
	before := e.bindings(aor)
	if len(before) != 3 {
		t.Fatalf("%d bindings, want 3", len(before))
	}
	e.clock.Advance(10 * time.Second)
	res, _ := e.send(reg{callID: "c1", cseq: 2, contacts: []string{
		"<sip:b@192.0.2.11>;expires=0", "<sip:d@192.0.2.13>;expires=300", "<sip:A@192.0.2.10>", "<sip:a@192.0.2.10>;expires=600",
	}}.String())
	if res.StatusCode != 200 {
		t.Fatalf("reply %d %s", res.StatusCode, res.Reason)
	}
	now := e.clock.Now()
	bs := e.bindings(aor)
	var got []string
	for _, b := range bs {
		got = append(got, b.Contact)
	}
	// The user part is case-sensitive: sip:A@ is a new binding, added in
	// contact order after sip:d@.
	if strings.Join(got, " ") != "sip:a@192.0.2.10 sip:c@192.0.2.12 sip:d@192.0.2.13 sip:A@192.0.2.10" {
		t.Fatalf("bindings %v", got)
	}
	a, c, d, upper := bs[0], bs[1], bs[2], bs[3]
	if a.RUID != before[0].RUID || a.CSeq != 2 || !a.Expires.Equal(now.Add(600*time.Second)) || !a.Modified.Equal(now) {
		t.Errorf("refreshed binding %+v", a)
	}
	if c.RUID != before[2].RUID || c.CSeq != 1 || !c.Expires.Equal(before[2].Expires) || !c.Modified.Equal(before[2].Modified) {
		t.Errorf("untouched binding changed: %+v, was %+v", c, before[2])
	}
	if upper.RUID == a.RUID || d.RUID == a.RUID || upper.RUID == d.RUID || upper.RUID == c.RUID ||
		!d.Expires.Equal(now.Add(300*time.Second)) || d.CSeq != 2 {
		t.Errorf("new bindings %+v %+v", d, upper)
	}
	if cs := contacts(res); len(cs) != 4 || expiresOf(t, cs[0]) != "600" || expiresOf(t, cs[1]) != "3590" || expiresOf(t, cs[2]) != "300" || expiresOf(t, cs[3]) != "3600" {
		t.Errorf("200 contacts %v", cs)
	}
}
