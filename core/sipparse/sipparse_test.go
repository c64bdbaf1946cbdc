package sipparse

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// TestSeedsMatchSipgo runs every seed through the differential check, and
// requires the realistic ones (the first seventeen) to take the fast path:
// otherwise the benchmarks would measure sipgo.
func TestSeedsMatchSipgo(t *testing.T) {
	const realistic = 17
	for i, s := range seeds {
		fast := checkSame(t, []byte(s))
		if i < realistic && !fast {
			t.Errorf("seed %d fell back to sipgo:\n%s", i, s)
		}
	}
}

func TestFallback(t *testing.T) {
	base := registerPhone
	tests := []struct {
		name string
		data string
	}{
		{"folded header", strings.Replace(base, "Max-Forwards: 70", "Max-Forwards:\r\n 70", 1)},
		{"escaped quote in display name", strings.Replace(base, "From: <sip:", `From: "a \"b\"" <sip:`, 1)},
		{"LF line ends", strings.ReplaceAll(base, "\r\n", "\n")},
		{"lower-case method", strings.Replace(base, "REGISTER sip:", "register sip:", 1)},
		{"URI headers", strings.Replace(base, "REGISTER sip:example.com", "REGISTER sip:example.com?Subject=x", 1)},
		{"space before header parameters", strings.Replace(base, ">;tag=8a1c3f52", "> ;tag=8a1c3f52", 1)},
		{"empty URI parameter", strings.Replace(base, ";transport=udp>", ";;transport=udp>", 1)},
		{"quoted Via parameter", strings.Replace(base, ";rport;", `;x="y";`, 1)},
		{"NUL in a value", strings.Replace(base, "Yealink", "Yea\x00link", 1)},
		{"version other than 2.0", strings.Replace(base, "SIP/2.0\r\n", "SIP/3.0\r\n", 1)},
		{"Content-Length past the end", strings.Replace(base, "Content-Length: 0", "Content-Length: 10", 1)},
		{"no empty line", strings.TrimSuffix(base, "\r\n")},
		{"Via without parameters before a comma", strings.Replace(base, "Max-Forwards: 70", "Via: SIP/2.0/UDP a:5060, SIP/2.0/UDP b;branch=z9hG4bK2", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if parseFast([]byte(tt.data)) != nil {
				t.Fatalf("the fast path took it")
			}
			checkSame(t, []byte(tt.data))
		})
	}
}

func TestParseRegister(t *testing.T) {
	req, err := ParseRequest([]byte(registerPhone))
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != sip.REGISTER || req.Recipient.Host != "example.com" || req.Recipient.Scheme != "sip" {
		t.Errorf("request line: %s %#v", req.Method, req.Recipient)
	}
	via := req.Via()
	if via.Transport != "UDP" || via.Host != "192.0.2.10" || via.Port != 5060 {
		t.Errorf("Via %+v", via)
	}
	if v, ok := via.Params.Get("rport"); !ok || v != "" {
		t.Errorf("Via rport %q %v", v, ok)
	}
	if v, _ := via.Params.Get("branch"); v != "z9hG4bK-524287-1---4b6c2a8e1f3d9a07" {
		t.Errorf("Via branch %q", v)
	}
	if tag, _ := req.From().Params.Get("tag"); tag != "8a1c3f52" || req.From().Address.User != "1001" {
		t.Errorf("From %+v", req.From())
	}
	if req.To().Params != nil || req.To().Address.Host != "example.com" {
		t.Errorf("To %+v", req.To())
	}
	if req.CallID().Value() != "5b7c9e2f41d84a6c@192.0.2.10" {
		t.Errorf("Call-ID %q", req.CallID().Value())
	}
	if cs := req.CSeq(); cs.SeqNo != 2 || cs.MethodName != sip.REGISTER {
		t.Errorf("CSeq %+v", cs)
	}
	if mf := req.MaxForwards(); mf == nil || mf.Val() != 70 {
		t.Errorf("Max-Forwards %v", mf)
	}
	if cl := req.ContentLength(); cl == nil || *cl != 0 || req.Body() != nil {
		t.Errorf("Content-Length %v, body %q", cl, req.Body())
	}
	c := req.Contact()
	if c.Address.Port != 5060 || c.Address.UriParams.GetOr("transport", "") != "udp" {
		t.Errorf("Contact URI %#v", c.Address)
	}
	if v, _ := c.Params.Get("+sip.instance"); v != `"<urn:uuid:00000000-0000-1000-8000-0004f2a1b2c3>"` {
		t.Errorf("+sip.instance %q: sipgo keeps the quotes", v)
	}
	if c.Params.GetOr("reg-id", "") != "1" || c.Params.GetOr("expires", "") != "3600" {
		t.Errorf("Contact params %v", c.Params)
	}
	if h := req.GetHeader("expires"); h == nil || h.Name() != "Expires" || h.Value() != "3600" {
		t.Errorf("Expires %v", h)
	}
	if h := req.GetHeader("Supported"); h == nil || h.Value() != "path, gruu, outbound" {
		t.Errorf("Supported %v", h)
	}
}

