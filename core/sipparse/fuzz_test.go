package sipparse

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// sipgoParser is the reference the fast path must match.
var sipgoParser = sip.NewParser()

// FuzzParseRequest checks, for any input, that Parse returns what sipgo's
// parser returns, and that whatever the fast path accepts on its own is
// also accepted by sipgo and parsed identically.
func FuzzParseRequest(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSame(t, data)
	})
}

// FuzzParseHeader aims the fuzzer at the fast path's header and URI
// readers: it mutates one header line and the Request-URI of an otherwise
// well-formed request, which whole-message mutations rarely leave intact.
func FuzzParseHeader(f *testing.F) {
	for _, s := range seeds {
		lines := strings.Split(s, "\r\n")
		uri := "sip:example.com"
		if parts := strings.Split(lines[0], " "); len(parts) == 3 && !strings.HasPrefix(parts[0], "SIP/") {
			uri = parts[1]
		}
		for _, line := range lines[1:] {
			if line == "" {
				break
			}
			if name, value, ok := strings.Cut(line, ":"); ok {
				f.Add(uri, name, value)
			}
		}
	}
	for _, q := range quirks {
		f.Add(q.uri, q.name, q.value)
	}
	f.Fuzz(func(t *testing.T, uri, name, value string) {
		checkSame(t, headerRequest(uri, name, value))
	})
}

// checkSame compares Parse, ParseRequest and the fast path alone with
// sipgo on data, and reports whether the fast path handled it.
func checkSame(t *testing.T, data []byte) (fast bool) {
	t.Helper()
	orig := bytes.Clone(data)
	want, wantErr := sipgoParser.ParseSIP(bytes.Clone(data))

	fastMsg := parseFast(data)
	if fastMsg != nil {
		if wantErr != nil {
			t.Fatalf("fast path accepted what sipgo rejects (%v):\n%q", wantErr, data)
		}
		// The message must not refer to the datagram, which UDP reuses.
		for i := range data {
			data[i] = 'X'
		}
		sameMessage(t, want, fastMsg, orig)
		copy(data, orig)
	}

	got, gotErr := Parse(data)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("Parse error %v, sipgo error %v:\n%q", gotErr, wantErr, data)
	}
	if wantErr == nil {
		sameMessage(t, want, got, data)
	}

	req, reqErr := ParseRequest(data)
	wantReq, isReq := want.(*sip.Request)
	switch {
	case wantErr != nil:
		if reqErr == nil {
			t.Fatalf("ParseRequest accepted what sipgo rejects: %q", data)
		}
	case !isReq:
		if reqErr != ErrNotRequest {
			t.Fatalf("ParseRequest on a response: %v, want ErrNotRequest", reqErr)
		}
	default:
		if reqErr != nil {
			t.Fatalf("ParseRequest: %v", reqErr)
		}
		sameMessage(t, wantReq, req, data)
	}
	return fastMsg != nil
}

