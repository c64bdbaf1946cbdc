package nathelper_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
)

// req describes a test request; zero fields take defaults.
type req struct {
	method  string   // INVITE
	ruri    string   // sip:bob@example.com
	via     string   // Via sent-by, 203.0.113.5:40000
	contact []string // Contact values, <sip:alice@203.0.113.5:40000>; "-" for none
	ctype   string   // Content-Type, "" for none
	body    string
	src     string // source ip:port, 203.0.113.5:40000
	proto   string // transport, udp
}

// msg builds the core.Msg of r.
func (r req) msg(t testing.TB) *core.Msg {
	t.Helper()
	m, _ := r.msgRec(t)
	return m
}

// msgRec builds the core.Msg of r and the recorder of its replies.
func (r req) msgRec(t testing.TB) (*core.Msg, *coretest.Recorder) {
	t.Helper()
	r = r.defaults()
	m, rec := coretest.Msg(t, r.raw())
	setSource(t, m, r.src, r.proto)
	return m, rec
}

func (r req) defaults() req {
	if r.method == "" {
		r.method = "INVITE"
	}
	if r.ruri == "" {
		r.ruri = "sip:bob@example.com"
	}
	if r.via == "" {
		r.via = "203.0.113.5:40000"
	}
	if r.contact == nil {
		r.contact = []string{"<sip:alice@203.0.113.5:40000>"}
	}
	if r.src == "" {
		r.src = "203.0.113.5:40000"
	}
	if r.proto == "" {
		r.proto = "udp"
	}
	return r
}

// raw is the request's text.
func (r req) raw() string {
	r = r.defaults()
	var b strings.Builder
	b.WriteString(r.method + " " + r.ruri + " SIP/2.0\n")
	b.WriteString("Via: SIP/2.0/" + strings.ToUpper(r.proto) + " " + r.via + ";branch=z9hG4bK-nh\n")
	b.WriteString("Max-Forwards: 70\nFrom: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>\n")
	b.WriteString("Call-ID: nh-1@example.com\nCSeq: 1 " + r.method + "\n")
	for _, c := range r.contact {
		if c != "-" {
			b.WriteString("Contact: " + c + "\n")
		}
	}
	if r.ctype != "" {
		b.WriteString("Content-Type: " + r.ctype + "\n")
	}
	body := strings.ReplaceAll(r.body, "\n", "\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\n\n")
	return strings.ReplaceAll(b.String(), "\n", "\r\n") + body
}

// setSource sets where m came from.
func setSource(t testing.TB, m *core.Msg, src, proto string) {
	t.Helper()
	i := strings.LastIndexByte(src, ':')
	port, err := strconv.Atoi(src[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	m.SrcIP, m.SrcPort, m.Transport = strings.Trim(src[:i], "[]"), port, proto
}

// contacts returns the Contact header values of m, in order.
func contacts(m *core.Msg) []string {
	var out []string
	for _, h := range m.Req.GetHeaders("Contact") {
		out = append(out, h.Value())
	}
	return out
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
