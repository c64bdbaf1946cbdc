package main

import (
	"strings"
	"testing"
	"time"
)

// TestE2ELogIsJSON: every line locus writes to stderr with
// --log-format json must be a JSON record, also when TCP clients hang up.
func TestE2ELogIsJSON(t *testing.T) {
	p := startLocus(t, "--script", newScript(t, e2eNoAuthScript), "--listen", "tcp:127.0.0.1:0")
	for i := range 20 {
		c := dialSIP(t, "tcp", p.Addrs["tcp"], nil)
		raw, callID := e2eReq{User: "tcpuser", Contacts: []string{"sip:tcpuser@192.0.2.1:5060;transport=tcp"}, Expires: 600, Port: c.LocalPort()}.String()
		raw = strings.Replace(raw, "SIP/2.0/UDP", "SIP/2.0/TCP", 1)
		if res := mustReply(t, c, raw, callID); res.StatusCode != 200 {
			t.Fatalf("#%d: %d", i, res.StatusCode)
		}
		c.Close()
	}
	time.Sleep(500 * time.Millisecond)
	p.Stop(t)
	for _, line := range p.Log.NotJSON() {
		t.Errorf("stderr line is not JSON: %s", line)
	}
}
