package admin_test

import (
	"strings"
	"testing"
)

func TestPProfOffByDefault(t *testing.T) {
	f := newFixture(t, "", false)
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1"} {
		if code, _, body := f.do("GET", p, nil); code != 404 {
			t.Errorf("%s with pprof off: %d %s, want 404", p, code, body)
		}
	}
}

func TestPProfOn(t *testing.T) {
	f := newFixture(t, "modules: {admin: {pprof: true}}\n", false)
	code, _, body := f.do("GET", "/debug/pprof/", nil)
	if code != 200 || !strings.Contains(body, "goroutine") || !strings.Contains(body, "heap") {
		t.Fatalf("/debug/pprof/: %d %.200s", code, body)
	}
	if code, _, body := f.do("GET", "/debug/pprof/goroutine?debug=1", nil); code != 200 || !strings.Contains(body, "goroutine profile: total") {
		t.Errorf("goroutine profile: %d %.200s", code, body)
	}
	if code, hdr, body := f.do("GET", "/debug/pprof/heap", nil); code != 200 || hdr.Get("Content-Type") != "application/octet-stream" || len(body) == 0 {
		t.Errorf("heap profile: %d %q, %d bytes", code, hdr.Get("Content-Type"), len(body))
	}
}

func TestPProfNeedsToken(t *testing.T) {
	f := newFixture(t, "modules: {admin: {pprof: true, token: abc}}\n", false)
	if code, _, _ := f.doToken("GET", "/debug/pprof/", "", nil); code != 401 {
		t.Errorf("/debug/pprof/ without the token: %d, want 401", code)
	}
	if code, _, _ := f.doToken("GET", "/debug/pprof/", "abc", nil); code != 200 {
		t.Errorf("/debug/pprof/ with the token: %d, want 200", code)
	}
}