// sameMessage fails t unless got is the message sipgo built as want.
func sameMessage(t *testing.T, want, got sip.Message, data []byte) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("input %q:\n"+format, append([]any{data}, args...)...)
	}
	if want.String() != got.String() {
		fail("String()\n got %q\nwant %q", got.String(), want.String())
	}
	// Every field, header by header, nil-ness of parameters included.
	if !reflect.DeepEqual(want, got) {
		fail("messages differ:\n got %#v\nwant %#v", got, want)
	}
	if !bytes.Equal(want.Body(), got.Body()) || (want.Body() == nil) != (got.Body() == nil) {
		fail("body %q, want %q", got.Body(), want.Body())
	}

	wh, gh := headersOf(want), headersOf(got)
	if len(wh) != len(gh) {
		fail("%d headers, want %d", len(gh), len(wh))
	}
	for i := range wh {
		if reflect.TypeOf(wh[i]) != reflect.TypeOf(gh[i]) {
			fail("header %d is %T, want %T", i, gh[i], wh[i])
		}
		if wh[i].Name() != gh[i].Name() || wh[i].Value() != gh[i].Value() {
			fail("header %d %q: %q, want %q: %q", i, gh[i].Name(), gh[i].Value(), wh[i].Name(), wh[i].Value())
		}
	}

	// The typed accessors must return the same header, by position.
	accessors := []struct {
		name string
		get  func(sip.Message) sip.Header
	}{
		{"Via", func(m sip.Message) sip.Header { return nilHeader(m.Via()) }},
		{"From", func(m sip.Message) sip.Header { return nilHeader(m.From()) }},
		{"To", func(m sip.Message) sip.Header { return nilHeader(m.To()) }},
		{"CallID", func(m sip.Message) sip.Header { return nilHeader(m.CallID()) }},
		{"CSeq", func(m sip.Message) sip.Header { return nilHeader(m.CSeq()) }},
		{"ContentLength", func(m sip.Message) sip.Header { return nilHeader(m.ContentLength()) }},
		{"Contact", func(m sip.Message) sip.Header { return nilHeader(contactOf(m)) }},
		{"MaxForwards", func(m sip.Message) sip.Header { return nilHeader(maxForwardsOf(m)) }},
		{"ContentType", func(m sip.Message) sip.Header { return nilHeader(contentTypeOf(m)) }},
		{"Route", func(m sip.Message) sip.Header { return nilHeader(routeOf(m)) }},
		{"RecordRoute", func(m sip.Message) sip.Header { return nilHeader(recordRouteOf(m)) }},
	}
	for _, a := range accessors {
		w, g := a.get(want), a.get(got)
		if (w == nil) != (g == nil) {
			fail("%s() = %v, want %v", a.name, g, w)
		}
		if w == nil {
			continue
		}
		if !reflect.DeepEqual(w, g) {
			fail("%s() = %#v, want %#v", a.name, g, w)
		}
		if indexOf(wh, w) != indexOf(gh, g) {
			fail("%s() is header %d, want %d", a.name, indexOf(gh, g), indexOf(wh, w))
		}
	}
	for _, name := range []string{"Contact", "Via", "Route", "Record-Route", "Expires", "Supported"} {
		if len(want.GetHeaders(name)) != len(got.GetHeaders(name)) {
			fail("GetHeaders(%q): %d, want %d", name, len(got.GetHeaders(name)), len(want.GetHeaders(name)))
		}
	}

	switch w := want.(type) {
	case *sip.Request:
		g, ok := got.(*sip.Request)
		if !ok {
			fail("got %T, want a request", got)
		}
		if g.Method != w.Method || g.SipVersion != w.SipVersion {
			fail("request line %s %s, want %s %s", g.Method, g.SipVersion, w.Method, w.SipVersion)
		}
		if !reflect.DeepEqual(g.Recipient, w.Recipient) || g.Recipient.String() != w.Recipient.String() ||
			g.Recipient.Raw() != w.Recipient.Raw() {
			fail("Recipient %#v, want %#v", g.Recipient, w.Recipient)
		}
	case *sip.Response:
		g, ok := got.(*sip.Response)
		if !ok {
			fail("got %T, want a response", got)
		}
		if g.StatusCode != w.StatusCode || g.Reason != w.Reason || g.SipVersion != w.SipVersion {
			fail("status line %s %d %q, want %s %d %q", g.SipVersion, g.StatusCode, g.Reason, w.SipVersion, w.StatusCode, w.Reason)
		}
	}
}

func headersOf(m sip.Message) []sip.Header {
	switch m := m.(type) {
	case *sip.Request:
		return m.Headers()
	case *sip.Response:
		return m.Headers()
	}
	return nil
}

func contactOf(m sip.Message) *sip.ContactHeader {
	switch m := m.(type) {
	case *sip.Request:
		return m.Contact()
	case *sip.Response:
		return m.Contact()
	}
	return nil
}

func maxForwardsOf(m sip.Message) *sip.MaxForwardsHeader {
	switch m := m.(type) {
	case *sip.Request:
		return m.MaxForwards()
	case *sip.Response:
		return m.MaxForwards()
	}
	return nil
}

func contentTypeOf(m sip.Message) *sip.ContentTypeHeader {
	switch m := m.(type) {
	case *sip.Request:
		return m.ContentType()
	case *sip.Response:
		return m.ContentType()
	}
	return nil
}

func routeOf(m sip.Message) *sip.RouteHeader {
	switch m := m.(type) {
	case *sip.Request:
		return m.Route()
	case *sip.Response:
		return m.Route()
	}
	return nil
}

func recordRouteOf(m sip.Message) *sip.RecordRouteHeader {
	switch m := m.(type) {
	case *sip.Request:
		return m.RecordRoute()
	case *sip.Response:
		return m.RecordRoute()
	}
	return nil
}

// nilHeader turns a typed nil pointer into a nil interface.
func nilHeader[T any, P interface {
	*T
	sip.Header
}](h P) sip.Header {
	if h == nil {
		return nil
	}
	return h
}

