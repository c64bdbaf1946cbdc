//go:build linux

package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestIdleServerSleeps: a server with no traffic must not wake up on its
// own dozens of times a second. Watchdogs on tickers did (about 370 thread
// wake-ups a second, 12 ms of CPU); their timers are now armed only while
// requests run. The server handles a few requests first, so that every
// watchdog has been armed and has to go quiet again.
func TestIdleServerSleeps(t *testing.T) {
	scriptFile := newScript(t, routeScript(`
	KSR.sl.send_reply(200, "OK")`))
	p := startLocus(t, "--listen", "udp:127.0.0.1:0", "--store", "memory:", "--script", scriptFile)
	c := dialSIP(t, "udp", p.Addrs["udp"], nil)
	for range 20 {
		raw := sipReq{ViaHost: "127.0.0.1", ViaPort: c.LocalPort(), Transport: "UDP"}.String()
		if res := exchange(t, c, raw, callIDOf(t, raw), 5*time.Second); res == nil || res.StatusCode != 200 {
			t.Fatalf("REGISTER: %v, want 200", res)
		}
	}
	// The watchdogs keep firing for up to two of their delays (50 ms,
	// 100 ms) after the last request, then stay unarmed.
	time.Sleep(500 * time.Millisecond)
	pid := p.Cmd.Process.Pid
	const window = 2 * time.Second
	before := contextSwitches(t, pid)
	time.Sleep(window)
	after := contextSwitches(t, pid)
	if rate := float64(after-before) / window.Seconds(); rate > 50 {
		t.Errorf("idle server: %.0f context switches a second, want under 50", rate)
	}
}

// contextSwitches sums the voluntary and involuntary context switches of
// every thread of the process.
func contextSwitches(t *testing.T, pid int) int {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "status"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	total := 0
	for _, status := range dirs {
		f, err := os.Open(status)
		if err != nil {
			continue // the thread exited
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			name, value, ok := strings.Cut(sc.Text(), ":")
			if !ok || (name != "voluntary_ctxt_switches" && name != "nonvoluntary_ctxt_switches") {
				continue
			}
			n, err := strconv.Atoi(strings.TrimSpace(value))
			if err != nil {
				t.Fatalf("%s: %q: %v", status, sc.Text(), err)
			}
			total += n
		}
		f.Close()
	}
	return total
}
