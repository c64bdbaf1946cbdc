package rr_test

import (
	"strings"
	"testing"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/rr"
	"github.com/locus-sip/locus/modules/siputils"
	"github.com/locus-sip/locus/modules/sl"
)

// myself is locus on 198.51.100.1:5060 (and 5080).
func myself(host string, port int) bool {
	return host == "198.51.100.1" && (port == 0 || port == 5060 || port == 5080)
}

const bye = `BYE sip:bob@192.0.2.20:5062 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-bye
ROUTES
Max-Forwards: 70
From: <sip:alice@example.com>;tag=a
To: <sip:bob@example.com>;tag=b
Call-ID: d1
CSeq: 2 BYE
Content-Length: 0

`

func TestLooseRoute(t *testing.T) {
	cases := []struct {
		name   string
		ruri   string
		routes string
		rc     int
		ru     string   // Request-URI after
		left   []string // Route values after
	}{
		{"no route", "", "", -1, "sip:bob@192.0.2.20:5062", nil},
		{"only locus", "", "Route: <sip:198.51.100.1;lr>", 1, "sip:bob@192.0.2.20:5062", nil},
		{"double record-route", "", "Route: <sip:198.51.100.1:5060;lr>\nRoute: <sip:198.51.100.1:5080;transport=tcp;lr>", 1, "sip:bob@192.0.2.20:5062", nil},
		{"locus then next proxy", "", "Route: <sip:198.51.100.1;lr>, <sip:203.0.113.9;lr>", 1, "sip:bob@192.0.2.20:5062", []string{"<sip:203.0.113.9;lr>"}},
		{"preloaded elsewhere", "", "Route: <sip:203.0.113.9;lr>", 1, "sip:bob@192.0.2.20:5062", []string{"<sip:203.0.113.9;lr>"}},
		{"strict router upstream", "sip:198.51.100.1;lr", "Route: <sip:203.0.113.9;lr>\nRoute: <sip:bob@192.0.2.20:5062>", 1, "sip:bob@192.0.2.20:5062", []string{"<sip:203.0.113.9;lr>"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := strings.Replace(bye, "ROUTES\n", tc.routes+"\n", 1)
			if tc.routes == "" {
				raw = strings.Replace(bye, "ROUTES\n", "", 1)
			}
			if tc.ruri != "" {
				raw = strings.Replace(raw, "BYE sip:bob@192.0.2.20:5062 ", "BYE "+tc.ruri+" ", 1)
			}
			m, _ := coretest.Msg(t, strings.ReplaceAll(raw, "\n", "\r\n"))
			r := &rr.RR{Myself: myself}
			if rc := r.LooseRoute(m); rc != tc.rc {
				t.Fatalf("loose_route = %d, want %d", rc, tc.rc)
			}
			if got := m.Req.Recipient.String(); got != tc.ru {
				t.Errorf("Request-URI %s, want %s", got, tc.ru)
			}
			var left []string
			for _, h := range m.Req.GetHeaders("Route") {
				left = append(left, h.Value())
			}
			if strings.Join(left, ",") != strings.Join(tc.left, ",") {
				t.Errorf("Routes left %v, want %v", left, tc.left)
			}
		})
	}
}

func TestRecordRoute(t *testing.T) {
	r := &rr.RR{Myself: myself}
	m, _ := coretest.Msg(t, coretest.Register)
	if rc := r.RecordRoute(m); rc != -1 || m.RecordRouted {
		t.Errorf("REGISTER record-routed (%d)", rc)
	}
	inv := strings.Replace(strings.Replace(coretest.Register, "REGISTER sip:example.com", "INVITE sip:bob@example.com", 1), "CSeq: 1 REGISTER", "CSeq: 1 INVITE", 1)
	m, _ = coretest.Msg(t, inv)
	if rc := r.RecordRoute(m); rc != 1 || !m.RecordRouted {
		t.Errorf("INVITE not record-routed (%d)", rc)
	}
}

func TestREADME(t *testing.T) {
	r := &rr.RR{Myself: myself}
	for _, src := range coretest.CheckREADME(t, "README.md", "rr", r.LuaExports()) {
		rec, m := coretest.Route(t, src, coretest.Register, coretest.Export("rr", r),
			coretest.Export("siputils", &siputils.SipUtils{}), coretest.Export("sl", &sl.SL{}))
		if rec.Code() != 403 || m.RecordRouted {
			t.Fatalf("example answered %d (record-routed %v), want 403", rec.Code(), m.RecordRouted)
		}
	}
}
