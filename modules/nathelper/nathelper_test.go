package nathelper_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/locus-sip/locus/modules/nathelper"
)

const (
	sdpPrivate = "v=0\no=- 1 1 IN IP4 192.168.1.10\ns=-\nc=IN IP4 192.168.1.10\nt=0 0\nm=audio 4000 RTP/AVP 0\n"
	sdpPublic  = "v=0\no=- 1 1 IN IP4 203.0.113.5\ns=-\nc=IN IP4 203.0.113.5\nt=0 0\nm=audio 4000 RTP/AVP 0\n"
	sdpHold    = "v=0\no=- 1 1 IN IP4 203.0.113.5\ns=-\nc=IN IP4 0.0.0.0\nt=0 0\nm=audio 4000 RTP/AVP 0\n"
	sdpMedia   = "v=0\no=- 1 1 IN IP4 203.0.113.5\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\nc=IN IP4 10.0.0.7/127\n"
	sdpOther   = "v=0\no=- 1 1 IN IP4 198.51.100.9\ns=-\nc=IN IP4 198.51.100.9\nt=0 0\nm=audio 4000 RTP/AVP 0\n"
)

func TestUACTest(t *testing.T) {
	const all = nathelper.AllTests
	cases := []struct {
		name  string
		r     req
		mode  int
		flags int
		want  int
	}{
		{"nothing behind NAT", req{}, 1, all, 0},
		{"flags 0 tests nothing", req{contact: []string{"<sip:a@192.168.1.10>"}, via: "192.168.1.10"}, 1, 0, 0},

		{"1: contact RFC 1918", req{contact: []string{"<sip:a@192.168.1.10:5060>"}}, 1, 1, 1},
		{"1: contact 172.16/12", req{contact: []string{"<sip:a@172.31.255.1:5060>"}}, 1, 1, 1},
		{"1: contact 172.32 is public", req{contact: []string{"<sip:a@172.32.0.1:5060>"}}, 1, 1, 0},
		{"1: contact RFC 6598", req{contact: []string{"<sip:a@100.64.1.1:5060>"}}, 1, 1, 1},
		{"1: contact 192.0.0.0/29", req{contact: []string{"<sip:a@192.0.0.5:5060>"}}, 0, 1, 1},
		{"1: contact 192.0.0.9, nat_addr_mode 1", req{contact: []string{"<sip:a@192.0.0.9:5060>"}}, 1, 1, 1},
		{"1: contact 192.0.0.9, nat_addr_mode 0", req{contact: []string{"<sip:a@192.0.0.9:5060>"}}, 0, 1, 0},
		{"1: contact host name", req{contact: []string{"<sip:a@phone.example.com>"}}, 1, 1, 0},
		{"1: contact IPv6 ULA is not tested", req{contact: []string{"<sip:a@[fd00::1]:5060>"}}, 1, 1, 0},
		{"1: only the first contact", req{contact: []string{"<sip:a@203.0.113.5:40000>", "<sip:b@10.0.0.1>"}}, 1, 1, 0},
		{"1: wildcard", req{method: "REGISTER", contact: []string{"*"}}, 1, 1 | 128, 0},
		{"1: no contact", req{contact: []string{"-"}}, 1, 1 | 128, 0},

		{"2: Via is not the source", req{via: "192.168.1.10:40000"}, 1, 2, 2},
		{"2: Via host name", req{via: "phone.example.com:40000"}, 1, 2, 2},
		{"2: Via is the source", req{}, 1, 2, 0},
		{"2: IPv6 Via is the source", req{via: "[2001:db8::5]:40000", src: "[2001:db8::5]:40000"}, 1, 2 | 16, 0},

		{"4: Via private", req{via: "10.1.2.3:40000"}, 1, 4, 4},
		{"4: Via public", req{via: "198.51.100.1:40000"}, 1, 4, 0},

		{"8: SDP private", req{ctype: "application/sdp", body: sdpPrivate}, 1, 8, 8},
		{"8: SDP media-level c= private", req{ctype: "application/sdp", body: sdpMedia}, 1, 8, 8},
		{"8: SDP public", req{ctype: "application/sdp", body: sdpPublic}, 1, 8, 0},
		{"8: SDP on hold", req{ctype: "application/sdp", body: sdpHold}, 1, 8, 0},
		{"8: not SDP", req{ctype: "text/plain", body: sdpPrivate}, 1, 8 | 256, 0},
		{"8: SDP without Content-Type", req{body: sdpPrivate}, 1, 8, 8},
		{"8: Content-Type with parameters", req{ctype: "Application/SDP; charset=utf-8", body: sdpPrivate}, 1, 8, 8},
		{"8: no body", req{}, 1, 8 | 256, 0},

		{"16: source port is not the Via port", req{via: "203.0.113.5:5060"}, 1, 16, 16},
		{"16: Via without port, source 5060", req{via: "203.0.113.5", src: "203.0.113.5:5060"}, 1, 16, 0},
		{"16: Via without port, source 40000", req{via: "203.0.113.5"}, 1, 16, 16},

		{"32: source private", req{src: "10.9.8.7:5060", via: "10.9.8.7:5060"}, 1, 32, 32},
		{"32: source public", req{}, 1, 32, 0},

		{"64: WebSocket", req{proto: "ws"}, 1, 64, 64},
		{"64: secure WebSocket", req{proto: "wss"}, 1, 64, 64},
		{"64: TCP", req{proto: "tcp"}, 1, 64, 0},

		{"128: contact port differs", req{contact: []string{"<sip:a@203.0.113.5:5062>"}}, 1, 128, 128},
		{"128: contact without port, source 5060", req{contact: []string{"<sip:a@203.0.113.5>"}, src: "203.0.113.5:5060", via: "203.0.113.5"}, 1, 128, 0},

		{"256: SDP c= is the source", req{ctype: "application/sdp", body: sdpPublic}, 1, 256, 0},
		{"256: SDP c= elsewhere", req{ctype: "application/sdp", body: sdpOther}, 1, 256, 256},

		{"19: the port test answers", req{via: "203.0.113.5:5060"}, 1, 19, 16},
		{"19: none", req{}, 1, 19, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := &nathelper.NATHelper{NATAddrMode: tc.mode}
			if got := n.UACTest(tc.r.msg(t), tc.flags); got != tc.want {
				t.Fatalf("UACTest(%d) = %d, want %d", tc.flags, got, tc.want)
			}
		})
	}
}

