package script_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/core/script"
	"github.com/prometheus/client_golang/prometheus"
	lua "github.com/yuin/gopher-lua"
)

// replyFuncs is a minimal KSR.sl for runtime tests.
var replyFuncs = script.Export{Name: "sl", Funcs: []core.LuaFunc{{
	Name: "send_reply",
	Fn: func(env *core.Env, L *lua.LState) int {
		if err := core.CheckMsg(env, L).Reply(L.CheckInt(1), L.CheckString(2)); err != nil {
			return core.LuaInt(L, -1)
		}
		return core.LuaInt(L, 1)
	},
}}}

func route(body string) string {
	return "function ksr_request_route()\n" + body + "\nend\n"
}

func TestSandboxRemovesDangerousLibraries(t *testing.T) {
	for _, name := range []string{"os", "io", "debug", "package", "require", "module", "dofile",
		"loadfile", "load", "loadstring", "collectgarbage", "coroutine", "_printregs"} {
		t.Run(name, func(t *testing.T) {
			rec, _ := coretest.Route(t, route(`
				if `+name+` ~= nil then KSR.sl.send_reply(500, "present") return end
				KSR.sl.send_reply(200, "absent")`), coretest.Register, replyFuncs)
			if f := rec.Final(); f == nil || f.Reason != "absent" {
				t.Fatalf("%s is reachable from the script: %v", name, rec.Replies)
			}
		})
	}
}

func TestSandboxKeepsSafeLibraries(t *testing.T) {
	rec, _ := coretest.Route(t, route(`
		local s = string.format("%d-%s", math.floor(2.5), table.concat({"a","b"}, ","))
		if s ~= "2-a,b" or ("x"):upper() ~= "X" then error("bad: " .. s) end
		KSR.sl.send_reply(200, s)`), coretest.Register, replyFuncs)
	if f := rec.Final(); f == nil || f.Reason != "2-a,b" {
		t.Fatalf("got %v", rec.Replies)
	}
}

func TestStringRepIsCapped(t *testing.T) {
	rec, _ := coretest.Route(t, route(`local s = string.rep("x", 300000000) KSR.sl.send_reply(200, "built")`),
		coretest.Register, replyFuncs)
	if rec.Code() != 500 {
		t.Fatalf("huge string.rep: got %d, want 500", rec.Code())
	}
	rec, _ = coretest.Route(t, route(`local s = ("ab"):rep(3) KSR.sl.send_reply(200, s)`), coretest.Register, replyFuncs)
	if f := rec.Final(); f == nil || f.Reason != "ababab" {
		t.Fatalf("small string.rep: got %v", rec.Replies)
	}
}