func TestParseContacts(t *testing.T) {
	req, err := ParseRequest([]byte(seeds[2]))
	if err != nil {
		t.Fatal(err)
	}
	if parseFast([]byte(seeds[2])) == nil {
		t.Fatal("fell back")
	}
	cs := req.GetHeaders("Contact")
	if len(cs) != 3 {
		t.Fatalf("%d Contacts, want 3", len(cs))
	}
	second := cs[1].(*sip.ContactHeader)
	if second.DisplayName != "Alice Mobile" || second.Params.GetOr("q", "") != "0.1" {
		t.Errorf("second Contact %+v", second)
	}
	if third := cs[2].(*sip.ContactHeader); third.Address.Scheme != "sips" || !third.Address.UriParams.Has("ob") {
		t.Errorf("third Contact %#v", third.Address)
	}
	if req.Contact() != cs[2] {
		t.Error("Contact() is not the last Contact, as with sipgo")
	}
	if v := req.Via(); v.Host != "2001:db8::10" || v.Transport != "TCP" {
		t.Errorf("IPv6 Via %+v", v)
	}
	if h := req.GetHeader("k"); h == nil || h.Name() != "k" {
		t.Errorf("compact Supported stays generic, named as written: %v", h)
	}

	star, err := ParseRequest([]byte(seeds[3]))
	if err != nil {
		t.Fatal(err)
	}
	if c := star.Contact(); !c.Address.Wildcard || c.Value() != "*" {
		t.Errorf("Contact: * parsed as %#v", c)
	}
}

func TestFirstViaAndRoute(t *testing.T) {
	req, err := ParseRequest([]byte(seeds[6])) // ACK with two Vias and two Routes, comma-separated
	if err != nil {
		t.Fatal(err)
	}
	vias, routes := req.GetHeaders("Via"), req.GetHeaders("Route")
	if len(vias) != 2 || len(routes) != 2 {
		t.Fatalf("%d Vias, %d Routes", len(vias), len(routes))
	}
	if req.Via() != vias[0] || req.Route() != routes[0] {
		t.Error("Via() and Route() must return the first, as with sipgo")
	}
	if req.Route().Address.Host != "p1.example.com" || !req.Route().Address.UriParams.Has("lr") {
		t.Errorf("Route %#v", req.Route().Address)
	}
}

func TestParseInviteBody(t *testing.T) {
	data := []byte(inviteSDP)
	req, err := ParseRequest(data)
	if err != nil {
		t.Fatal(err)
	}
	if string(req.Body()) != sdp {
		t.Errorf("body %q", req.Body())
	}
	// The datagram buffer is reused for the next one.
	for i := range data {
		data[i] = 0
	}
	if string(req.Body()) != sdp || req.CallID().Value() != "3848276298220188511@192.0.2.20" {
		t.Error("the message refers to the input buffer")
	}
	if req.From().DisplayName != "Alice Liddell" || req.To().DisplayName != "Bob" {
		t.Errorf("display names %q %q", req.From().DisplayName, req.To().DisplayName)
	}
	if ct := req.ContentType(); ct == nil || ct.Value() != "application/sdp" {
		t.Errorf("Content-Type %v", ct)
	}
}

// TestParamsIndependent checks that headers sharing the parameter storage
// do not see each other's additions.
func TestParamsIndependent(t *testing.T) {
	req, err := ParseRequest([]byte(registerPhone))
	if err != nil {
		t.Fatal(err)
	}
	from := req.From().Value()
	contact := req.Contact().Value()
	req.Via().Params.Add("received", "203.0.113.1")
	req.Recipient.UriParams.Add("x", "y")
	req.To().Params.Add("tag", "z")
	if req.From().Value() != from || req.Contact().Value() != contact {
		t.Errorf("adding parameters changed other headers:\n%s\n%s", req.From().Value(), req.Contact().Value())
	}
	if req.Via().Params.GetOr("received", "") != "203.0.113.1" {
		t.Error("Via parameter not added")
	}
}