func TestIsRFC1918(t *testing.T) {
	cases := []struct {
		ip          string
		mode1, mod0 int
	}{
		{"10.0.0.1", 1, 1},
		{"10.255.255.255", 1, 1},
		{"172.16.0.1", 1, 1},
		{"172.15.255.255", -1, -1},
		{"172.32.0.1", -1, -1},
		{"192.168.0.1", 1, 1},
		{"192.169.0.1", -1, -1},
		{"100.64.0.1", 1, 1},
		{"100.127.255.255", 1, 1},
		{"100.128.0.1", -1, -1},
		{"192.0.0.7", 1, 1},
		{"192.0.0.8", 1, -1},
		{"192.0.0.255", 1, -1},
		{"192.0.1.1", -1, -1},
		{"8.8.8.8", -1, -1},
		{"", -1, -1},
		{"10.0.0", -1, -1},
		{"10.0.0.1 ", -1, -1},
		{"fd00::1", -1, -1},
		{"::ffff:10.0.0.1", -1, -1},
		{"example.com", -1, -1},
	}
	for _, tc := range cases {
		t.Run(tc.ip, func(t *testing.T) {
			if got := (&nathelper.NATHelper{NATAddrMode: 1}).IsRFC1918(tc.ip); got != tc.mode1 {
				t.Errorf("nat_addr_mode 1: %d, want %d", got, tc.mode1)
			}
			if got := (&nathelper.NATHelper{NATAddrMode: 0}).IsRFC1918(tc.ip); got != tc.mod0 {
				t.Errorf("nat_addr_mode 0: %d, want %d", got, tc.mod0)
			}
		})
	}
}

