package sl_test

import (
	"testing"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/sl"
)

func TestSendReply(t *testing.T) {
	ex := coretest.Export("sl", &sl.SL{})
	cases := []struct {
		name   string
		route  string
		code   int
		reason string
	}{
		{"send_reply", `KSR.sl.send_reply(403, "Go Away")`, 403, "Go Away"},
		{"sl_send_reply", `KSR.sl.sl_send_reply(200, "OK")`, 200, "OK"},
		{"empty reason uses the standard phrase", `KSR.sl.send_reply(404, "")`, 404, "Not Found"},
		{"second final reply refused", `KSR.sl.send_reply(202, "A"); if KSR.sl.send_reply(500, "B") ~= -1 then error("second reply accepted") end`, 202, "A"},
		{"code out of range is refused, fallback 500", `if KSR.sl.send_reply(99, "x") ~= -1 then error("accepted") end`, 500, "Server Internal Error"},
		{"reason with CRLF is refused", `if KSR.sl.send_reply(200, "OK\r\nX: y") ~= -1 then error("accepted") end`, 500, "Server Internal Error"},
		{"sl_reply_error without error is 500", `KSR.sl.sl_reply_error()`, 500, "Server Internal Error"},
		{"provisional then final", `KSR.sl.send_reply(100, "Trying"); KSR.sl.send_reply(200, "OK")`, 200, "OK"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, _ := coretest.Route(t, "function ksr_request_route()\n"+tc.route+"\nend", coretest.Register, ex)
			f := rec.Final()
			if f == nil {
				t.Fatalf("no final reply; replies=%v", rec.Replies)
			}
			if f.StatusCode != tc.code || f.Reason != tc.reason {
				t.Fatalf("got %d %q, want %d %q", f.StatusCode, f.Reason, tc.code, tc.reason)
			}
			finals := 0
			for _, r := range rec.Replies {
				if r.StatusCode >= 200 {
					finals++
				}
			}
			if finals != 1 {
				t.Fatalf("%d final replies, want exactly 1", finals)
			}
		})
	}
}

// Ported scripts pass codes as strings, as Kamailio's KEMI accepts.
func TestStringCode(t *testing.T) {
	src := `function ksr_request_route() KSR.sl.send_reply("404", "Not Found") end`
	if rec, _ := coretest.Route(t, src, coretest.Register, coretest.Export("sl", &sl.SL{})); rec.Code() != 404 {
		t.Fatalf("string code: %d, want 404", rec.Code())
	}
	src = `function ksr_request_route() KSR.sl.send_reply("four", "Not Found") end`
	if rec, _ := coretest.Route(t, src, coretest.Register, coretest.Export("sl", &sl.SL{})); rec.Code() != 500 {
		t.Fatalf("non-numeric code: %d, want the script error's 500", rec.Code())
	}
}
