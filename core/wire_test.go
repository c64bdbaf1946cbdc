package core

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// wireSeeds are requests and responses whose headers cover what
// writeResponse writes itself and what it leaves to sipgo.
var wireSeeds = []string{
	"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport\r\nMax-Forwards: 70\r\n" +
		"From: \"Alice A\" <sip:alice@example.com>;tag=a1\r\nTo: <sip:alice@example.com>\r\nCall-ID: c1@192.0.2.10\r\n" +
		"CSeq: 7 REGISTER\r\nContact: <sip:alice@192.0.2.10:5060;transport=udp;ob>;expires=3600;+sip.instance=\"<urn:uuid:1>\"\r\n" +
		"Expires: 3600\r\nUser-Agent: phone 1.0\r\nContent-Length: 0\r\n\r\n",
	"INVITE sips:bob@[2001:db8::1]:5061;lr?subject=x%20y&h=1 SIP/2.0\r\nVia: SIP/2.0/TLS [2001:db8::2]:5061;branch=z9hG4bK-2;received=2001:db8::9\r\n" +
		"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK-3;maddr=\"a b\"\r\nFrom: <tel:+15551234;phone-context=example.com>;tag=t\r\n" +
		"To: Bob <sip:bob:secret@example.com>\r\nCall-ID: c2\r\nCSeq: 1 INVITE\r\nContact: *\r\nRecord-Route: <sip:p.example.com;lr>\r\n" +
		"Route: <sip:q.example.com;lr>\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n",
	"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-4\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\n" +
		"Call-ID: x\r\nCSeq: 2 REGISTER\r\nWWW-Authenticate: Digest realm=\"b\", nonce=\"n\"\r\nContent-Length: 0\r\n\r\n",
	"OPTIONS sip:[::1] SIP/2.0\r\nv: SIP/2.0/UDP ::1;branch=z9hG4bK-5\r\nf: <sip:x@::1>;tag=1\r\nt: <sip:y@[::1]:5060>\r\ni: c5\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n",
}

// FuzzWriteMessage: WriteMessage writes byte for byte what sipgo's
// StringWrite writes, for a message parsed as is and for locus's reply to
// a request carrying every header of that request.
func FuzzWriteMessage(f *testing.F) {
	for _, s := range wireSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		msg, err := sip.NewParser().ParseSIP(raw)
		if err != nil {
			return
		}
		same(t, msg)
		var res *sip.Response
		switch msg := msg.(type) {
		case *sip.Response:
			return
		case *sip.Request:
			msg.SetSource("192.0.2.99:5099")
			msg.SetTransport("UDP")
			m := NewMsg(msg, func(*sip.Response) error { return nil })
			res = m.newResponse(200, "OK")
			for _, h := range msg.Headers() {
				res.AppendHeader(h)
			}
			res.SetBody(msg.Body())
		default:
			return
		}
		same(t, res)
	})
}

func same(t *testing.T, msg sip.Message) {
	t.Helper()
	var got, want bytes.Buffer
	WriteMessage(&got, msg)
	msg.StringWrite(&want)
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("WriteMessage:\n%q\nsipgo:\n%q", got.String(), want.String())
	}
}

// TestWriteMessageAllocations: a typical reply is written without an
// allocation once the buffer has grown.
func TestWriteMessageAllocations(t *testing.T) {
	msg, err := sip.NewParser().ParseSIP([]byte(wireSeeds[0]))
	if err != nil {
		t.Fatal(err)
	}
	req := msg.(*sip.Request)
	req.SetSource("192.0.2.10:5060")
	req.SetTransport("UDP")
	res := NewMsg(req, nil).newResponse(200, "OK")
	res.AppendHeader(sip.NewHeader("Contact", "<sip:alice@192.0.2.10:5060>;expires=3600"))
	var w bytes.Buffer
	WriteMessage(&w, res)
	if !strings.HasPrefix(w.String(), "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport=5060") {
		t.Fatalf("reply: %q", w.String())
	}
	if n := testing.AllocsPerRun(100, func() { w.Reset(); WriteMessage(&w, res) }); n != 0 {
		t.Fatalf("%v allocations per reply", n)
	}
}

// BenchmarkWriteMessage compares WriteMessage with sipgo's StringWrite on
// a registrar's 200 OK.
func BenchmarkWriteMessage(b *testing.B) {
	msg, err := sip.NewParser().ParseSIP([]byte(wireSeeds[0]))
	if err != nil {
		b.Fatal(err)
	}
	req := msg.(*sip.Request)
	req.SetSource("192.0.2.10:5060")
	req.SetTransport("UDP")
	res := NewMsg(req, nil).newResponse(200, "OK")
	res.AppendHeader(sip.NewHeader("Contact", "<sip:alice@192.0.2.10:5060>;expires=3600"))
	res.AppendHeader(sip.NewHeader("Content-Length", "0"))
	var w bytes.Buffer
	b.Run("locus", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w.Reset()
			WriteMessage(&w, res)
		}
	})
	b.Run("sipgo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			w.Reset()
			res.StringWrite(&w)
		}
	})
}