func TestFixNatedContact(t *testing.T) {
	cases := []struct {
		name    string
		r       req
		want    []string
		wantErr error
	}{
		{"host and port", req{contact: []string{"<sip:alice@192.168.1.10:5062;transport=tcp>;expires=60", "<sip:alice@192.168.1.10:5070>"}},
			[]string{"<sip:alice@203.0.113.5:40000;transport=tcp>;expires=60", "<sip:alice@192.168.1.10:5070>"}, nil},
		{"no port", req{contact: []string{"<sip:alice@192.168.1.10>"}}, []string{"<sip:alice@203.0.113.5:40000>"}, nil},
		{"maddr dropped", req{contact: []string{"<sip:alice@192.168.1.10;maddr=10.0.0.1;lr>"}}, []string{"<sip:alice@203.0.113.5:40000;lr>"}, nil},
		{"IPv6 source", req{contact: []string{"<sip:alice@[fd00::7]:5060>"}, src: "[2001:db8::5]:40000", via: "[fd00::7]"},
			[]string{"<sip:alice@[2001:db8::5]:40000>"}, nil},
		{"no contact", req{contact: []string{"-"}}, nil, nathelper.ErrNoContact},
		{"wildcard", req{method: "REGISTER", contact: []string{"*"}}, []string{"*"}, nathelper.ErrNoContact},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.r.msg(t)
			err := nathelper.New().FixNatedContact(m)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if got := contacts(m); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("contacts %q, want %q", got, tc.want)
			}
			if err == nil {
				// The serialised request carries the change, and the
				// source no longer looks like NAT to the Contact tests.
				if s := m.Req.String(); !strings.Contains(s, "Contact: "+tc.want[0]+"\r\n") {
					t.Errorf("request does not carry the new Contact:\n%s", s)
				}
				if got := nathelper.New().UACTest(m, nathelper.TestContactPrivate|nathelper.TestContactPort); got != 0 {
					t.Errorf("after the fix, nat_uac_test answers %d", got)
				}
			}
		})
	}
}

func TestFixNatedRegister(t *testing.T) {
	cases := []struct {
		src, proto, want string
	}{
		{"203.0.113.5:40000", "udp", "sip:203.0.113.5:40000"},
		{"203.0.113.5:40001", "tcp", "sip:203.0.113.5:40001;transport=tcp"},
		{"[2001:db8::5]:5061", "tls", "sip:[2001:db8::5]:5061;transport=tls"},
		{"203.0.113.5:443", "wss", "sip:203.0.113.5:443;transport=wss"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			m := req{method: "REGISTER", src: tc.src, proto: tc.proto}.msg(t)
			if _, ok := nathelper.Received(m); ok {
				t.Fatal("received recorded before the call")
			}
			u, err := nathelper.New().FixNatedRegister(m)
			if err != nil || u != tc.want {
				t.Fatalf("FixNatedRegister = %q, %v; want %q", u, err, tc.want)
			}
			if got, ok := nathelper.Received(m); !ok || got != tc.want {
				t.Fatalf("Received = %q, %v", got, ok)
			}
		})
	}
	m := req{}.msg(t)
	m.SrcIP = ""
	if _, err := nathelper.New().FixNatedRegister(m); !errors.Is(err, nathelper.ErrNoSource) {
		t.Fatalf("without a source: %v", err)
	}
}

