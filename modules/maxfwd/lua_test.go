package maxfwd_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/maxfwd"
	"github.com/locus-sip/locus/modules/sl"
)

func TestLuaProcessMaxfwd(t *testing.T) {
	cases := []struct {
		name     string
		header   string // Max-Forwards line value, "" for none
		maxLimit int
		call     string
		rc       int
		after    string
	}{
		{"added", "", 70, "process_maxfwd(10)", 2, "10"},
		{"decremented", "70", 70, "process_maxfwd(10)", 1, "69"},
		{"capped by max_limit", "70", 20, "process_maxfwd(10)", 1, "20"},
		{"zero", "0", 70, "process_maxfwd(10)", -1, "0"},
		{"limit out of range", "70", 70, "process_maxfwd(300)", -1, "70"},
		{"is_maxfwd_lt below", "3", 70, "is_maxfwd_lt(5)", 1, "3"},
		{"is_maxfwd_lt not below", "70", 70, "is_maxfwd_lt(5)", -1, "70"},
		{"is_maxfwd_lt missing", "", 70, "is_maxfwd_lt(5)", -2, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := strings.Replace(coretest.Register, "Max-Forwards: 70\n", "", 1)
			if tc.header != "" {
				raw = strings.Replace(raw, "CSeq:", "Max-Forwards: "+tc.header+"\nCSeq:", 1)
			}
			src := fmt.Sprintf(`function ksr_request_route()
	local rc = KSR.maxfwd.%s
	if rc ~= %d then error("got " .. tostring(rc)) end
	KSR.sl.send_reply(200, "OK")
end`, tc.call, tc.rc)
			rec, m := coretest.Route(t, src, raw,
				coretest.Export("maxfwd", &maxfwd.MaxFwd{MaxLimit: tc.maxLimit}),
				coretest.Export("sl", &sl.SL{}))
			if rec.Code() != 200 {
				t.Fatalf("reply %d, want 200 (the script's return-code check failed)", rec.Code())
			}
			got := ""
			if h := m.Req.GetHeader("Max-Forwards"); h != nil {
				got = h.Value()
			}
			if got != tc.after {
				t.Fatalf("Max-Forwards %q after the route, want %q", got, tc.after)
			}
		})
	}
}

// TestLuaZeroMaxForwards is RFC 4475 §3.3.11 (zeromf) through the default
// script's idiom: the route answers 483.
func TestLuaZeroMaxForwards(t *testing.T) {
	const zeromf = `OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas
CSeq: 39234321 OPTIONS
Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i
Max-Forwards: 0
Content-Length: 0

`
	src := `function ksr_request_route()
	if KSR.maxfwd.process_maxfwd(10) < 0 then
		KSR.sl.sl_send_reply(483, "Too Many Hops")
		KSR.x.exit()
	end
	KSR.sl.sl_send_reply(200, "OK")
end`
	rec, _ := coretest.Route(t, src, zeromf, coretest.Export("maxfwd", maxfwd.New()), coretest.Export("sl", &sl.SL{}))
	if f := rec.Final(); f == nil || f.StatusCode != 483 || f.Reason != "Too Many Hops" {
		t.Fatalf("final reply %v, want 483 Too Many Hops", f)
	}
}

func TestLuaArgumentErrors(t *testing.T) {
	src := `function ksr_request_route() KSR.maxfwd.process_maxfwd("ten") end`
	rec, _ := coretest.Route(t, src, coretest.Register, coretest.Export("maxfwd", maxfwd.New()))
	if rec.Code() != 500 {
		t.Fatalf("reply %d, want the fallback 500 for a script error", rec.Code())
	}
}

func TestConfig(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		want    int
		wantErr string
	}{
		{"default", "", maxfwd.DefaultMaxLimit, ""},
		{"set", "modules:\n  maxfwd:\n    max_limit: 32\n", 32, ""},
		{"zero", "modules:\n  maxfwd:\n    max_limit: 0\n", 0, ""},
		{"too large", "modules:\n  maxfwd:\n    max_limit: 256\n", 0, "out of range"},
		{"negative", "modules:\n  maxfwd:\n    max_limit: -1\n", 0, "out of range"},
		{"unknown key", "modules:\n  maxfwd:\n    max_limt: 32\n", 0, "max_limt"},
		{"wrong type", "modules:\n  maxfwd:\n    max_limit: lots\n", 0, "lots"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := load(t, tc.yaml)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.MaxLimit != tc.want {
				t.Fatalf("max_limit %d, want %d", f.MaxLimit, tc.want)
			}
		})
	}
}

// load decodes and validates a config through the core, as locus does.
func load(t *testing.T, y string) (*maxfwd.MaxFwd, error) {
	t.Helper()
	m, err := coretest.LoadModule(t, y, "maxfwd")
	if err != nil {
		return nil, err
	}
	return m.(*maxfwd.MaxFwd), nil
}

// TestREADME loads the README's configuration and runs its Lua example.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	y := coretest.Fences(t, string(b), "yaml")[0]
	f, err := load(t, y)
	if err != nil {
		t.Fatalf("README configuration: %v", err)
	}
	src := coretest.Fences(t, string(b), "lua")[0]
	cases := []struct {
		name   string
		header string
		code   int
	}{
		{"passes", "70", 200},
		{"exhausted", "0", 483},
		{"too close", "3", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := strings.Replace(coretest.Register, "Max-Forwards: 70", "Max-Forwards: "+tc.header, 1)
			rec, _ := coretest.Route(t, src, raw, coretest.Export("maxfwd", f), coretest.Export("sl", &sl.SL{}))
			if rec.Code() != tc.code {
				t.Fatalf("reply %d, want %d", rec.Code(), tc.code)
			}
		})
	}
}
