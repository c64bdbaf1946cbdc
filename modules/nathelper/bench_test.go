package nathelper_test

import (
	"testing"

	"github.com/locus-sip/locus/modules/nathelper"
)

var sinkInt int

// BenchmarkUACTest is nat_uac_test on a NATed REGISTER: the usual 19
// (Contact, Via received, Via port) and every test with an SDP body.
func BenchmarkUACTest(b *testing.B) {
	n := nathelper.New()
	cases := []struct {
		name  string
		r     req
		flags int
	}{
		{"19 not NATed", req{method: "REGISTER"}, 19},
		{"19 NATed contact", req{method: "REGISTER", via: "192.168.1.10:5060", contact: []string{"<sip:alice@192.168.1.10:5060>"}}, 1},
		{"all with SDP", req{ctype: "application/sdp", body: sdpPublic}, nathelper.AllTests},
	}
	for _, tc := range cases {
		m := tc.r.msg(b)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkInt = n.UACTest(m, tc.flags)
			}
		})
	}
}

func BenchmarkIsRFC1918(b *testing.B) {
	n := nathelper.New()
	b.ReportAllocs()
	for b.Loop() {
		sinkInt = n.IsRFC1918("192.168.1.10")
	}
}

// BenchmarkFixNatedContact rewrites a Contact: each call copies the
// header and edits the copy, so repeating it on one request measures the
// same work.
func BenchmarkFixNatedContact(b *testing.B) {
	n := nathelper.New()
	m := req{method: "REGISTER", contact: []string{"<sip:alice@192.168.1.10:5060;transport=udp>;expires=3600"}}.msg(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := n.FixNatedContact(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAlias(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := nathelper.ParseAlias("203.0.113.5~40000~2"); err != nil {
			b.Fatal(err)
		}
	}
}