func TestAddRcvParam(t *testing.T) {
	two := []string{"<sip:alice@192.168.1.10:5062>;expires=60", "<sip:alice@192.168.1.10:5070>"}
	cases := []struct {
		name     string
		r        req
		uriParam bool
		want     []string
		wantErr  error
	}{
		{"header parameter, every contact", req{contact: two}, false, []string{
			`<sip:alice@192.168.1.10:5062>;expires=60;received="sip:203.0.113.5:40000"`,
			`<sip:alice@192.168.1.10:5070>;received="sip:203.0.113.5:40000"`}, nil},
		{"TCP", req{contact: two[1:], proto: "tcp"}, false, []string{
			`<sip:alice@192.168.1.10:5070>;received="sip:203.0.113.5:40000;transport=tcp"`}, nil},
		{"URI parameter", req{contact: two[1:]}, true, []string{
			`<sip:alice@192.168.1.10:5070;received=sip:203.0.113.5:40000>`}, nil},
		{"URI parameter needs UDP", req{contact: two[1:], proto: "tcp"}, true, []string{"<sip:alice@192.168.1.10:5070>"}, nathelper.ErrNotUDP},
		{"no contact", req{contact: []string{"-"}}, false, nil, nathelper.ErrNoContact},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.r.msg(t)
			n, err := nathelper.New().AddRcvParam(m, tc.uriParam)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if err == nil && n != len(tc.want) {
				t.Errorf("%d contacts changed, want %d", n, len(tc.want))
			}
			if got := contacts(m); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("contacts %q\nwant     %q", got, tc.want)
			}
		})
	}
}

func TestContactAlias(t *testing.T) {
	n := nathelper.New()
	m := req{contact: []string{"<sip:alice@192.168.1.10:5062;ob>;expires=60"}, proto: "tcp"}.msg(t)
	if err := n.SetContactAlias(m); err != nil {
		t.Fatal(err)
	}
	if got := contacts(m)[0]; got != "<sip:alice@192.168.1.10:5062;ob;alias=203.0.113.5~40000~2>;expires=60" {
		t.Fatalf("set_contact_alias: %q", got)
	}
	// A second call replaces the alias rather than adding another.
	setSource(t, m, "203.0.113.6:40002", "udp")
	if err := n.SetContactAlias(m); err != nil || contacts(m)[0] != "<sip:alice@192.168.1.10:5062;ob;alias=203.0.113.6~40002~1>;expires=60" {
		t.Fatalf("second set_contact_alias: %v %q", err, contacts(m))
	}

	cases := []struct {
		name    string
		r       req
		added   bool
		contact string
	}{
		{"source matches", req{contact: []string{"<sip:alice@203.0.113.5:40000>"}}, false, "<sip:alice@203.0.113.5:40000>"},
		{"source matches, transport=udp", req{contact: []string{"<sip:alice@203.0.113.5:40000;transport=UDP>"}}, false, "<sip:alice@203.0.113.5:40000;transport=UDP>"},
		{"port differs", req{contact: []string{"<sip:alice@203.0.113.5:5060>"}}, true, "<sip:alice@203.0.113.5:5060;alias=203.0.113.5~40000~1>"},
		{"transport differs", req{contact: []string{"<sip:alice@203.0.113.5:40000>"}, proto: "tls"}, true, "<sip:alice@203.0.113.5:40000;alias=203.0.113.5~40000~3>"},
		{"IPv6", req{contact: []string{"<sip:alice@[fd00::7]>"}, src: "[2001:db8::5]:40000"}, true, "<sip:alice@[fd00::7];alias=[2001:db8::5]~40000~1>"},
		{"no contact", req{contact: []string{"-"}}, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.r.msg(t)
			added, err := n.AddContactAlias(m)
			if err != nil || added != tc.added {
				t.Fatalf("added %v, %v; want %v", added, err, tc.added)
			}
			if got := strings.Join(contacts(m), "|"); got != tc.contact {
				t.Fatalf("contact %q, want %q", got, tc.contact)
			}
		})
	}
}