// indexOf returns the position of h, by identity, in hs, or -1 for a header
// an accessor parsed lazily.
func indexOf(hs []sip.Header, h sip.Header) int {
	for i := range hs {
		if hs[i] == h {
			return i
		}
	}
	return -1
}

// msg joins lines with CRLF and ends the header section.
func msg(lines ...string) string {
	return strings.Join(lines, "\r\n")
}

// registerPhone is a REGISTER as a desk phone sends it.
var registerPhone = msg(
	"REGISTER sip:example.com SIP/2.0",
	"Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK-524287-1---4b6c2a8e1f3d9a07",
	"Max-Forwards: 70",
	"From: <sip:1001@example.com>;tag=8a1c3f52",
	"To: <sip:1001@example.com>",
	"Call-ID: 5b7c9e2f41d84a6c@192.0.2.10",
	"CSeq: 2 REGISTER",
	`Contact: <sip:1001@192.0.2.10:5060;transport=udp>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-0004f2a1b2c3>";reg-id=1;expires=3600`,
	"Expires: 3600",
	"User-Agent: Yealink SIP-T46S 66.86.0.15",
	"Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, OPTIONS, INFO, SUBSCRIBE, UPDATE, MESSAGE",
	"Supported: path, gruu, outbound",
	"Content-Length: 0",
	"", "")

const sdp = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.20\r\ns=-\r\n" +
	"c=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\n" +
	"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"

// inviteSDP is an INVITE with an SDP offer, through one proxy.
var inviteSDP = msg(
	"INVITE sip:bob@example.com SIP/2.0",
	"Via: SIP/2.0/UDP proxy.example.com:5060;branch=z9hG4bK2d4790.1",
	"Via: SIP/2.0/UDP 192.0.2.20:5060;received=198.51.100.7;rport=6012;branch=z9hG4bK74bf9",
	"Record-Route: <sip:proxy.example.com;lr>",
	"Max-Forwards: 69",
	`From: "Alice Liddell" <sip:alice@example.com>;tag=9fxced76sl`,
	"To: Bob <sip:bob@example.com>",
	"Call-ID: 3848276298220188511@192.0.2.20",
	"CSeq: 31862 INVITE",
	"Contact: <sip:alice@192.0.2.20:5060>",
	"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE",
	"Content-Type: application/sdp",
	"Content-Length: "+itoa(len(sdp)),
	"",
	sdp)

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// bigRegister has more of every header than the fast path keeps in place.
func bigRegister() string {
	var b strings.Builder
	b.WriteString("REGISTER sip:example.com;transport=udp;lr SIP/2.0\r\n")
	for i := range 5 {
		b.WriteString("Via: SIP/2.0/UDP 192.0.2." + itoa(i) + ":5060;branch=z9hG4bK-" + itoa(i) + ";rport\r\n")
	}
	b.WriteString("From: <sip:big@example.com>;tag=1\r\nTo: <sip:big@example.com>\r\nCall-ID: big\r\nCSeq: 1 REGISTER\r\n")
	for i := range 40 {
		b.WriteString("X-Header-" + itoa(i) + ": value " + itoa(i) + "\r\n")
	}
	b.WriteString("Contact: ")
	for i := range 20 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("<sip:big@192.0.2." + itoa(i) + ";ob>;expires=" + itoa(i) + ";q=0." + itoa(i%10))
	}
	b.WriteString("\r\nRecord-Route: <sip:a;lr>\r\nRoute: <sip:r1;lr>\r\nRecord-Route: <sip:b;lr>\r\nRoute: <sip:r2;lr>\r\n")
	b.WriteString("From: <sip:second@example.com>;tag=2\r\nMax-Forwards: 1\r\nMax-Forwards: 2\r\nContent-Length: 0\r\nl: 0\r\n\r\n")
	return b.String()
}

