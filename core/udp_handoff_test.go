package core_test

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/locus-sip/locus/core"
)

// TestUDPHandoff checks that a request that waits does not hold up the
// socket: with one reader role (GOMAXPROCS 2), a request blocked in the
// route must not keep the next one from being read and answered, whether
// it announces the wait (Msg.Blocking) or not (the listener's watch).
func TestUDPHandoff(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	for _, announce := range []bool{true, false} {
		name := "silent"
		if announce {
			name = "blocking"
		}
		t.Run(name, func(t *testing.T) {
			release := make(chan struct{})
			entered := make(chan struct{})
			addr := startUDP(t, routerFunc(func(m *core.Msg) error {
				if m.Req.CallID().Value() == "slow" {
					if announce {
						m.Blocking()
						m.Blocking() // a second call is harmless
					}
					close(entered)
					select {
					case <-release:
					case <-time.After(5 * time.Second):
					}
				}
				return m.Reply(200, "OK")
			}))
			dst, _ := net.ResolveUDPAddr("udp", addr)
			slow, fast := udpConn(t), udpConn(t)
			if _, err := slow.WriteTo([]byte(register(slow.LocalAddr().(*net.UDPAddr).Port, "slow", true)), dst); err != nil {
				t.Fatal(err)
			}
			select {
			case <-entered:
			case <-time.After(2 * time.Second):
				t.Fatal("the slow request never reached the route")
			}
			start := time.Now()
			if _, err := fast.WriteTo([]byte(register(fast.LocalAddr().(*net.UDPAddr).Port, "fast", true)), dst); err != nil {
				t.Fatal(err)
			}
			if res := readReply(t, fast); res.StatusCode != 200 {
				t.Fatalf("fast request: %d, want 200", res.StatusCode)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("fast request answered after %v behind a blocked one", d)
			}
			close(release)
			if res := readReply(t, slow); res.StatusCode != 200 {
				t.Fatalf("slow request: %d, want 200", res.StatusCode)
			}
			// Both workers are back: the socket still serves requests.
			if _, err := fast.WriteTo([]byte(register(fast.LocalAddr().(*net.UDPAddr).Port, "again", true)), dst); err != nil {
				t.Fatal(err)
			}
			if res := readReply(t, fast); res.StatusCode != 200 {
				t.Fatalf("request after the handoff: %d, want 200", res.StatusCode)
			}
		})
	}
}