func newRuntime(t *testing.T, src string, timeout time.Duration, pool int) (*script.Runtime, string) {
	t.Helper()
	file := coretest.WriteScript(t, src)
	rt, err := script.New(script.Options{File: file, Timeout: timeout, PoolSize: pool, Exports: []script.Export{replyFuncs}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	return rt, file
}

func TestRunawayScriptGets500WithinDeadline(t *testing.T) {
	rt, _ := newRuntime(t, route(`
		if KSR.is_OPTIONS() then KSR.sl.send_reply(200, "alive") return end
		while true do end`), 50*time.Millisecond, 1)
	m, rec := coretest.Msg(t, coretest.Register)
	start := time.Now()
	err := rt.Route(m)
	elapsed := time.Since(start)
	if !errors.Is(err, script.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if elapsed > 500*time.Millisecond {
		t.Fatalf("runaway route stopped after %v, deadline 50ms", elapsed)
	}
	if rec.Final() != nil {
		t.Fatalf("runtime replied itself: %v", rec.Replies)
	}
	// The cancelled state is discarded: the single pool slot serves again.
	opt, rec := coretest.Msg(t, strings.Replace(coretest.Register, "REGISTER sip", "OPTIONS sip", 1))
	if err := rt.Route(opt); err != nil {
		t.Fatalf("route after timeout: %v", err)
	}
	if f := rec.Final(); f == nil || f.Reason != "alive" {
		t.Fatalf("after timeout got %v", rec.Replies)
	}
}

func TestRunawayThroughEngineIs500(t *testing.T) {
	rec, _ := coretest.Route(t, route(`while true do end`), coretest.Register, replyFuncs)
	if rec.Code() != 500 {
		t.Fatalf("got %d, want 500", rec.Code())
	}
}

func TestLuaErrorReportsFileAndLine(t *testing.T) {
	rt, file := newRuntime(t, route("local x = nil\nlocal y = x.field"), time.Second, 1)
	m, _ := coretest.Msg(t, coretest.Register)
	err := rt.Route(m)
	if err == nil {
		t.Fatal("no error")
	}
	if want := file + ":3:"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s", err, want)
	}
	if strings.Contains(err.Error(), "stack traceback") {
		t.Fatalf("error carries a traceback: %q", err)
	}
}

func TestExitAndDrop(t *testing.T) {
	rec, m := coretest.Route(t, route(`KSR.sl.send_reply(200, "first") KSR.x.exit() KSR.x.drop()`),
		coretest.Register, replyFuncs)
	if f := rec.Final(); f == nil || f.Reason != "first" || len(rec.Replies) != 1 {
		t.Fatalf("exit did not stop the route: %v", rec.Replies)
	}
	if m.Dropped {
		t.Fatal("exit marked the request dropped, or the code after it ran")
	}
	rec, m = coretest.Route(t, route(`KSR.x.drop() KSR.sl.send_reply(500, "after drop")`), coretest.Register, replyFuncs)
	if len(rec.Replies) != 0 || !m.Dropped {
		t.Fatalf("drop: replies %v, dropped %v", rec.Replies, m.Dropped)
	}
}

// TestExitStopsEveryRoute: KSR.x.exit() ends the route wherever it is
// called: in the route's body (compiled to a return), in a loop there, in
// sub-routes the route calls, nested (compiled to returns of a sentinel),
// in a function the route calls through a variable and in a script whose
// exits all keep raising (KSR is aliased); and code after it never runs,
// while a sub-route that returns lets the route go on.
func TestExitStopsEveryRoute(t *testing.T) {
	for name, src := range map[string]string{
		"route body": route(`KSR.sl.send_reply(200, "first") KSR.x.exit() KSR.x.drop()`),
		"loop": route(`for i = 1, 3 do
				if i == 2 then KSR.sl.send_reply(200, "first") KSR.x.exit() end
			end
			KSR.x.drop()`),
		"helper": "function stop() KSR.sl.send_reply(200, \"first\") KSR.x.exit() end\n" +
			route(`stop() KSR.x.drop()`),
		"nested sub-routes": "function a() b() KSR.x.drop() end\n" +
			"function b() if true then KSR.sl.send_reply(200, \"first\") KSR.x.exit() end end\n" +
			route(`a() KSR.x.drop()`),
		"sub-route that returns": "function a() return 1 end\n" +
			route(`a() KSR.sl.send_reply(200, "first")`),
		"helper used as a value": "function stop() KSR.sl.send_reply(200, \"first\") KSR.x.exit() end\n" +
			route(`local f = stop f() KSR.x.drop()`),
		"sub-route called by a computed name": "function stop() KSR.sl.send_reply(200, \"first\") KSR.x.exit() end\n" +
			route(`_G["st" .. "op"]() KSR.x.drop()`),
		"raising": "local k = KSR\n" +
			route(`KSR.sl.send_reply(200, "first") KSR.x.exit() KSR.x.drop()`),
	} {
		t.Run(name, func(t *testing.T) {
			rec, m := coretest.Route(t, src, coretest.Register, replyFuncs)
			if f := rec.Final(); f == nil || f.Reason != "first" || len(rec.Replies) != 1 {
				t.Fatalf("replies %v, want only \"first\"", rec.Replies)
			}
			if m.Dropped {
				t.Fatal("code after the exit ran (it drops the request)")
			}
		})
	}
}

// TestHoistedCalls: calls of KSR functions, found once at load when
// nothing can replace them, still reach whatever the script put in their
// place when it can; a misspelt name on a path not taken does not stop
// the script from loading, and fails where it is called.
func TestHoistedCalls(t *testing.T) {
	rec, _ := coretest.Route(t, route(`
		local real = KSR.sl.send_reply
		KSR.sl.send_reply = function(code, reason) return real(code, "replaced") end
		KSR.sl.send_reply(200, "ok")`), coretest.Register, replyFuncs)
	if f := rec.Final(); f == nil || f.Reason != "replaced" {
		t.Fatalf("replies %v, want the replaced function's", rec.Replies)
	}
	misspelt := route(`if KSR.is_INVITE() then KSR.sll.send_reply(500, "typo") end
		KSR.sl.send_reply(200, "ok")`)
	rec, _ = coretest.Route(t, misspelt, coretest.Register, replyFuncs)
	if f := rec.Final(); f == nil || f.Reason != "ok" {
		t.Fatalf("REGISTER: replies %v, want 200 ok", rec.Replies)
	}
	rec, _ = coretest.Route(t, misspelt, strings.ReplaceAll(coretest.Register, "REGISTER", "INVITE"), replyFuncs)
	if rec.Code() != 500 || rec.Final().Reason == "typo" {
		t.Fatalf("INVITE: replies %v, want the engine's 500", rec.Replies)
	}
	// A hoisted function's argument errors name it in full.
	rt, _ := newRuntime(t, route(`KSR.sl.send_reply("abc")`), time.Second, 1)
	m, _ := coretest.Msg(t, coretest.Register)
	if err := rt.Route(m); err == nil || !strings.Contains(err.Error(), "route.lua:2: bad argument #1 to KSR.sl.send_reply") {
		t.Fatalf("err = %v", err)
	}
}

func TestNoReplyIs500(t *testing.T) {
	rec, _ := coretest.Route(t, route(`local a = 1`), coretest.Register, replyFuncs)
	if rec.Code() != 500 {
		t.Fatalf("got %d, want 500", rec.Code())
	}
}

func TestMethodPredicates(t *testing.T) {
	rec, _ := coretest.Route(t, route(`
		if not KSR.is_REGISTER() or KSR.is_INVITE() then error("is_") end
		if not KSR.is_method_in("IRO") or KSR.is_method_in("IBA") then error("is_method_in") end
		if not KSR.is_method_in("r") then error("lower-case letter") end
		KSR.sl.send_reply(200, "ok")`), coretest.Register, replyFuncs)
	if rec.Code() != 200 {
		t.Fatalf("got %v", rec.Replies)
	}
}

func TestWrongArgumentIsLuaError(t *testing.T) {
	rec, _ := coretest.Route(t, route(`KSR.sl.send_reply("abc")`), coretest.Register, replyFuncs)
	if rec.Code() != 500 {
		t.Fatalf("got %d, want 500", rec.Code())
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"syntax", "function ksr_request_route()\n  if then\nend\n", ":2:"},
		{"no route", "function other() end\n", "no function ksr_request_route"},
		{"route not a function", "ksr_request_route = 5\n", "no function ksr_request_route"},
		{"error at load", "local x = nil\nx.y = 1\nfunction ksr_request_route() end\n", ":2:"},
		{"loop at load", "while true do end\nfunction ksr_request_route() end\n", "context"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := coretest.WriteScript(t, tc.src)
			_, err := script.New(script.Options{File: file, Timeout: 50 * time.Millisecond})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if err := script.Check(file, nil); err == nil {
				t.Fatal("Check accepted the script")
			}
		})
	}
}