// seeds are the fuzz corpus and the differential test cases: realistic
// messages first, then torture-test style ones in the manner of RFC 4475.
var seeds = []string{
	registerPhone,
	inviteSDP,
	// Compact forms, several Contacts, q and expires, no Content-Length.
	msg("REGISTER sip:example.com SIP/2.0",
		"v: SIP/2.0/TCP [2001:db8::10]:5060;branch=z9hG4bK776asdhds;rport",
		"f: Alice <sip:alice@example.com>;tag=1928301774",
		"t: <sip:alice@example.com>",
		"i: a84b4c76e66710@pc33.example.com",
		"CSeq: 314159 REGISTER",
		`m: <sip:alice@[2001:db8::10]:5060;transport=tcp>;q=0.7;expires=600, "Alice Mobile" <sip:alice@198.51.100.4>;q=0.1, <sips:alice@example.net;ob>`,
		"k: path",
		"l: 0", "", ""),
	// Removing every binding.
	msg("REGISTER sip:example.com SIP/2.0",
		"Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKnashds7",
		"Max-Forwards: 70",
		"To: Bob <sip:bob@example.com>",
		"From: Bob <sip:bob@example.com>;tag=456248",
		"Call-ID: 843817637684230@998sdasdh09",
		"CSeq: 1827 REGISTER",
		"Contact: *",
		"Expires: 0",
		"Content-Length: 0", "", ""),
	// SIPS, TLS, IPv6 everywhere, password in a URI, a parameter without value.
	msg("REGISTER sips:ss2.example.com SIP/2.0",
		"Via: SIP/2.0/TLS [2001:db8::9:1];branch=z9hG4bKas3;received=2001:db8::9:255",
		"Max-Forwards: 70",
		"From: <sips:carol:secret@example.com;user=phone>;tag=a73kszlfl",
		"To: <sips:carol@example.com>",
		"Call-ID: 1j9FpLxk3uxtm8tn@[2001:db8::9:1]",
		"CSeq: 1 REGISTER",
		"Contact: <sips:carol@[2001:db8::9:1]:5061;transport=tls>;+sip.ice;reg-id=2;+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\"",
		"Authorization: Digest username=\"carol\", realm=\"example.com\", nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\", uri=\"sips:ss2.example.com\", response=\"dfe56131d1958046689d83306477ecc\"",
		"Content-Length: 0", "", ""),
	// OPTIONS keep-alive, no Content-Length, no body.
	msg("OPTIONS sip:192.0.2.1 SIP/2.0",
		"Via: SIP/2.0/UDP 192.0.2.50:5080;branch=z9hG4bK-opt-1;rport",
		"From: <sip:ping@192.0.2.50>;tag=p1",
		"To: <sip:192.0.2.1>",
		"Call-ID: opt-1@192.0.2.50",
		"CSeq: 1 OPTIONS",
		"Max-Forwards: 70", "", ""),
	// ACK, BYE and CANCEL through a proxy, comma-separated Via and Route.
	msg("ACK sip:bob@192.0.2.4 SIP/2.0",
		"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK-ack-1, SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK-ack-0;rport=5060",
		"Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>",
		"Max-Forwards: 70",
		"From: Alice <sip:alice@example.com>;tag=9fxced76sl",
		"To: Bob <sip:bob@example.com>;tag=8321234356",
		"Call-ID: 3848276298220188511@192.0.2.20",
		"CSeq: 31862 ACK",
		"Content-Length: 0", "", ""),
	msg("BYE sip:alice@192.0.2.20:5060 SIP/2.0",
		"Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKnashds10",
		"Route: <sip:proxy.example.com;lr>",
		"Max-Forwards: 70",
		"From: Bob <sip:bob@example.com>;tag=8321234356",
		"To: Alice <sip:alice@example.com>;tag=9fxced76sl",
		"Call-ID: 3848276298220188511@192.0.2.20",
		"CSeq: 1 BYE",
		"Content-Length: 0", "", ""),
	msg("CANCEL sip:bob@example.com SIP/2.0",
		"Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK74bf9",
		"Max-Forwards: 70",
		"From: Alice <sip:alice@example.com>;tag=9fxced76sl",
		"To: Bob <sip:bob@example.com>",
		"Call-ID: 3848276298220188511@192.0.2.20",
		"CSeq: 31862 CANCEL",
		"Content-Length: 0", "", ""),
	// MESSAGE with a body and no Content-Length: the rest is the body.
	msg("MESSAGE sip:user2@example.com SIP/2.0",
		"Via: SIP/2.0/TCP user1pc.example.com;branch=z9hG4bK776sgdkse",
		"Max-Forwards: 70",
		"From: sip:user1@example.com;tag=49583",
		"To: sip:user2@example.com",
		"Call-ID: asd88asd77a@1.2.3.4",
		"CSeq: 1 MESSAGE",
		"Content-Type: text/plain", "",
		"Watson, come here."),
	// Responses.
	msg("SIP/2.0 200 OK",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;rport=5060;branch=z9hG4bK-524287-1;received=203.0.113.9",
		"From: <sip:1001@example.com>;tag=8a1c3f52",
		"To: <sip:1001@example.com>;tag=as5d1e",
		"Call-ID: 5b7c9e2f41d84a6c@192.0.2.10",
		"CSeq: 2 REGISTER",
		"Contact: <sip:1001@192.0.2.10:5060>;expires=3600, <sip:1001@198.51.100.2:5062>;expires=120",
		"Date: Sat, 13 Nov 2010 23:29:00 GMT",
		"Content-Length: 0", "", ""),
	msg("SIP/2.0 180 Ringing",
		"Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK74bf9",
		"Record-Route: <sip:p2.example.com;lr>,<sip:p1.example.com;lr>",
		"From: Alice <sip:alice@example.com>;tag=9fxced76sl",
		"To: Bob <sip:bob@example.com>;tag=8321234356",
		"Call-ID: 3848276298220188511@192.0.2.20",
		"CSeq: 31862 INVITE",
		"Contact: <sip:bob@192.0.2.4>",
		"Content-Length: 0", "", ""),
	msg("SIP/2.0 401 Unauthorized",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport=5060;received=192.0.2.10",
		"From: <sip:1001@example.com>;tag=1",
		"To: <sip:1001@example.com>;tag=2",
		"Call-ID: c1",
		"CSeq: 1 REGISTER",
		`WWW-Authenticate: Digest realm="example.com", nonce="66c8a2b0", algorithm=MD5, qop="auth"`,
		"Content-Length: 0", "", ""),
	msg("SIP/2.0 100 Trying",
		"Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bK74bf9",
		"From: Alice <sip:alice@example.com>;tag=9fxced76sl",
		"To: Bob <sip:bob@example.com>",
		"Call-ID: 3848276298220188511@192.0.2.20",
		"CSeq: 31862 INVITE",
		"Content-Length: 0", "", ""),
	// Odd but common spacing, tabs, lower-case names, tel: URIs.
	msg("INVITE tel:+15551234567;phone-context=example.com SIP/2.0",
		"via : SIP/2.0/UDP\t192.0.2.1:5060;branch=z9hG4bKx",
		"FROM:   <sip:alice@example.com>;tag=a  ",
		"to:\t<tel:+15551234567>",
		"call-id:abc",
		"CSEQ:1\tINVITE",
		"max-forwards:\t10",
		"CONTACT: <sip:alice@192.0.2.1>",
		"content-length: 0", "", ""),
	// Parameters without values, duplicate parameters, Route with params.
	msg("SUBSCRIBE sip:presence@example.com;lr;maddr=192.0.2.2;lr SIP/2.0",
		"Via: SIP/2.0/UDP host.example.com;rport;branch=z9hG4bK1;branch=z9hG4bK2",
		"Route: <sip:edge.example.com;lr;transport=tcp>;foo=bar",
		"From: <sip:a@example.com>;tag=1;tag=2;x",
		"To: <sip:presence@example.com>",
		"Call-ID: sub-1",
		"CSeq: 10 SUBSCRIBE",
		"Event: presence",
		"Expires: 600",
		"Content-Length: 0", "", ""),
	// Refer-To and Referred-By.
	msg("REFER sip:bob@192.0.2.4 SIP/2.0",
		"Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK-refer",
		"From: <sip:alice@example.com>;tag=r1",
		"To: <sip:bob@example.com>;tag=r2",
		"Call-ID: refer-1",
		"CSeq: 93809824 REFER",
		"Refer-To: <sip:carol@example.com>",
		`Referred-By: "Alice" <sip:alice@example.com>;cid=x`,
		"Content-Length: 0", "", ""),
	// What the fast path leaves to sipgo.
	strings.ReplaceAll(registerPhone, "\r\n", "\n"), // LF line ends: sipgo rejects
	msg("REGISTER sip:example.com SIP/2.0",
		"Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-fold",
		"From: <sip:a@example.com>",
		" ;tag=folded",
		"To: <sip:a@example.com>",
		"Call-ID: fold", "CSeq: 1 REGISTER", "", ""),
	msg("INVITE sip:bob@example.com SIP/2.0",
		"Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK-esc",
		`From: "Alice \"the\" Liddell" <sip:alice@example.com>;tag=esc`,
		"To: sip:bob@example.com",
		"Call-ID: esc", "CSeq: 1 INVITE", "Content-Length: 0", "", ""),
	msg("OPTIONS sip:user@example.com?Subject=foo&Call-Info=x SIP/2.0",
		"Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK-hdrs",
		"From: <sip:a@example.com>;tag=h", "To: <sip:user@example.com>",
		"Call-ID: hdrs", "CSeq: 1 OPTIONS", "", ""),
	msg("register sip:example.com SIP/2.0",
		"Via: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bK-low",
		"From: <sip:a@example.com>;tag=l", "To: <sip:a@example.com>",
		"Call-ID: low", "CSeq: 1 REGISTER", "", ""),

	// Torture-test style, RFC 4475 in spirit.
	// Short, tricky: white space everywhere, continuation lines.
	msg("INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0",
		"TO :",
		" sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
		"from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>",
		"  ;",
		"  tag = 98asjd8",
		"MaX-fOrWaRdS: 0068",
		"Call-ID: wsinv.ndaksdj@192.0.2.1",
		"Content-Length   : 150",
		"cseq: 0009",
		"  INVITE",
		"Via  : SIP  /   2.0",
		" /UDP",
		"    192.0.2.2;branch=390skdjuw",
		"s :",
		"NewFangledHeader:   newfangled value",
		" continued newfangled value",
		"UnknownHeaderWithUnusualValue: ;;,,;;,;",
		"Content-Type: application/sdp",
		"Route:",
		" <sip:services.example.com;lr;unknownwith=value;unknown-no-value>",
		"v:  SIP  / 2.0  / TCP     spindle.example.com   ;",
		"  branch  =   z9hG4bK9ikj8  ,",
		" SIP  /    2.0   / UDP  192.168.255.111   ; branch=",
		" z9hG4bK30239",
		"m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =",
		"      newvalue ;",
		"  secondparam ; q = 0.33",
		"", sdp),
	// A method of unusual token characters.
	msg("!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0",
		"Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~",
		"To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>",
		"From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-.",
		"Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",
		"CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~",
		"Max-Forwards: 255",
		"extensionHeader-!.%*+_`'~:\xef\xbb\xbf大停電",
		"Content-Length: 0", "", ""),
	// Escaped characters in URIs.
	msg("INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0",
		"To: sip:%75se%72@example.com",
		"From: <sip:I%20have%20spaces@example.net>;tag=938",
		"Max-Forwards: 87",
		"i: esc01.239409asdfakjkn23onasd0-3234",
		"CSeq: 234234 INVITE",
		"Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw",
		"C: application/sdp",
		"Contact: <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>",
		"Content-Length: 0", "", ""),
	// Escaped NUL in a URI user part.
	msg("REGISTER sip:example.com SIP/2.0",
		"To: sip:null-%00-null@example.com",
		"From: sip:null-%00-null@example.com;tag=839923423",
		"Max-Forwards: 70",
		"Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd",
		"CSeq: 14398234 REGISTER",
		"Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw",
		"Contact: <sip:%00@host5.example.com>",
		"Contact: <sip:%00%00@host5.example.com>",
		"L:0", "", ""),
	// Display names without quotes around tokens and white space.
	msg("OPTIONS sip:user@example.com SIP/2.0",
		"To: sip:user@example.com",
		"From: caller<sip:caller@example.com>;tag=323",
		"Max-Forwards: 70",
		"Call-ID: lwsdisp.1234abcd@funky.example.com",
		"CSeq: 60 OPTIONS",
		"Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw",
		"l: 0", "", ""),
	// Two requests in one datagram: the second is body of the first.
	msg("REGISTER sip:example.com SIP/2.0",
		"To: sip:j.user@example.com",
		"From: sip:j.user@example.com;tag=43251j3j324",
		"Max-Forwards: 8",
		"I: dblreq.0ha0isndaksdj99sdfafnl3lk233412",
		"Contact: sip:j.user@host.example.com",
		"CSeq: 8 REGISTER",
		"Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492",
		"Content-Length: 0", "",
		"INVITE sip:joe@example.com SIP/2.0",
		"t: sip:joe@example.com",
		"From: sip:caller@example.net;tag=141334",
		"", ""),
	// A semicolon in the user part.
	msg("OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0",
		"To: sip:j_user@example.com",
		"From: sip:caller@example.org;tag=33242",
		"Max-Forwards: 3",
		"Call-ID: semiuri.0ha0isndaksdj",
		"CSeq: 8 OPTIONS",
		"Accept: application/sdp, application/pkcs7-mime,",
		"        multipart/mixed, multipart/signed,",
		"        message/sip, message/sipfrag",
		"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw",
		"l: 0", "", ""),
	// Unknown transports.
	msg("OPTIONS sip:user@example.com SIP/2.0",
		"To: sip:user@example.com",
		"From: <sip:caller@example.com>;tag=323",
		"Max-Forwards: 70",
		"Call-ID:  transports.kijh4akdnaqjkwendsasfdj",
		"Accept: application/sdp",
		"CSeq: 60 OPTIONS",
		"Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw",
		"Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf",
		"Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj",
		"Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en",
		"Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee",
		"l: 0", "", ""),
	// A response with an unusual reason phrase, and one without.
	msg("SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое",
		"Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923",
		"Call-ID: unreason.1234ksdfak3j2erwedfsASdf",
		"CSeq: 35 INVITE",
		"From: sip:user@example.com;tag=11141343",
		"To: sip:user@example.edu;tag=2229",
		"Content-Length: 154",
		"Content-Type: application/sdp",
		"Contact: <sip:user@host198.example.com>",
		"", sdp),
	msg("SIP/2.0 100 ",
		"Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe",
		"Call-ID: noreason.asndj203insdf99223ndf",
		"CSeq: 35 INVITE",
		"From: <sip:user@example.com>;tag=39ansfi3",
		"To: <sip:user@example.edu>;tag=902jndnke3",
		"Content-Length: 0",
		"Contact: <sip:user@host105.example.com>", "", ""),
	// Multipart body.
	msg("MESSAGE sip:kumiko@example.org SIP/2.0",
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport",
		"Max-Forwards: 70",
		"Route: <sip:127.0.0.1:5080>",
		"Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA=",
		"Contact: <sip:fluffy@127.0.0.1:5070>",
		"To: <sip:kumiko@example.org>",
		"From: <sip:fluffy@example.com>;tag=2fb0dcc9",
		"Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..",
		"CSeq: 1 MESSAGE",
		"Content-Transfer-Encoding: binary",
		"Content-Type: multipart/mixed;boundary=7a9cbec02ceef655",
		"Date: Sat, 15 Oct 2005 04:44:56 GMT",
		"User-Agent: SIPimp.org/0.2.5 (curses)",
		"Content-Length: 78", "",
		"--7a9cbec02ceef655",
		"Content-Type: text/plain",
		"Content-Transfer-Encoding: binary", "",
		"Hello",
		"--7a9cbec02ceef655--", ""),
	// Content-Length larger than the body, negative, huge; bad CSeq.
	msg("INVITE sip:user@example.com SIP/2.0",
		"Max-Forwards: 6",
		"To: sip:j.user@example.com",
		"From: sip:caller@example.net;tag=134161461246",
		"Call-ID: clerr.0ha0isndaksdjasdf3234nas",
		"CSeq: 8 INVITE",
		"Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234",
		"Content-Type: application/sdp",
		"Content-Length: 9999", "", sdp),
	msg("INVITE sip:user@example.com SIP/2.0",
		"Max-Forwards: 254",
		"To: sip:j.user@example.com",
		"From: sip:caller@example.net;tag=32394234",
		"Call-ID: ncl.0ha0isndaksdj2193423r542w35",
		"CSeq: 0 INVITE",
		"Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw",
		"Content-Type: application/sdp",
		"Content-Length: -999", "", sdp),
	msg("OPTIONS sip:user@example.com SIP/2.0",
		"Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234",
		"Max-Forwards: 70",
		"From: \"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423",
		"To: \"Watson, Thomas\" < sip:t.watson@example.org >",
		"Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3",
		"Accept: application/sdp",
		"CSeq: 3923239 OPTIONS",
		"l: 0", "", ""),
	msg("OPTIONS sip:t.watson@example.org SIP/2.0",
		"Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw",
		"Max-Forwards:      70",
		"From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
		"To:      Watson, Thomas <sip:t.watson@example.org>",
		"Call-ID: baddn.31415@c.example.com",
		"Accept: application/sdp",
		"CSeq:    3923239 OPTIONS",
		"l: 0", "", ""),
	msg("INVITE <sip:user@example.com> SIP/2.0",
		"To: sip:user@example.com",
		"From: sip:caller@example.net;tag=39291",
		"Max-Forwards: 23",
		"Call-ID: ltgtruri.1@192.0.2.5",
		"CSeq: 1 INVITE",
		"Via: SIP/2.0/UDP 192.0.2.5",
		"l: 0", "", ""),
	msg("INVITE sip:user@example.com; lr SIP/2.0",
		"To: sip:user@example.com;tag=3xfe-9921883-z9f",
		"From: sip:caller@example.net;tag=231413434",
		"Max-Forwards: 5",
		"Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423",
		"CSeq: 2130706432 INVITE",
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395",
		"l: 0", "", ""),
	msg("INVITE  sip:user@example.com  SIP/2.0",
		"Max-Forwards: 8",
		"To: sip:user@example.com",
		"From: sip:caller@example.net;tag=8814",
		"Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com",
		"CSeq: 1893884 INVITE",
		"Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923",
		"l: 0", "", ""),
	msg("INVITE sip:user@example.com SIP/7.0",
		"Max-Forwards: 70",
		"To: sip:t.watson@example.org",
		"From: sip:caller@example.net;tag=8814",
		"Call-ID: badvers.dfknq234oi243099adsdfnawe3@example.com",
		"CSeq: 8 INVITE",
		"Via: SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw",
		"l: 0", "", ""),
	msg("SIP/2.0 4294967301 better not break the receiver",
		"Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe",
		"Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i",
		"CSeq: 353494 INVITE",
		"From: <sip:user@example.com>;tag=39ansfi3",
		"To: <sip:user@example.edu>;tag=902jndnke3",
		"Content-Length: 0",
		"Contact: <sip:user@host105.example.com>", "", ""),
	msg("OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0",
		"To: sip:user@example.com",
		"From: sip:caller@example.net;tag=384",
		"Max-Forwards: 3",
		"Call-ID: novelsc.asdfasser0q239nwsdfasdkl34",
		"CSeq: 3923423 OPTIONS",
		"Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234",
		"Content-Length: 0", "", ""),
	msg("REGISTER sip:example.com SIP/2.0",
		"Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3",
		"To: <sip:user@example.com>",
		"From: <sip:user@example.com>;tag=239232jh3",
		"CSeq: 36893488147419103232 REGISTER",
		"Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32",
		"Max-Forwards: 300",
		"Expires: 1"+strings.Repeat("0", 30),
		"Contact: <sip:user@host129.example.com>;expires=280297596632815",
		"Content-Length: 0", "", ""),
	msg("INVITE sip:user@example.com SIP/2.0",
		"To: sip:j.user@example.com",
		"From: sip:caller@example.net;tag=134161461246",
		"Max-Forwards: 7",
		"Call-ID: quotbal.aksdj",
		"Contact: \"Joe\" <sip:joe@example.org",
		"CSeq: 8 INVITE",
		"Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw",
		"l: 0", "", ""),
	msg("INVITE sip:user@[2001:db8::10] SIP/2.0",
		"To: sip:user@[2001:db8::10]",
		"From: sip:caller@example.net;tag=134161461246",
		"Max-Forwards: 7",
		"Call-ID: ipv6-1.aksdj",
		"Contact: \"Caller\" <sip:caller@[2001:db8::20]:5060;transport=udp>",
		"CSeq: 8 INVITE",
		"Via: SIP/2.0/UDP [2001:db8::20]:5060;branch=z9hG4bKkdjuw;rport",
		"Record-Route: <sip:[2001:db8::1];lr>",
		"l: 0", "", ""),
	msg("INVITE sip:user@[2001:db8::10:5070 SIP/2.0",
		"To: sip:user@[2001:db8::10]",
		"From: sip:caller@example.net;tag=1",
		"Call-ID: ipv6-2",
		"CSeq: 8 INVITE",
		"Via: SIP/2.0/UDP [2001:db8::20:5060;branch=z9hG4bKkdjuw",
		"l: 0", "", ""),
	// More headers and parameters than the arena holds, and a header with
	// more parameters than the fast path collects.
	bigRegister(),
	strings.Replace(registerPhone, ";reg-id=1;", ";a=1;b=2;c=3;d=4;e=5;f=6;g=7;h=8;i=9;j=10;k=11;l=12;m=13;n=14;o=15;p=16;q=17;", 1),
	// Null bytes, bare CR, an empty datagram, keep-alives, junk.
	"", "\r\n\r\n", "\r\n", "jaK\r\n\r\n",
	"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=1\r\nX: a\x00b\r\n\r\n",
	"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=1\rX: a\r\n\r\n",
	"SIP/2.0 200 OK\r\n\r\n",
	"OPTIONS sip:a@b SIP/2.0\r\n\r\n",
}
