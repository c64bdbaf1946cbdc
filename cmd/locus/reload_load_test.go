package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Load shape: about 300 REGISTER/s for 10 s.
const (
	loadRate  = 300
	loadCalls = 3000
	reloads   = 20
	// reloadEvery paces the script changes so that they spread over the load.
	reloadEvery = 350 * time.Millisecond
)

// bobPolicy is the script of reload i. Every version answers 200 to the
// load's REGISTERs; the even versions refuse "bob" (403), the odd ones
// welcome him (200), and each names its version in the reason phrase so
// the probe sees exactly which generation answered.
//
// The only script functions compiled in today are KSR.sl, KSR.is_* and
// KSR.x, so the script cannot read the user: bob's probe is the only
// OPTIONS in the test (sipp sends REGISTERs only), and is_OPTIONS() stands
// for "the user is bob". With KSR.pv this becomes KSR.pv.get("$tU") == "bob".
func bobPolicy(i int) string {
	code, reason := 403, fmt.Sprintf("Bob Forbidden %d", i)
	if i%2 == 1 {
		code, reason = 200, fmt.Sprintf("Bob Welcome %d", i)
	}
	return fmt.Sprintf(`-- reload %d
function ksr_request_route()
	if KSR.is_ACK() then KSR.x.exit() end
	if KSR.is_REGISTER() then
		KSR.sl.send_reply(200, "OK")
		KSR.x.exit()
	end
	if KSR.is_OPTIONS() then
		KSR.sl.send_reply(%d, %q)
		KSR.x.exit()
	end
	KSR.sl.send_reply(405, "")
end
`, i, code, reason)
}

func bobExpect(i int) (int, string) {
	if i%2 == 1 {
		return 200, fmt.Sprintf("Bob Welcome %d", i)
	}
	return 403, fmt.Sprintf("Bob Forbidden %d", i)
}

