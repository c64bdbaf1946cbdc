package pv

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// uriString must render exactly what sipgo puts on the wire.
func TestURIStringMatchesSipgo(t *testing.T) {
	for _, s := range []string{
		"sip:example.com",
		"sip:alice@example.com",
		"sips:alice@example.com:5061",
		"sip:alice:secret@example.com",
		"sip:alice@192.0.2.1:5060;transport=udp;lr",
		"sip:alice@[2001:db8::1]:5060;transport=tcp",
		"sip:[::1]",
		"sip:alice@example.com;user=phone?Subject=hi&Priority=urgent",
		"sip://alice@example.com",
		"tel:+15551234;phone-context=example.com",
		"urn:service:sos",
		"SIP:Alice@Example.COM",
	} {
		var u sip.Uri
		if err := sip.ParseUri(s, &u); err != nil {
			t.Fatalf("ParseUri(%q): %v", s, err)
		}
		if got, want := uriString(&u), u.String(); got != want {
			t.Errorf("uriString(%q) = %q, sipgo writes %q", s, got, want)
		}
	}
	// Values sipgo quotes, a bare IPv6 host set by code, no scheme.
	for _, u := range []sip.Uri{
		{Scheme: "sip", Host: "example.com", UriParams: sip.HeaderParams{{K: "x", V: "a b"}, {K: "y", V: ""}}},
		{Scheme: "sip", User: "bob", Host: "2001:db8::2", Port: 5070},
		{Host: "example.com", Port: 65535},
	} {
		if got, want := uriString(&u), u.String(); got != want {
			t.Errorf("uriString(%+v) = %q, sipgo writes %q", u, got, want)
		}
	}
}

func TestURIStringAllocatesOnce(t *testing.T) {
	var u sip.Uri
	if err := sip.ParseUri("sip:alice@192.0.2.1:5060;transport=udp;lr?X=1", &u); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = uriString(&u) }); n != 1 {
		t.Fatalf("uriString allocates %v times, want 1", n)
	}
}

func TestNormHost(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"example.com", "example.com", true},
		{"192.0.2.1", "192.0.2.1", true},
		{"[2001:db8::1]", "[2001:db8::1]", true},
		{"2001:db8::1", "[2001:db8::1]", true},
		{"Host-1.Example.COM", "Host-1.Example.COM", true},
		{"", "", false},
		{"[192.0.2.1]", "", false},
		{"[2001:db8::1", "", false},
		{"example.com:5060", "", false},
		{"exa mple.com", "", false},
		{"example.com\r\n", "", false},
		{"a_b.example.com", "", false},
		{"ex@mple.com", "", false},
	}
	for _, tc := range cases {
		got, err := normHost(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("normHost(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestValidUser(t *testing.T) {
	cases := []struct {
		in string
		ok bool
	}{
		{"alice", true},
		{"+15551234", true},
		{"a.b-c_d!~*'()", true},
		{"a&b=c+d$e,f;g?h/i", true},
		{"%41lice", true},
		{"", false},
		{"a@b", false},
		{"a:b", false},
		{"a b", false},
		{"a<b", false},
		{"a%4", false},
		{"a%zz", false},
		{"a\r\n", false},
		{"j\xc3\xbcrgen", false},
	}
	for _, tc := range cases {
		if got := validUser(tc.in); got != tc.ok {
			t.Errorf("validUser(%q) = %v, want %v", tc.in, got, tc.ok)
		}
	}
}

func TestParsePort(t *testing.T) {
	cases := []struct {
		in   string
		want int
		ok   bool
	}{
		{"5060", 5060, true}, {"1", 1, true}, {"65535", 65535, true},
		{"0", 0, false}, {"65536", 0, false}, {"99999", 0, false}, {"123456", 0, false},
		{"", 0, false}, {"-1", 0, false}, {"+5", 0, false}, {"50 60", 0, false}, {"5060\r\n", 0, false},
	}
	for _, tc := range cases {
		got, err := parsePort(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parsePort(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestToInt(t *testing.T) {
	cases := []struct {
		v    Value
		want int
	}{
		{IntValue(-3), -3}, {StrValue("42"), 42}, {StrValue("12ab"), 12}, {StrValue("-7"), -7},
		{StrValue(" 12"), 0}, {StrValue("abc"), 0}, {StrValue(""), 0}, {StrValue("-"), 0}, {Value{}, 0},
	}
	for _, tc := range cases {
		if got := toInt(tc.v); got != tc.want {
			t.Errorf("toInt(%v) = %d, want %d", tc.v, got, tc.want)
		}
	}
}