func TestParseResponse(t *testing.T) {
	res, err := ParseResponse([]byte(seeds[10]))
	if err != nil {
		t.Fatal(err)
	}
	if parseFast([]byte(seeds[10])) == nil {
		t.Fatal("fell back")
	}
	if res.StatusCode != 200 || res.Reason != "OK" || len(res.GetHeaders("Contact")) != 2 {
		t.Errorf("%d %q, %d Contacts", res.StatusCode, res.Reason, len(res.GetHeaders("Contact")))
	}
	if _, err := ParseRequest([]byte(seeds[10])); !errors.Is(err, ErrNotRequest) {
		t.Errorf("ParseRequest on a response: %v", err)
	}
	if _, err := ParseResponse([]byte(registerPhone)); !errors.Is(err, ErrNotResponse) {
		t.Errorf("ParseResponse on a request: %v", err)
	}
	if _, err := ParseRequest([]byte("junk\r\n\r\n")); err == nil {
		t.Error("junk parsed")
	}
}

// TestHeaderEnd compares the word-at-a-time scan with a byte loop.
func TestHeaderEnd(t *testing.T) {
	naive := func(b []byte) int {
		for i := 0; i < len(b); i++ {
			c := b[i]
			switch {
			case c >= 0x20 && c != 0x7f || c == '\t':
			case c == '\r' && i+1 < len(b) && b[i+1] == '\n':
				if i+3 < len(b) && b[i+2] == '\r' && b[i+3] == '\n' {
					return i
				}
				if i+2 < len(b) && (b[i+2] == ' ' || b[i+2] == '\t') {
					return -1
				}
				i++
			default:
				return -1
			}
		}
		return -1
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab \t\r\n\r\n\r\n\x00\x1f\x7f\x80\xff~")
	buf := make([]byte, 64)
	for n := 0; n < 200000; n++ {
		b := buf[:rng.IntN(len(buf))]
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if got, want := headerEnd(b), naive(b); got != want {
			t.Fatalf("headerEnd(%q) = %d, want %d", b, got, want)
		}
	}
	for c := 0; c < 256; c++ {
		b := bytes.Repeat([]byte("x"), 20)
		b = append(b, "\r\n\r\n"...)
		for pos := 0; pos < 20; pos++ {
			b[pos] = byte(c)
			if got, want := headerEnd(b), naive(b); got != want {
				t.Fatalf("headerEnd(%q) = %d, want %d", b, got, want)
			}
			b[pos] = 'x'
		}
	}
}

// TestOverflow covers messages with more headers and parameters than the
// fast path keeps in place: they must still take it, and match sipgo.
func TestOverflow(t *testing.T) {
	data := []byte(bigRegister())
	if !checkSame(t, data) {
		t.Fatal("fell back")
	}
	req, _ := ParseRequest(data)
	if n := len(req.Headers()); n != 5+4+40+20+4+5 {
		t.Errorf("%d headers", n)
	}
	if req.Via().Host != "192.0.2.0" || req.From().Address.User != "second" || req.MaxForwards().Val() != 2 {
		t.Errorf("accessors: Via %s, From %s, Max-Forwards %d", req.Via().Host, req.From().Address.User, req.MaxForwards().Val())
	}
	if r := req.RecordRoute(); r.Address.Host != "a" {
		t.Errorf("Record-Route() %s, want the first", r.Address.Host)
	}

	// More parameters in one header than the fast path collects.
	many := strings.Replace(registerPhone, ";reg-id=1;", ";a=1;b=2;c=3;d=4;e=5;f=6;g=7;h=8;i=9;j=10;k=11;l=12;m=13;n=14;o=15;p=16;q=17;", 1)
	if checkSame(t, []byte(many)) {
		t.Error("a Contact with 19 parameters took the fast path")
	}
}

// headerRequest is the request FuzzParseHeader varies: uri and one header.
func headerRequest(uri, name, value string) []byte {
	return []byte("REGISTER " + uri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-f;rport\r\n" +
		name + ":" + value + "\r\n" +
		"From: <sip:f@example.com>;tag=f\r\n" +
		"Call-ID: f\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")
}

// quirks are values where sipgo's reading is easy to get wrong; fast says
// whether the fast path must take them. FuzzParseHeader starts from them too.
var quirks = []struct {
	uri, name, value string
	fast             bool
}{
	{"sip:example.com", "From", ` "" <sip:a@b>`, true},              // empty display name
	{"sip:example.com", "From", ` "a" <sip:a@b>;tag=1;tag=2`, true}, // a repeated parameter keeps its place, last value
	{"sip:example.com", "From", ` Bob<sip:a@b>`, true},
	{"sip:example.com", "From", `   Bob   Smith  <sip:a@b>`, true}, // inner spaces kept
	{"sip:example.com", "From", ` "x" sip:a@b;tag=1`, false},       // sipgo: error
	{"sip:example.com", "From", ` <sip:a@b>;x="a=b"`, false},       // sipgo splits at the last "="
	{"sip:example.com", "From", ` <sip:a@b>;x="a;b"`, false},       // sipgo splits at every ";"
	{"sip:example.com", "To", ` sip:a@b;tag=x`, true},              // no brackets: all header parameters
	{"sip:example.com", "To", ` <sip:a@b;tag=x>`, true},            // brackets: a URI parameter
	{"sip:example.com", "Contact", ` <sip:a@b>;expires=60,<sip:c@d>;q=0.5`, true},
	{"sip:example.com", "Contact", ` sip:a@b;expires=60,sip:c@d`, true},
	{"sip:example.com", "Contact", ` "x,y" <sip:a@b>, sip:c@d`, false},       // sipgo: error on " sip:c@d"
	{"sip:example.com", "Contact", ` <sip:a@b>;methods="INVITE, BYE"`, true}, // comma inside quotes
	{"sip:example.com", "Contact", ` <sip:a@b>,`, false},                     // sipgo: error
	{"sip:example.com", "Contact", ` *`, true},
	{"sip:example.com", "Contact", ` *;expires=0`, false},
	{"sip:example.com", "Via", ` SIP/2.0/UDP h;branch=1,SIP/2.0/TCP [::1]:5060;branch=2`, true},
	{"sip:example.com", "Via", ` SIP/2.0/UDP h:5060, SIP/2.0/UDP h2;branch=2`, false}, // sipgo: one Via, no host
	{"sip:example.com", "Via", ` SIP/2.0/UDP  h;branch=1`, false},
	{"sip:example.com", "Via", ` sip/2.0/udp h;rport=;branch=1`, true}, // empty value, case kept
	{"sip:example.com", "Route", ` <sip:a;lr>,<sip:b;lr>;x=y`, true},   // header parameters dropped
	{"sip:example.com", "Route", ` "p" <sip:a;lr>`, true},              // display name dropped
	{"sip:example.com", "CSeq", ` 1  INVITE`, true},                    // method " INVITE"
	{"sip:example.com", "CSeq", ` 2147483648 INVITE`, false},           // sipgo: error
	{"sip:example.com", "Max-Forwards", ` 070`, true},
	{"sip:example.com", "Max-Forwards", ` +70`, false},
	{"sip:example.com", "l", ` 00`, true},
	{"sip:example.com", "Call-ID", ` a b c`, true},
	{"sip:example.com", "Call-ID", ``, false}, // sipgo: error
	{"sip:example.com", "Subject", ``, true},  // empty generic value
	{"sip:example.com", "Subject", " Caf\u00e9", true},
	{"sip:example.com", "Subject", " Caf\u00a0", false}, // sipgo trims Unicode space
	{"sip:user@host:5060;transport=tcp;lr", "X", "y", true},
	{"sip:host;a=1;a=2;b", "X", "y", true},
	{"sip:host;", "X", "y", true},
	{"sips:[2001:db8::1]", "X", "y", true}, // Host keeps the brackets
	{"sip:u:p@h", "X", "y", true},
	{"sip:%41@h", "X", "y", true},
	{"SIP:host", "X", "y", true},                                  // scheme lower-cased
	{"tel:+1-555-0100;phone-context=example.com", "X", "y", true}, // kept raw
	{"urn:service:sos", "X", "y", true},
	{"sip:host?subject=x", "X", "y", false},
	{"sip:*", "X", "y", false},
	{"*", "X", "y", false}, // sipgo: error
}

func TestQuirks(t *testing.T) {
	for _, tt := range quirks {
		data := headerRequest(tt.uri, tt.name, tt.value)
		if fast := checkSame(t, data); fast != tt.fast {
			t.Errorf("%s / %s:%s: fast path %v, want %v", tt.uri, tt.name, tt.value, fast, tt.fast)
		}
	}
}