// TestReloadUnderLoad rewrites the routing script 20 times (in place and by
// rename, alternately) while sipp sends ~300 REGISTER/s, and writes a
// broken and a route-less script in between. Every change must take effect
// within 1 s, the bad ones must be refused, and sipp must see no failed
// call and no timeout.
func TestReloadUnderLoad(t *testing.T) {
	sippBin, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatalf("sipp is required (Debian package sip-tester): %v", err)
	}
	scenario, err := filepath.Abs(filepath.Join("testdata", "register_load.xml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	scriptFile := filepath.Join(dir, "route.lua")
	writeFile(t, scriptFile, bobPolicy(0))
	p := startLocus(t, "--script", scriptFile, "--listen", "udp:127.0.0.1:0")
	bob := dialSIP(t, "udp", p.Addrs["udp"], nil)

	// probeBob asks as bob until reload i answers, and returns how long
	// after since that was. A probe left unanswered for 250 ms is counted
	// (and asserted on at the end) and the next one sent, so that a lost
	// reply is not mistaken for a slow reload.
	unanswered := 0
	probeBob := func(i int, since time.Time) time.Duration {
		t.Helper()
		code, reason := bobExpect(i)
		last := "nothing"
		for {
			raw := sipReq{Method: "OPTIONS", User: "bob", ViaHost: "127.0.0.1", ViaPort: bob.LocalPort()}.String()
			res := exchange(t, bob, raw, callIDOf(t, raw), 250*time.Millisecond)
			if res == nil {
				unanswered++
			} else {
				if res.StatusCode == code && res.Reason == reason {
					return time.Since(since)
				}
				last = fmt.Sprintf("%d %q", res.StatusCode, res.Reason)
			}
			if time.Since(since) > time.Second {
				t.Fatalf("reload %d: bob still gets %s %v after the write, want %d %q (%d probes unanswered); script history:\n%s",
					i, last, time.Since(since), code, reason, unanswered, p.Log.Grep("script "))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	probeBob(0, time.Now())

	stat := filepath.Join(dir, "sipp-stat.csv")
	errFile := filepath.Join(dir, "sipp-errors.log")
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	sipp := exec.CommandContext(ctx, sippBin, p.Addrs["udp"],
		"-sf", scenario, "-t", "u1", "-i", "127.0.0.1",
		"-r", strconv.Itoa(loadRate), "-m", strconv.Itoa(loadCalls),
		"-recv_timeout", "2000", "-max_retrans", "3",
		"-timeout", "30s", "-timeout_error",
		"-nostdin", "-trace_stat", "-stf", stat, "-fd", "1",
		"-trace_err", "-error_file", errFile)
	sipp.Dir = dir
	var sippOut bytes.Buffer
	sipp.Stdout, sipp.Stderr = &sippOut, &sippOut
	if err := sipp.Start(); err != nil {
		t.Fatalf("start sipp: %v", err)
	}
	sippStart := time.Now()
	sippDone := make(chan error, 1)
	go func() { sippDone <- sipp.Wait() }()
	defer func() {
		select {
		case <-sippDone:
		default:
			_ = sipp.Process.Kill()
			<-sippDone
		}
	}()
	sippRunning := func() bool {
		select {
		case err := <-sippDone:
			sippDone <- err
			return false
		default:
			return true
		}
	}

	var worst time.Duration
	// refuse writes a bad script and waits for its refusal. An in-place
	// write is not atomic: if the writer stalls between the truncation
	// and the write for longer than the watcher's debounce, the runtime
	// reads a half-written file and refuses it too. Such extra refusals
	// are harmless (the old generation keeps serving) and are counted
	// below, not failed on.
	refuse := func(src, want string, write func(testing.TB, string, string)) {
		t.Helper()
		before := p.Log.Count(msgRefused)
		start := time.Now()
		write(t, scriptFile, src)
		p.Log.WaitMatch(t, msgRefused, before, time.Second, errorContains(want))
		t.Logf("bad script refused after %v", time.Since(start))
	}
	tick := time.NewTicker(reloadEvery)
	defer tick.Stop()
	for i := 1; i <= reloads; i++ {
		<-tick.C
		src := bobPolicy(i)
		start := time.Now()
		if i%2 == 0 {
			writeFile(t, scriptFile, src)
		} else {
			replaceFile(t, scriptFile, src)
		}
		took := probeBob(i, start)
		worst = max(worst, took)
		switch i {
		case 7:
			<-tick.C
			refuse("function ksr_request_route()\n\tif KSR.is_REGISTER( then\nend\n", scriptFile+":2:", writeFile)
			probeBob(i, time.Now()) // the old policy answers at once
		case 14:
			<-tick.C
			refuse("-- no entry point\nfunction route() KSR.sl.send_reply(200, \"OK\") end\n", "no function ksr_request_route", replaceFile)
			probeBob(i, time.Now())
		}
	}
	lastReload := time.Since(sippStart)
	if !sippRunning() {
		t.Errorf("sipp finished before the last reload (%v after it started): the reloads did not all happen under load", lastReload)
	}
	t.Logf("%d reloads in %v of load, slowest took effect after %v", reloads, lastReload, worst)

	// The context kills sipp after 45 s, so this returns; its output is
	// complete (and safe to read) only once Wait has returned.
	sippErr := <-sippDone
	sippDone <- sippErr
	if ctx.Err() != nil {
		t.Fatalf("sipp did not finish within 45s; output:\n%s", tail(sippOut.String(), 3000))
	}
	errLog, _ := os.ReadFile(errFile)
	if sippErr != nil {
		t.Errorf("sipp: %v (exit 0 means every call got its 200); errors:\n%s\noutput:\n%s",
			sippErr, tail(string(errLog), 3000), tail(sippOut.String(), 3000))
	}
	last := lastStatRow(t, stat)
	for _, k := range []string{"FailedCall(C)", "FailedTimeoutOnRecv(C)", "FailedMaxUDPRetrans(C)",
		"FailedUnexpectedMessage(C)", "FailedCannotSendMessage(C)", "DeadCallMsgs(C)"} {
		if v := last[k]; v != 0 {
			t.Errorf("sipp %s = %d, want 0", k, v)
		}
	}
	if v := last["SuccessfulCall(C)"]; v != loadCalls {
		t.Errorf("sipp SuccessfulCall(C) = %d, want %d", v, loadCalls)
	}
	retrans := last["Retransmissions(C)"]
	t.Logf("sipp: %d calls ok, %d retransmissions, load ran %v", last["SuccessfulCall(C)"], retrans, time.Since(sippStart))
	// A reload must not stall the request path: a retransmission means a
	// REGISTER went unanswered for 500 ms.
	if retrans > loadCalls/100 {
		t.Errorf("sipp retransmitted %d times, want at most 1%% of %d calls", retrans, loadCalls)
	}
	if unanswered != 0 {
		t.Errorf("%d of bob's probes got no reply within 250 ms", unanswered)
	}
	if n := p.Log.Count("script reloaded"); n != reloads {
		t.Errorf("%d \"script reloaded\" records, want %d; script history:\n%s", n, reloads, p.Log.Grep("script "))
	}
	if n := p.Log.Count(msgRefused); n < 2 {
		t.Errorf("%d refusals logged, want at least the 2 bad scripts", n)
	} else if n > 2 {
		t.Logf("%d refusals of half-written in-place scripts besides the 2 bad ones:\n%s", n-2, p.Log.Grep(msgRefused))
	}
	if n := p.Log.Count("script error"); n != 0 {
		t.Errorf("%d script errors logged during the load, want 0", n)
	}
}

// lastStatRow reads sipp's -trace_stat CSV and returns the cumulative
// counters of its last row.
func lastStatRow(t *testing.T, file string) map[string]int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("sipp statistics: %v", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = ';'
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("sipp statistics %s: %v", file, err)
	}
	if len(rows) < 2 {
		t.Fatalf("sipp statistics %s: %d rows, want a header and data", file, len(rows))
	}
	head, row := rows[0], rows[len(rows)-1]
	out := map[string]int{}
	for i, k := range head {
		if i >= len(row) {
			break
		}
		if n, err := strconv.Atoi(strings.TrimSpace(row[i])); err == nil {
			out[k] = n
		}
	}
	for _, k := range []string{"SuccessfulCall(C)", "FailedCall(C)", "FailedTimeoutOnRecv(C)", "Retransmissions(C)"} {
		if _, ok := out[k]; !ok {
			t.Fatalf("sipp statistics lack %s; header: %v", k, head)
		}
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