func TestAddContactAliasAddr(t *testing.T) {
	cases := []struct {
		ip, port, proto string
		want            string
		wantErr         error
	}{
		{"198.51.100.1", "5070", "TCP", "<sip:alice@192.168.1.10;alias=198.51.100.1~5070~2>", nil},
		{"[2001:db8::1]", "5060", "ws", "<sip:alice@192.168.1.10;alias=[2001:db8::1]~5060~5>", nil},
		{"example.com", "5060", "udp", "", nathelper.ErrBadArg},
		{"198.51.100.1", "0", "udp", "", nathelper.ErrBadArg},
		{"198.51.100.1", "65536", "udp", "", nathelper.ErrBadArg},
		{"198.51.100.1", "5060", "quic", "", nathelper.ErrBadArg},
	}
	for _, tc := range cases {
		t.Run(tc.ip+" "+tc.port+" "+tc.proto, func(t *testing.T) {
			m := req{contact: []string{"<sip:alice@192.168.1.10>"}}.msg(t)
			added, err := nathelper.New().AddContactAliasAddr(m, tc.ip, tc.port, tc.proto)
			if !errors.Is(err, tc.wantErr) || added != (tc.wantErr == nil) {
				t.Fatalf("added %v, error %v; want error %v", added, err, tc.wantErr)
			}
			if tc.want != "" && contacts(m)[0] != tc.want {
				t.Fatalf("contact %q, want %q", contacts(m)[0], tc.want)
			}
			if tc.want == "" && contacts(m)[0] != "<sip:alice@192.168.1.10>" {
				t.Fatalf("contact changed on error: %q", contacts(m)[0])
			}
		})
	}
}

func TestParseAlias(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"203.0.113.5~40000~1", "sip:203.0.113.5:40000"},
		{"203.0.113.5~40000~2", "sip:203.0.113.5:40000;transport=tcp"},
		{"203.0.113.5~5061~3", "sip:203.0.113.5:5061;transport=tls"},
		{"203.0.113.5~5060~4", "sip:203.0.113.5:5060;transport=sctp"},
		{"203.0.113.5~80~5", "sip:203.0.113.5:80;transport=ws"},
		{"203.0.113.5~443~6", "sip:203.0.113.5:443;transport=wss"},
		{"[2001:db8::5]~40000~1", "sip:[2001:db8::5]:40000"},
		{"2001:db8::5~40000~1", "sip:[2001:db8::5]:40000"},
		{"203.0.113.5~40000~7", ""},
		{"203.0.113.5~40000~0", ""},
		{"203.0.113.5~40000~12", ""},
		{"203.0.113.5~40000", ""},
		{"203.0.113.5", ""},
		{"host.example.com~5060~1", ""},
		{"203.0.113.5~0~1", ""},
		{"203.0.113.5~65536~1", ""},
		{"203.0.113.5~+5060~1", ""},
		{"203.0.113.5~05060~1", ""},
		{"fe80::1%eth0~5060~1", ""},
		{"", ""},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := nathelper.ParseAlias(tc.in)
			if tc.want == "" {
				if !errors.Is(err, nathelper.ErrBadAlias) {
					t.Fatalf("ParseAlias = %q, %v; want ErrBadAlias", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseAlias = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestHandleRURIAlias(t *testing.T) {
	cases := []struct {
		name    string
		ruri    string
		found   bool
		wantErr error
		du      string
		after   string
	}{
		{"alias", "sip:alice@192.168.1.10:5062;alias=203.0.113.5~40000~2;lr", true, nil,
			"sip:203.0.113.5:40000;transport=tcp", "sip:alice@192.168.1.10:5062;lr"},
		{"no alias", "sip:alice@192.168.1.10:5062;lr", false, nil, "", "sip:alice@192.168.1.10:5062;lr"},
		{"bad alias is kept", "sip:alice@192.168.1.10;alias=nonsense", true, nathelper.ErrBadAlias, "", "sip:alice@192.168.1.10;alias=nonsense"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := req{ruri: tc.ruri}.msg(t)
			found, err := nathelper.New().HandleRURIAlias(m)
			if found != tc.found || !errors.Is(err, tc.wantErr) {
				t.Fatalf("found %v, error %v; want %v, %v", found, err, tc.found, tc.wantErr)
			}
			if m.DstURI != tc.du || m.Req.Recipient.String() != tc.after {
				t.Fatalf("$du %q, R-URI %q; want %q, %q", m.DstURI, m.Req.Recipient.String(), tc.du, tc.after)
			}
		})
	}
}