func TestReloadSwapsAndRefusesBrokenScripts(t *testing.T) {
	rt, file := newRuntime(t, route(`KSR.sl.send_reply(200, "v1")`), time.Second, 2)
	reason := func() string {
		m, rec := coretest.Msg(t, coretest.Register)
		if err := rt.Route(m); err != nil {
			t.Fatal(err)
		}
		return rec.Final().Reason
	}
	g1 := rt.Current()
	if _, changed, err := rt.Reload(); err != nil || changed {
		t.Fatalf("reload of unchanged file: changed=%v err=%v", changed, err)
	}
	write(t, file, route(`KSR.sl.send_reply(200, "v2")`))
	g2, changed, err := rt.Reload()
	if err != nil || !changed || g2.ID == g1.ID || g2.Hash == g1.Hash {
		t.Fatalf("reload: gen %d→%d changed=%v err=%v", g1.ID, g2.ID, changed, err)
	}
	if got := reason(); got != "v2" {
		t.Fatalf("after reload got %q", got)
	}
	for _, broken := range []string{"function ksr_request_route(\n", "function nope() end\n"} {
		write(t, file, broken)
		if _, _, err := rt.Reload(); err == nil {
			t.Fatalf("broken script %q accepted", broken)
		}
		if rt.Current().ID != g2.ID {
			t.Fatal("broken script replaced the generation")
		}
		if got := reason(); got != "v2" {
			t.Fatalf("after refused reload got %q", got)
		}
	}
	reloads, failures, last := rt.Stats()
	if reloads != 1 || failures != 2 || last == "" {
		t.Fatalf("stats: reloads=%d failures=%d last=%q", reloads, failures, last)
	}
	reg := prometheus.NewRegistry()
	rt.RegisterMetrics(reg)
	for name, want := range map[string]float64{"locus_script_reloads_total": 1, "locus_script_reload_failures_total": 2, "locus_script_generation": float64(g2.ID)} {
		if got := gatherOne(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if info := rt.Info(); info.Generation != g2.ID || info.Failures != 2 || info.LastError == "" || info.Hash != g2.Hash {
		t.Fatalf("info %+v", info)
	}
}

func write(t *testing.T, file, src string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWatchReloads covers in-place writes and rename-replace saves.
func TestWatchReloads(t *testing.T) {
	rt, file := newRuntime(t, route(`KSR.sl.send_reply(200, "v1")`), time.Second, 2)
	ctx := t.Context()
	if err := rt.Watch(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			m, rec := coretest.Msg(t, coretest.Register)
			if err := rt.Route(m); err == nil && rec.Final() != nil && rec.Final().Reason == want {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("script with %q not live within 2s", want)
	}
	write(t, file, route(`KSR.sl.send_reply(200, "in-place")`))
	waitFor("in-place")
	tmp := filepath.Join(filepath.Dir(file), ".route.lua.swp")
	write(t, tmp, route(`KSR.sl.send_reply(200, "renamed")`))
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	waitFor("renamed")
}

// The SQLite store's files often sit beside the script and are written on
// every REGISTER: those writes must not hold a reload back.
func TestWatchReloadsBesideABusyFile(t *testing.T) {
	rt, file := newRuntime(t, route(`KSR.sl.send_reply(200, "v1")`), time.Second, 2)
	if err := rt.Watch(t.Context()); err != nil {
		t.Fatal(err)
	}
	coretest.KeepWriting(t, filepath.Join(filepath.Dir(file), "locus.db-wal"))
	time.Sleep(50 * time.Millisecond)
	write(t, file, route(`KSR.sl.send_reply(200, "v2")`))
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		m, rec := coretest.Msg(t, coretest.Register)
		if err := rt.Route(m); err == nil && rec.Final() != nil && rec.Final().Reason == "v2" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the script was not reloaded within 2 s while another file beside it was written")
}

func TestConcurrentRoutes(t *testing.T) {
	rt, file := newRuntime(t, route(`KSR.sl.send_reply(200, "ok")`), time.Second, 4)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				m, rec := coretest.Msg(t, coretest.Register)
				if err := rt.Route(m); err != nil {
					errs <- err
					return
				}
				if rec.Code() != 200 {
					errs <- errors.New("no 200")
					return
				}
			}
		}()
	}
	// Reload while routing: every request still gets exactly one answer.
	for i := 0; i < 5; i++ {
		write(t, file, route(`KSR.sl.send_reply(200, "ok") -- `+string(rune('a'+i))))
		if _, _, err := rt.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestPoolWaitGetsFreedState: with the only state stuck in a runaway
// route, a request waits, and gets the slot the watchdog frees.
func TestPoolWaitGetsFreedState(t *testing.T) {
	rt, _ := newRuntime(t, route(`
		if KSR.is_OPTIONS() then KSR.sl.send_reply(200, "ok") return end
		while true do end`), 100*time.Millisecond, 1)
	done := make(chan error, 1)
	go func() {
		m, _ := coretest.Msg(t, coretest.Register)
		done <- rt.Route(m)
	}()
	time.Sleep(10 * time.Millisecond)
	opt, rec := coretest.Msg(t, strings.Replace(coretest.Register, "REGISTER sip", "OPTIONS sip", 1))
	if err := rt.Route(opt); err != nil {
		t.Fatalf("waiting request: %v", err)
	}
	if f := rec.Final(); f == nil || f.Reason != "ok" {
		t.Fatalf("waiting request got %v", rec.Replies)
	}
	if err := <-done; !errors.Is(err, script.ErrTimeout) {
		t.Fatalf("runaway: %v", err)
	}
}

func gatherOne(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestDstURIAndForceRport(t *testing.T) {
	rt := coretest.Runtime(t, route(`
		if KSR.setdsturi("not a uri") ~= -1 then error("bad URI accepted") end
		if KSR.setdsturi("sip:10.0.0.1:5070;transport=tcp") ~= 1 then error("setdsturi") end
		KSR.force_rport()
		KSR.sl.send_reply(200, "ok")`), replyFuncs)
	m, rec := coretest.Msg(t, coretest.Register)
	m.SrcIP, m.SrcPort = "192.0.2.10", 40000 // the Via says 5060: NAT
	core.NewEngine(rt, slog.New(slog.DiscardHandler), 0, "").Process(m)
	res := rec.Final()
	if res == nil || res.StatusCode != 200 {
		t.Fatalf("reply %v", rec.Replies)
	}
	if m.DstURI != "sip:10.0.0.1:5070;transport=tcp" {
		t.Errorf("$du = %q", m.DstURI)
	}
	if res.Destination() != "192.0.2.10:40000" {
		t.Errorf("reply sent to %s, want the source port", res.Destination())
	}
	if rp, _ := res.Via().Params.Get("rport"); rp != "40000" {
		t.Errorf("Via rport=%q, want 40000", rp)
	}
	rt2 := coretest.Runtime(t, route(`KSR.setdsturi("sip:10.0.0.1") KSR.resetdsturi() KSR.sl.send_reply(200, "ok")`), replyFuncs)
	m2, _ := coretest.Msg(t, coretest.Register)
	core.NewEngine(rt2, slog.New(slog.DiscardHandler), 0, "").Process(m2)
	if m2.DstURI != "" {
		t.Errorf("resetdsturi left %q", m2.DstURI)
	}
}
