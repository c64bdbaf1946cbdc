package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/admin"
	"github.com/locus-sip/locus/modules/usrloc"
)

func TestListening(t *testing.T) {
	f := newFixture(t, "", false)
	var rec map[string]any
	for _, line := range strings.Split(f.log.String(), "\n") {
		if strings.Contains(line, `"msg":"admin listening"`) {
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	if rec == nil {
		t.Fatalf("no \"admin listening\" record; log:\n%s", f.log.String())
	}
	if rec["addr"] != f.a.Addr() || rec["module"] != "admin" {
		t.Errorf("admin listening record %v, want addr %s and module admin", rec, f.a.Addr())
	}
	if _, port, _ := net.SplitHostPort(f.a.Addr()); port == "0" || port == "" {
		t.Errorf("bound address %q has no real port", f.a.Addr())
	}
}

func TestOff(t *testing.T) {
	f := newFixture(t, "admin: \"off\"\n", false)
	if f.a.Addr() != "" {
		t.Fatalf("admin off listens on %s", f.a.Addr())
	}
	if !strings.Contains(f.log.String(), `"msg":"admin API off"`) {
		t.Errorf("no \"admin API off\" record; log:\n%s", f.log.String())
	}
	// The handler still works for embedding.
	srv := &http.Server{Handler: f.a.Handler()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	f.base = "http://" + ln.Addr().String()
	if code, _, body := f.do("GET", "/healthz", nil); code != 200 || body != "ok\n" {
		t.Errorf("/healthz through Handler: %d %q", code, body)
	}
}

func TestCleanupClosesListener(t *testing.T) {
	f := newFixture(t, "", false)
	addr := f.a.Addr()
	if err := f.a.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("admin listener %s still accepts after Cleanup", addr)
	}
	if err := f.a.Cleanup(); err != nil { // the host's Cleanup runs it again
		t.Errorf("second Cleanup: %v", err)
	}
}

func TestCleanupWaitsForRequests(t *testing.T) {
	f := newFixture(t, "modules: {readytest: {hang: true}}\n", false)
	done := make(chan int, 1)
	go func() {
		res, err := http.Get(f.base + "/readyz") // takes readyTimeout (1 s)
		if err != nil {
			done <- -1
			return
		}
		res.Body.Close()
		done <- res.StatusCode
	}()
	time.Sleep(200 * time.Millisecond)
	if err := f.a.Cleanup(); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != http.StatusServiceUnavailable {
			t.Errorf("request in progress during Cleanup: %d, want its own answer 503", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request in progress never answered")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, cfg, want string
	}{
		{"both", "modules: {admin: {token: a, token_file: /x}}", "not both"},
		{"missing file", "modules: {admin: {token_file: /nonexistent/admin.token}}", "token_file"},
		{"empty file", "modules: {admin: {token_file: %q}}", "is empty"},
		{"space", "modules: {admin: {token: \"a b\"}}", "printable ASCII"},
		{"unknown key", "modules: {admin: {tokn: a}}", "tokn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.cfg
			if strings.Contains(src, "%q") {
				src = fmt.Sprintf(src, writeTokenFile(t, " \n\t"))
			}
			cfg := &core.Config{}
			if err := core.ParseConfig([]byte(src), cfg); err != nil {
				t.Fatal(err)
			}
			cfg.Admin = "off"
			cfg.Store = "memory:" // only the admin section is under test
			cfg.ApplyDefaults()
			h, err := core.LoadModules(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err == nil {
				h.Cleanup()
				t.Fatalf("loaded; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	const tok = "s3cret-T0ken"
	f := newFixture(t, fmt.Sprintf("modules: {admin: {token_file: %q}}\n", writeTokenFile(t, "  "+tok+"\n")), false)
	for _, tc := range []struct {
		method, path, auth string
		want               int
	}{
		{"GET", "/api/v1/aors", "", 401},
		{"GET", "/api/v1/aors", "Bearer wrong", 401},
		{"GET", "/api/v1/aors", "Bearer " + tok + "x", 401},
		{"GET", "/api/v1/aors", "Basic " + tok, 401},
		{"GET", "/api/v1/aors", tok, 401},
		{"GET", "/api/v1/aors", "Bearer " + tok, 200},
		{"GET", "/api/v1/aors", "bearer " + tok, 200},
		{"POST", "/api/v1/reload", "", 401},
		{"DELETE", "/api/v1/aors/alice@example.com", "", 401},
		{"GET", "/api/v1/stats", "", 401},
		{"GET", "/api/v1/script", "", 401},
		{"GET", "/api/v1/nothing-here", "", 401}, // no endpoint list for strangers
		{"GET", "/api/v1/nothing-here", "Bearer " + tok, 404},
		{"GET", "/healthz", "", 200},
		{"GET", "/readyz", "", 200},
		{"GET", "/metrics", "", 200},
	} {
		req, _ := http.NewRequest(tc.method, f.base+tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e admin.Error
		_ = json.NewDecoder(res.Body).Decode(&e)
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%s %s with %q: %d, want %d", tc.method, tc.path, tc.auth, res.StatusCode, tc.want)
			continue
		}
		if tc.want == 401 {
			if e.Error == "" || res.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: 401 without a JSON error or WWW-Authenticate (%q)", tc.method, tc.path, e.Error)
			}
		}
	}
	if strings.Contains(f.log.String(), tok) {
		t.Errorf("the token appears in the log:\n%s", f.log.String())
	}
}

func TestProtectMetrics(t *testing.T) {
	f := newFixture(t, "modules: {admin: {token: abc, protect_metrics: true}}\n", false)
	if code, _, _ := f.doToken("GET", "/metrics", "", nil); code != 401 {
		t.Errorf("/metrics without token: %d, want 401", code)
	}
	if code, _, body := f.doToken("GET", "/metrics", "abc", nil); code != 200 || !strings.Contains(body, "locus_core_requests_total") {
		t.Errorf("/metrics with token: %d", code)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, _, _ := f.doToken("GET", p, "", nil); code != 200 {
			t.Errorf("%s without token: %d, want 200 (probes stay open)", p, code)
		}
	}
}

func TestNoToken(t *testing.T) {
	f := newFixture(t, "", false)
	var list admin.AORList
	if code, _, body := f.do("GET", "/api/v1/aors", &list); code != 200 {
		t.Fatalf("without a configured token: %d %s", code, body)
	}
	if list.AORs == nil || len(list.AORs) != 0 || list.Next != "" {
		t.Errorf("empty store: %+v, want an empty list and no next", list)
	}
}

func TestMethodsAndPaths(t *testing.T) {
	f := newFixture(t, "", false)
	f.wantError("PUT", "/api/v1/aors", 405, "not allowed")
	f.wantError("POST", "/api/v1/aors/alice@example.com", 405, "not allowed")
	f.wantError("GET", "/api/v1/reload", 405, "not allowed")
	f.wantError("POST", "/healthz", 405, "not allowed")
	f.wantError("GET", "/api/v2/aors", 404, "no such endpoint")
	f.wantError("GET", "/", 404, "no such endpoint")
	_, hdr, _ := f.do("PUT", "/api/v1/aors", nil)
	if allow := hdr.Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("405 Allow %q, want GET in it", allow)
	}
}

func TestListPagination(t *testing.T) {
	f := newFixture(t, "", false)
	var want []string
	for i := range 25 {
		user := fmt.Sprintf("u%02d", i)
		f.register(user, fmt.Sprintf("sip:%s@192.0.2.%d:5060", user, i+1), 3600, "")
		want = append(want, "sip:"+user+"@example.com")
	}
	f.register("u03", "sip:u03@192.0.2.99:5070", 3600, "") // a second binding
	// An AoR whose only binding expired (not yet swept) is not listed.
	if _, err := f.ul.Store().Update(context.Background(), "location", "sip:u07x@example.com", func([]usrloc.Binding) ([]usrloc.Binding, error) {
		return []usrloc.Binding{{AOR: "sip:u07x@example.com", Contact: "sip:u07x@192.0.2.7", Expires: time.Now().Add(-time.Minute), Q: usrloc.QUnset, RUID: "old"}}, nil
	}); err != nil {
		t.Fatal(err)
	}

	var got []string
	after, pages := "", 0
	for {
		var page admin.AORList
		code, _, body := f.do("GET", "/api/v1/aors?limit=10&after="+url.QueryEscape(after), &page)
		if code != 200 {
			t.Fatalf("page %d: %d %s", pages, code, body)
		}
		pages++
		for _, s := range page.AORs {
			got = append(got, s.AOR)
			wantN := 1
			if s.AOR == "sip:u03@example.com" {
				wantN = 2
			}
			if s.Bindings != wantN {
				t.Errorf("%s: %d bindings, want %d", s.AOR, s.Bindings, wantN)
			}
		}
		if page.Next == "" {
			break
		}
		if len(page.AORs) != 10 || page.Next != page.AORs[9].AOR {
			t.Fatalf("page %d: %d AoRs, next %q: want 10 and the last AoR as cursor", pages, len(page.AORs), page.Next)
		}
		after = page.Next
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Errorf("%d pages listing %v\nwant 3 pages listing %v", pages, got, want)
	}

	// An exact multiple of the limit ends with next "" on the last full page.
	var page admin.AORList
	f.do("GET", "/api/v1/aors?limit=25", &page)
	if len(page.AORs) != 25 || page.Next != "" {
		t.Errorf("limit=25 over 25 AoRs: %d AoRs, next %q; want 25 and no next", len(page.AORs), page.Next)
	}
	f.do("GET", "/api/v1/aors", &page)
	if len(page.AORs) != 25 {
		t.Errorf("default limit: %d AoRs, want all 25", len(page.AORs))
	}
	f.do("GET", "/api/v1/aors?prefix="+url.QueryEscape("sip:u1"), &page)
	if len(page.AORs) != 10 || page.AORs[0].AOR != "sip:u10@example.com" {
		t.Errorf("prefix sip:u1: %+v, want u10..u19", page.AORs)
	}
	f.do("GET", "/api/v1/aors?table=other", &page)
	if len(page.AORs) != 0 {
		t.Errorf("table other: %+v, want none", page.AORs)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=1e3"} {
		f.wantError("GET", "/api/v1/aors?"+q, 400, "limit")
	}
	f.wantError("GET", "/api/v1/aors?table="+url.QueryEscape("loc ation"), 400, "table")
	f.wantError("GET", "/api/v1/aors?prefix="+strings.Repeat("x", 2000), 400, "too long")
}

func TestShowAOR(t *testing.T) {
	f := newFixture(t, "modules: {registrar: {domains: [example.com]}}\n", false)
	before := time.Now()
	f.register("alice", "sip:alice@192.0.2.10:5060;transport=udp", 600, "Path: <sip:edge.example.com;lr>\n")
	f.register("alice", "sip:alice@192.0.2.11:5062", 1200, "")

	forms := []string{
		"/api/v1/aors/" + url.PathEscape("sip:alice@example.com"),
		"/api/v1/aors/sip%3Aalice%40example.com",
		"/api/v1/aors/sip:alice@example.com",
		"/api/v1/aors/alice@example.com",
		"/api/v1/aors/alice@EXAMPLE.com",
		"/api/v1/aors/" + url.PathEscape("<sip:alice@example.com:5060;transport=tcp>"),
	}
	for _, p := range forms {
		var d admin.AORDetail
		code, _, body := f.do("GET", p, &d)
		if code != 200 {
			t.Errorf("GET %s: %d %s", p, code, body)
			continue
		}
		if d.AOR != "sip:alice@example.com" || d.Table != "location" || len(d.Bindings) != 2 {
			t.Errorf("GET %s: %+v, want 2 bindings of sip:alice@example.com in location", p, d)
		}
	}

	var d admin.AORDetail
	f.do("GET", forms[0], &d)
	byContact := map[string]admin.Binding{}
	for _, b := range d.Bindings {
		byContact[b.Contact] = b
	}
	b, ok := byContact["sip:alice@192.0.2.10:5060;transport=udp"]
	if !ok {
		t.Fatalf("bindings %+v lack the first contact", d.Bindings)
	}
	if b.ExpiresIn < 595 || b.ExpiresIn > 600 {
		t.Errorf("expires_in %d, want about 600", b.ExpiresIn)
	}
	if b.Expires.Before(before.Add(590*time.Second)) || b.Expires.After(time.Now().Add(601*time.Second)) {
		t.Errorf("expires %v, want about 600 s after %v", b.Expires, before)
	}
	if b.AOR != "sip:alice@example.com" || b.CallID == "" || b.CSeq != 1 || b.UserAgent != "coretest" || b.RUID == "" ||
		b.Q != nil || b.Modified.IsZero() || !slices.Equal(b.Path, []string{"<sip:edge.example.com;lr>"}) {
		t.Errorf("binding fields %+v", b)
	}
	if b2 := byContact["sip:alice@192.0.2.11:5062"]; b2.ExpiresIn < 1195 || b2.RUID == b.RUID || b2.Path == nil {
		t.Errorf("second binding %+v: want ~1200 s, its own RUID, an empty (not null) path", b2)
	}

	f.wantError("GET", "/api/v1/aors/nobody@example.com", 404, "sip:nobody@example.com")
	f.wantError("GET", "/api/v1/aors/alice@example.com?table=other", 404, "other")
	f.wantError("GET", "/api/v1/aors/"+url.PathEscape("tel:+15551234"), 400, "bad AoR")
	f.wantError("GET", "/api/v1/aors/"+url.PathEscape("sip:"), 400, "bad AoR")
	f.wantError("GET", "/api/v1/aors/"+url.PathEscape("sip:a b@example.com"), 400, "bad AoR")
}

func TestShowQ(t *testing.T) {
	f := newFixture(t, "", false)
	f.register("bob", "<sip:bob@192.0.2.20:5060>;q=0.5", 600, "")
	var d admin.AORDetail
	f.do("GET", "/api/v1/aors/bob@example.com", &d)
	if len(d.Bindings) != 1 || d.Bindings[0].Q == nil || *d.Bindings[0].Q != 0.5 {
		t.Errorf("bindings %+v, want q 0.5", d.Bindings)
	}
}

func TestCaseInsensitiveUser(t *testing.T) {
	f := newFixture(t, "modules: {registrar: {case_sensitive_user: false, domains: [example.com]}}\n", false)
	f.register("Carol", "sip:carol@192.0.2.30", 600, "")
	var d admin.AORDetail
	if code, _, body := f.do("GET", "/api/v1/aors/CAROL@example.com", &d); code != 200 || d.AOR != "sip:carol@example.com" {
		t.Errorf("case-insensitive users: %d %s", code, body)
	}
}

func TestDelete(t *testing.T) {
	// The cache is on, so a removal that bypassed usrloc would leave the
	// cached bindings visible to lookups.
	f := newFixture(t, "modules: {usrloc: {cache: \"on\"}}\n", false)
	f.register("alice", "sip:alice@192.0.2.10:5060", 600, "")
	f.register("alice", "sip:alice@192.0.2.11:5060", 600, "")
	f.register("bob", "sip:bob@192.0.2.20:5060", 600, "")
	ctx := context.Background()
	lookup := func(aor string) []usrloc.Binding {
		t.Helper()
		bs, err := f.ul.Lookup(ctx, "location", aor)
		if err != nil {
			t.Fatal(err)
		}
		return bs
	}
	if n := len(lookup("sip:alice@example.com")); n != 2 { // fills the cache
		t.Fatalf("alice has %d bindings, want 2", n)
	}
	lookup("sip:bob@example.com")

	var d admin.AORDetail
	f.do("GET", "/api/v1/aors/alice@example.com", &d)
	ruid := d.Bindings[0].RUID
	var rm admin.Removed
	if code, _, body := f.do("DELETE", "/api/v1/aors/alice@example.com/bindings/"+url.PathEscape(ruid), &rm); code != 200 {
		t.Fatalf("delete binding: %d %s", code, body)
	}
	if rm.Removed != 1 || rm.RUID != ruid || rm.AOR != "sip:alice@example.com" {
		t.Errorf("delete binding answered %+v", rm)
	}
	left := lookup("sip:alice@example.com")
	if len(left) != 1 || left[0].RUID == ruid {
		t.Errorf("after removing %s, lookup gives %+v", ruid, left)
	}
	f.wantError("DELETE", "/api/v1/aors/alice@example.com/bindings/"+url.PathEscape(ruid), 404, ruid)
	f.wantError("DELETE", "/api/v1/aors/alice@example.com/bindings/nope", 404, "nope")
	f.wantError("DELETE", "/api/v1/aors/alice@example.com/bindings/"+url.PathEscape(left[0].RUID)+"?table=other", 404, "other")

	rm = admin.Removed{}
	if code, _, body := f.do("DELETE", "/api/v1/aors/sip%3Abob%40example.com", &rm); code != 200 || rm.Removed != 1 || rm.RUID != "" {
		t.Fatalf("delete AoR: %d %s", code, body)
	}
	if bs := lookup("sip:bob@example.com"); len(bs) != 0 {
		t.Errorf("bob still has %+v after DELETE", bs)
	}
	f.wantError("DELETE", "/api/v1/aors/bob@example.com", 404, "sip:bob@example.com")
	f.wantError("GET", "/api/v1/aors/bob@example.com", 404, "no live binding")
	f.wantError("DELETE", "/api/v1/aors/"+url.PathEscape("tel:1"), 400, "bad AoR")
	// The last binding of alice: the AoR goes away.
	if code, _, _ := f.do("DELETE", "/api/v1/aors/alice@example.com/bindings/"+url.PathEscape(left[0].RUID), &rm); code != 200 {
		t.Fatalf("delete last binding: %d", code)
	}
	var list admin.AORList
	f.do("GET", "/api/v1/aors", &list)
	if len(list.AORs) != 0 {
		t.Errorf("after every removal, list %+v", list.AORs)
	}
	if !strings.Contains(f.log.String(), `"msg":"bindings removed through the admin API"`) {
		t.Error("removals are not logged")
	}
}

func TestReloadAndScript(t *testing.T) {
	f := newFixture(t, "", false)
	var info core.ScriptInfo
	if code, _, body := f.do("GET", "/api/v1/script", &info); code != 200 || info.Generation != 1 || len(info.Hash) != 64 || info.File != f.script {
		t.Fatalf("script: %d %s", code, body)
	}
	var rl admin.Reload
	if code, _, body := f.do("POST", "/api/v1/reload", &rl); code != 200 || rl.Changed || rl.Script.Generation != 1 {
		t.Fatalf("unchanged reload: %d %s", code, body)
	}
	if err := os.WriteFile(f.script, []byte(routeScript+"\n-- v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, body := f.do("POST", "/api/v1/reload", &rl); code != 200 || !rl.Changed || rl.Script.Generation != 2 || rl.Script.Reloads != 1 || rl.Script.Hash == info.Hash {
		t.Fatalf("changed reload: %d %s", code, body)
	}
	// Modules with data of their own reload with the script.
	if got := rl.Modules["reloadtest"]; !got.Changed || got.Error != "" {
		t.Errorf("module reload reported as %+v in %+v", got, rl.Modules)
	}
	if err := os.WriteFile(f.script, []byte("function ksr_request_route()\n  if then\nend\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var fail struct {
		Error  string          `json:"error"`
		Script core.ScriptInfo `json:"script"`
	}
	code, _, body := f.do("POST", "/api/v1/reload", &fail)
	if code != http.StatusUnprocessableEntity || !strings.Contains(fail.Error, "route.lua:2") || fail.Script.Generation != 2 {
		t.Fatalf("broken reload: %d %s; want 422 naming route.lua:2 and generation 2 still serving", code, body)
	}
	f.do("GET", "/api/v1/script", &info)
	if info.Generation != 2 || info.Failures != 1 || !strings.Contains(info.LastError, "route.lua:2") {
		t.Errorf("script after a refused reload: %+v", info)
	}
}

func TestScriptNotLoaded(t *testing.T) {
	f := newFixture(t, "", true)
	f.wantError("GET", "/api/v1/script", 503, "not loaded")
	f.wantError("POST", "/api/v1/reload", 503, "not loaded")
}

func TestStats(t *testing.T) {
	f := newFixture(t, "", false)
	f.register("alice", "sip:alice@192.0.2.10", 600, "")
	f.register("alice", "sip:alice@192.0.2.11", 600, "")
	f.register("bob", "sip:bob@192.0.2.20", 600, "")
	m, _ := coretest.Msg(t, strings.Replace(coretest.Register, "REGISTER sip:example.com", "OPTIONS sip:example.com", 1))
	f.eng.Process(m) // the script drops it: code 0
	var st admin.Stats
	if code, _, body := f.do("GET", "/api/v1/stats", &st); code != 200 {
		t.Fatalf("stats: %d %s", code, body)
	}
	if st.Requests["REGISTER"]["200"] != 3 || st.RequestsTotal != 4 || len(st.Requests) != 2 {
		t.Errorf("requests %v total %d, want REGISTER 200: 3 and 4 in all", st.Requests, st.RequestsTotal)
	}
	if st.AORs == nil || st.Bindings == nil || *st.AORs != 2 || *st.Bindings != 3 {
		t.Errorf("aors %v bindings %v, want 2 and 3", st.AORs, st.Bindings)
	}
	if st.Script == nil || st.Script.Generation != 1 {
		t.Errorf("script %+v, want generation 1", st.Script)
	}
	if !slices.Equal(st.Listeners, []string{"udp:127.0.0.1:5060"}) || st.Inflight != 0 || st.UptimeSeconds < 0 || st.StartedAt.IsZero() {
		t.Errorf("stats %+v", st)
	}
	// /metrics agrees.
	_, _, body := f.do("GET", "/metrics", nil)
	if !strings.Contains(body, `locus_core_requests_total{code="200",method="REGISTER"} 3`) {
		t.Errorf("/metrics lacks the REGISTER count:\n%s", body)
	}
	for _, name := range []string{"go_goroutines", "process_open_fds", "locus_usrloc_store_errors_total"} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

func TestReadyz(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		f := newFixture(t, "", false)
		var r admin.Ready
		if code, _, body := f.do("GET", "/readyz", &r); code != 200 || !r.Ready {
			t.Errorf("/readyz: %d %s", code, body)
		}
	})
	t.Run("nothing up", func(t *testing.T) {
		f := newFixture(t, "", true)
		var r admin.Ready
		code, _, body := f.do("GET", "/readyz", &r)
		if code != 503 || r.Ready || r.Error == "" || len(r.Failed) != 2 || r.Failed[0].Check != "listeners" || r.Failed[1].Check != "script" {
			t.Errorf("/readyz before start: %d %s", code, body)
		}
		if code, _, _ := f.do("GET", "/healthz", nil); code != 200 {
			t.Errorf("/healthz before start: %d", code)
		}
	})
	t.Run("module fails", func(t *testing.T) {
		f := newFixture(t, "modules: {readytest: {fail: store unreachable}}\n", false)
		var r admin.Ready
		code, _, body := f.do("GET", "/readyz", &r)
		if code != 503 || len(r.Failed) != 1 || r.Failed[0] != (admin.ReadyCheck{Check: "module readytest", Error: "store unreachable"}) {
			t.Errorf("/readyz: %d %s", code, body)
		}
	})
	t.Run("module hangs", func(t *testing.T) {
		f := newFixture(t, "modules: {readytest: {hang: true}}\n", false)
		start := time.Now()
		var r admin.Ready
		code, _, body := f.do("GET", "/readyz", &r)
		if d := time.Since(start); d > 2*time.Second || d < time.Second {
			t.Errorf("/readyz took %v, want about 1 s", d)
		}
		if code != 503 || len(r.Failed) != 1 || !strings.Contains(r.Failed[0].Error, "no answer within 1s") {
			t.Errorf("/readyz: %d %s", code, body)
		}
	})
}

func TestBrowserProtection(t *testing.T) {
	send := func(f *fixture, method, path, host, token string, hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, f.base+path, nil)
		if host != "" {
			req.Host = host
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var e admin.Error
		_ = json.NewDecoder(res.Body).Decode(&e)
		return res.StatusCode, e.Error
	}
	f := newFixture(t, "", false)
	_, port, _ := net.SplitHostPort(f.a.Addr())
	crossSite := map[string]string{"Sec-Fetch-Site": "cross-site"}
	for _, tc := range []struct {
		name, method, path, host string
		hdr                      map[string]string
		want                     int
	}{
		{"cross-site reload", "POST", "/api/v1/reload", "", crossSite, 403},
		{"cross-origin delete", "DELETE", "/api/v1/aors/alice@example.com", "", map[string]string{"Origin": "http://evil.example"}, 403},
		{"cross-site read is a safe method", "GET", "/api/v1/aors", "", crossSite, 200},
		{"same-origin reload", "POST", "/api/v1/reload", "", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"rebound host name", "GET", "/api/v1/aors", "evil.example:" + port, nil, 403},
		{"localhost", "GET", "/api/v1/aors", "localhost:" + port, nil, 200},
		{"IPv6 literal", "GET", "/api/v1/aors", "[::1]:" + port, nil, 200},
		{"probes for any host", "GET", "/healthz", "evil.example", nil, 200},
	} {
		if code, msg := send(f, tc.method, tc.path, tc.host, "", tc.hdr); code != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, code, msg, tc.want)
		}
	}
	// With a token, host names are fine: the token is what protects.
	ft := newFixture(t, "modules: {admin: {token: tok}}\n", false)
	if code, msg := send(ft, "GET", "/api/v1/aors", "locus.example.net", "tok", nil); code != 200 {
		t.Errorf("host name with a token: %d %q", code, msg)
	}
}
