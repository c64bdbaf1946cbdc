package xlog_test

import (
	"log/slog"
	"testing"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/sl"
	"github.com/locus-sip/locus/modules/xlog"
)

func TestLua(t *testing.T) {
	c := newCapture(slog.LevelDebug)
	x := xlog.NewWithLogger(slog.New(c), nil)
	src := `
KSR.xlog.xinfo("loaded $ru\n")
function ksr_request_route()
	local rcs = {
		KSR.xlog.xdbg("dbg $rm"),
		KSR.xlog.xinfo("info $fu"),
		KSR.xlog.xnotice("notice $si"),
		KSR.xlog.xwarn("warn $sp"),
		KSR.xlog.xerr("err $ci"),
		KSR.xlog.xcrit("crit $ua"),
		KSR.xlog.xalert("alert $hdr(Expires)"),
		KSR.xlog.xlog("L_WARN", "xlog $var(x)"),
		KSR.xlog.xlog("nonsense", "default level is L_ERR"),
	}
	for i, rc in ipairs(rcs) do
		if rc ~= 1 then error("call " .. i .. " returned " .. tostring(rc)) end
	end
	if KSR.xlog.xerr("bad $") ~= -1 then error("a bad format was accepted") end
	KSR.sl.send_reply(200, "OK")
end`
	rec, _ := coretest.Route(t, src, coretest.Register, coretest.Export("xlog", x), coretest.Export("sl", &sl.SL{}))
	if rec.Code() != 200 {
		t.Fatalf("reply %d, want 200 (a return code check failed):\n%s", rec.Code(), c)
	}
	for _, want := range []string{
		"INFO loaded <null>",
		"DEBUG dbg REGISTER",
		"INFO info sip:alice@example.com",
		"INFO notice 192.0.2.10",
		"WARN warn 5060",
		"ERROR err c1@192.0.2.10",
		"ERROR crit coretest",
		"ERROR alert 3600",
		"WARN xlog 0",
		"ERROR default level is L_ERR",
		"ERROR xlog: bad format",
	} {
		if !c.has(want) {
			t.Errorf("%q not logged:\n%s", want, c)
		}
	}
}

func TestLuaArgumentErrors(t *testing.T) {
	for _, call := range []string{`KSR.xlog.xinfo()`, `KSR.xlog.xlog("L_INFO")`, `KSR.xlog.xwarn({})`} {
		src := "function ksr_request_route() " + call + " KSR.sl.send_reply(200, 'OK') end"
		rec, _ := coretest.Route(t, src, coretest.Register, coretest.Export("xlog", xlog.New()), coretest.Export("sl", &sl.SL{}))
		if rec.Code() != 500 {
			t.Errorf("%s: reply %d, want the fallback 500 for a script error", call, rec.Code())
		}
	}
}
