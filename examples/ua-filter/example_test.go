package uafilter_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/locus-sip/locus/internal/locustest"
)

func TestMain(m *testing.M) { locustest.Main(m) }

func start(t *testing.T) (*locustest.Proc, *locustest.Client) {
	t.Helper()
	cfg, err := filepath.Abs("locus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("route.lua")
	if err != nil {
		t.Fatal(err)
	}
	p := locustest.Start(t, "--config", cfg, "--listen", "udp:127.0.0.1:0", "--store", "memory:", "--script", script)
	return p, locustest.Dial(t, p.Addrs["udp"])
}

// TestScannersDropped: requests from scanners get no reply at all, however
// the User-Agent is capitalised; the same requests from a phone are answered.
func TestScannersDropped(t *testing.T) {
	p, c := start(t)
	scanners := []string{"friendly-scanner", "SIPVicious 0.3.4", "sipcli/v1.8", "Friendly-Scanner"}
	for _, ua := range scanners {
		for _, req := range []*locustest.Request{
			locustest.Options("100", "example.com", ua),
			locustest.Register("100", "example.com", "sip:100@192.0.2.1:5060", 600, ua),
		} {
			res, err := c.Exchange(req.String(), 300*time.Millisecond)
			if !errors.Is(err, locustest.ErrTimeout) {
				t.Errorf("%s from %q: got %v (%v), want no reply", req.Method, ua, res, err)
			}
		}
	}
	if msg, err := c.Recv(500 * time.Millisecond); !errors.Is(err, locustest.ErrTimeout) {
		t.Errorf("a late reply to a scanner: %v (%v)", msg, err)
	}
	p.Log.WaitCount(t, "scanner dropped: OPTIONS from 127.0.0.1, User-Agent sipcli/v1.8", 1, time.Second)
	if n := len(p.Log.Records("scanner dropped: REGISTER from 127.0.0.1, User-Agent friendly-scanner")); n != 1 {
		t.Errorf("%d log records of the dropped REGISTER, want 1", n)
	}
	// The filter is about the User-Agent, not the request: a phone is answered.
	if res := c.MustExchange(locustest.Options("100", "example.com", "Yealink SIP-T46U").String()); res.StatusCode != 200 {
		t.Errorf("OPTIONS from a phone: %d, want 200", res.StatusCode)
	}
	if res := c.MustExchange(locustest.Register("100", "example.com", "sip:100@192.0.2.1:5060", 600, "Zoiper rv2.10").String()); res.StatusCode != 200 {
		t.Errorf("REGISTER from a softphone: %d, want 200", res.StatusCode)
	}
}

// TestRealmAllowList: corp.example.com accepts only the listed phones;
// example.com accepts any.
func TestRealmAllowList(t *testing.T) {
	_, c := start(t)
	cases := []struct {
		domain, ua string
		want       int
	}{
		{"corp.example.com", "Yealink SIP-T46U 66.86.0.15", 200},
		{"corp.example.com", "POLYCOM VVX 450", 200},
		{"corp.example.com", "snom D785/10.1.54.13", 200},
		{"corp.example.com", "Zoiper rv2.10.20.4", 403},
		{"corp.example.com", "", 403},
		{"example.com", "Zoiper rv2.10.20.4", 200},
		{"example.com", "", 200},
	}
	for i, tc := range cases {
		req := locustest.Register("u"+string(rune('a'+i)), tc.domain, "sip:u@192.0.2.1:5060", 600, tc.ua)
		res := c.MustExchange(req.String())
		if res.StatusCode != tc.want {
			t.Errorf("REGISTER to %s from %q: %d %s, want %d", tc.domain, tc.ua, res.StatusCode, res.Reason, tc.want)
		}
		if tc.want == 403 && res.Reason != "User-Agent Not Allowed" {
			t.Errorf("403 reason %q, want User-Agent Not Allowed", res.Reason)
		}
	}
}
