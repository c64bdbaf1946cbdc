package main

// Black-box tests of operating locus: the admin API and its probes and
// metrics, "locus ctl" against the running binary, start-up logs, and
// graceful shutdown on SIGTERM.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/admin"
)

// opsScript saves REGISTERs without authentication and redirects other
// requests to the registered contact; reason names the version.
func opsScript(version string) string {
	return fmt.Sprintf(`
function ksr_request_route()
	if KSR.is_ACK() then KSR.x.exit() end
	if KSR.is_REGISTER() then
		KSR.registrar.save("location", 0)
		KSR.x.exit()
	end
	if KSR.registrar.lookup("location") < 0 then
		KSR.sl.send_reply(404, "Not Found %s")
		KSR.x.exit()
	end
	KSR.hdr.append_to_reply("Contact: <" .. KSR.pv.get("$ru") .. ">\r\n")
	KSR.sl.send_reply(302, "Moved %s")
end
`, version, version)
}

const opsToken = "ops-token-0123"

// opsAPI calls the admin API at addr and decodes JSON into out.
func opsAPI(t *testing.T, method, url, token string, out any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %v in %q", method, url, res.StatusCode, err, b)
		}
	}
	return res.StatusCode, string(b)
}

// TestOps starts locus with the admin API on 127.0.0.1:0 and a token
// file, registers over UDP, then checks the probes, /metrics, every API
// endpoint and every ctl command, and that SIGTERM closes everything and
// exits 0.
func TestOps(t *testing.T) {
	dir := t.TempDir()
	scriptFile := filepath.Join(dir, "route.lua")
	writeFile(t, scriptFile, opsScript("v1"))
	tokenFile := filepath.Join(dir, "admin.token")
	writeFile(t, tokenFile, opsToken+"\n")
	cfg := filepath.Join(dir, "locus.yaml")
	writeFile(t, cfg, fmt.Sprintf(`listen: [udp:127.0.0.1:0]
script: {file: %q, watch: false}
store: "memory:"
modules:
  registrar: {domains: [example.com]}
  auth_db: {db_url: %q}
  admin: {token_file: %q}
`, scriptFile, "file:"+filepath.Join(dir, "users.htdigest"), tokenFile))
	// startLocus passes --admin off first: the later flag wins.
	p := startLocus(t, "--config", cfg, "--admin", "127.0.0.1:0")

	// Start-up logs: one line per listener, the script generation and
	// the store, the admin listener.
	if recs := p.Log.Records("listening"); len(recs) != 1 || recs[0]["proto"] != "udp" {
		t.Errorf("listening records %v, want one for udp", recs)
	}
	started := p.Log.Records("locus started")[0]
	if started["generation"] != float64(1) || started["hash"] != hash12(opsScript("v1")) || started["store"] != "memory:" || started["script"] != scriptFile {
		t.Errorf("locus started record %v, want generation 1, the script's hash, store memory:", started)
	}
	adminRecs := p.Log.Records("admin listening")
	if len(adminRecs) != 1 {
		t.Fatalf("%d \"admin listening\" records; log:\n%s", len(adminRecs), p.Log.String())
	}
	adminAddr, _ := adminRecs[0]["addr"].(string)
	if host, port, err := net.SplitHostPort(adminAddr); err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("admin listening on %q, want 127.0.0.1 and a real port", adminAddr)
	}
	if strings.Contains(p.Log.String(), opsToken) {
		t.Error("the admin token appears in the log")
	}
	api := "http://" + adminAddr

	// Register alice twice (two contacts), bob and carol over UDP.
	c := dialSIP(t, "udp", p.Addrs["udp"], nil)
	port := c.LocalPort()
	register := func(user, contact string) {
		t.Helper()
		raw := sipReq{User: user, ViaHost: "127.0.0.1", ViaPort: port, Extra: "Expires: 600\r\n"}.String()
		if contact != "" {
			raw = strings.Replace(raw, fmt.Sprintf("Contact: <sip:%s@127.0.0.1:%d>", user, port), "Contact: <"+contact+">", 1)
		}
		if res := mustReply(t, c, raw, callIDOf(t, raw)); res.StatusCode != 200 {
			t.Fatalf("REGISTER %s: %d %s", user, res.StatusCode, res.Reason)
		}
	}
	register("alice", "")
	register("alice", "sip:alice@192.0.2.50:5999")
	register("bob", "")
	register("carol", "")
	invite := func(user string) *sip.Response {
		t.Helper()
		raw := sipReq{Method: "OPTIONS", User: user, ViaHost: "127.0.0.1", ViaPort: port}.String()
		return mustReply(t, c, raw, callIDOf(t, raw))
	}
	if res := invite("bob"); res.StatusCode != 302 {
		t.Fatalf("request for bob: %d, want 302", res.StatusCode)
	}

	t.Run("probes and metrics", func(t *testing.T) {
		if code, body := opsAPI(t, "GET", api+"/healthz", "", nil); code != 200 || body != "ok\n" {
			t.Errorf("/healthz: %d %q", code, body)
		}
		var r admin.Ready
		if code, body := opsAPI(t, "GET", api+"/readyz", "", &r); code != 200 || !r.Ready {
			t.Errorf("/readyz: %d %s", code, body)
		}
		code, metrics := opsAPI(t, "GET", api+"/metrics", "", nil)
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		for _, want := range []string{
			`locus_core_requests_total{code="200",method="REGISTER"} 4`,
			`locus_core_requests_total{code="302",method="OPTIONS"} 1`,
			`locus_registrar_registrations_total{reason="",result="inserted"} 4`,
			`locus_usrloc_aors 3`,
			`locus_usrloc_bindings 4`,
			`locus_script_generation 1`,
			`process_resident_memory_bytes `,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		// Every metric a module README names is served.
		for _, name := range readmeMetrics(t) {
			if !strings.Contains(metrics, "# TYPE "+name+" ") {
				t.Errorf("%s is documented in a module README but not on /metrics", name)
			}
		}
	})

	t.Run("api", func(t *testing.T) {
		var e admin.Error
		if code, _ := opsAPI(t, "GET", api+"/api/v1/aors", "", &e); code != 401 || e.Error == "" {
			t.Errorf("without token: %d %q, want 401 with an error", code, e.Error)
		}
		if code, _ := opsAPI(t, "GET", api+"/api/v1/aors", "not-"+opsToken, nil); code != 401 {
			t.Errorf("wrong token: %d, want 401", code)
		}
		var list admin.AORList
		opsAPI(t, "GET", api+"/api/v1/aors?limit=2", opsToken, &list)
		if len(list.AORs) != 2 || list.AORs[0] != (admin.AORSummary{AOR: "sip:alice@example.com", Bindings: 2}) || list.Next != "sip:bob@example.com" {
			t.Errorf("first page %+v", list)
		}
		opsAPI(t, "GET", api+"/api/v1/aors?limit=2&after="+list.Next, opsToken, &list)
		if len(list.AORs) != 1 || list.AORs[0].AOR != "sip:carol@example.com" || list.Next != "" {
			t.Errorf("second page %+v", list)
		}
		var d admin.AORDetail
		if code, body := opsAPI(t, "GET", api+"/api/v1/aors/sip%3Aalice%40example.com", opsToken, &d); code != 200 || len(d.Bindings) != 2 {
			t.Fatalf("show alice: %d %s", code, body)
		}
		b := d.Bindings[0]
		if b.Contact != fmt.Sprintf("sip:alice@127.0.0.1:%d", port) || b.Received != fmt.Sprintf("udp:127.0.0.1:%d", port) ||
			b.Socket != "udp:"+p.Addrs["udp"] || b.ExpiresIn < 590 || b.ExpiresIn > 600 || b.RUID == "" || b.CSeq != 1 {
			t.Errorf("alice's first binding %+v", b)
		}
		for _, tc := range []struct {
			method, path string
			code         int
		}{
			{"GET", "/api/v1/aors?limit=5000", 400},
			{"GET", "/api/v1/aors/nobody@example.com", 404},
			{"DELETE", "/api/v1/aors/nobody@example.com", 404},
			{"PUT", "/api/v1/aors", 405},
			{"GET", "/api/v1/reload", 405},
		} {
			e = admin.Error{}
			if code, body := opsAPI(t, tc.method, api+tc.path, opsToken, &e); code != tc.code || e.Error == "" {
				t.Errorf("%s %s: %d %s, want %d with a JSON error", tc.method, tc.path, code, body, tc.code)
			}
		}
		var st admin.Stats
		opsAPI(t, "GET", api+"/api/v1/stats", opsToken, &st)
		if st.Requests["REGISTER"]["200"] != 4 || st.AORs == nil || *st.AORs != 3 || *st.Bindings != 4 ||
			st.Registrations["inserted"] != 4 || st.Script == nil || st.Script.Generation != 1 || len(st.Listeners) != 1 {
			t.Errorf("stats %+v", st)
		}
		var info core.ScriptInfo
		opsAPI(t, "GET", api+"/api/v1/script", opsToken, &info)
		if info.Generation != 1 || info.File != scriptFile || info.Hash[:12] != hash12(opsScript("v1")) {
			t.Errorf("script %+v", info)
		}
	})

	ctlArgs := func(args ...string) []string {
		return append([]string{"ctl", "--admin", adminAddr, "--token-file", tokenFile}, args...)
	}
	t.Run("ctl", func(t *testing.T) {
		out, errOut, code := runLocus(t, ctlArgs("ul", "dump")...)
		if code != 0 {
			t.Fatalf("ctl ul dump: exit %d, %s", code, errOut)
		}
		for _, re := range []string{`(?m)^AOR\s+BINDINGS$`, `(?m)^sip:alice@example\.com\s+2$`, `(?m)^sip:bob@example\.com\s+1$`,
			`(?m)^sip:carol@example\.com\s+1$`, `(?m)^3 AoRs, 4 bindings$`} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("ul dump does not match %s:\n%s", re, out)
			}
		}
		out, _, code = runLocus(t, ctlArgs("ul", "show", "alice@example.com")...)
		if code != 0 || !strings.Contains(out, "contact     sip:alice@192.0.2.50:5999") || !strings.Contains(out, "sip:alice@example.com (table location): 2 bindings") {
			t.Errorf("ul show: exit %d:\n%s", code, out)
		}
		var d admin.AORDetail
		out, _, _ = runLocus(t, ctlArgs("--json", "ul", "show", "alice@example.com")...)
		if err := json.Unmarshal([]byte(out), &d); err != nil || len(d.Bindings) != 2 {
			t.Fatalf("ul show --json: %v\n%s", err, out)
		}

		// Removing bob's AoR takes effect for requests at once.
		if out, errOut, code := runLocus(t, ctlArgs("ul", "rm", "sip:bob@example.com")...); code != 0 || out != "removed 1 binding of sip:bob@example.com\n" {
			t.Errorf("ul rm bob: exit %d, %q %q", code, out, errOut)
		}
		if res := invite("bob"); res.StatusCode != 404 {
			t.Errorf("request for bob after ul rm: %d, want 404", res.StatusCode)
		}
		ruid := d.Bindings[1].RUID
		if out, _, code := runLocus(t, ctlArgs("ul", "rm", "alice@example.com", ruid)...); code != 0 || out != "removed 1 binding of sip:alice@example.com\n" {
			t.Errorf("ul rm alice %s: exit %d, %q", ruid, code, out)
		}
		if res := invite("alice"); res.StatusCode != 302 || !strings.Contains(res.String(), fmt.Sprintf("sip:alice@127.0.0.1:%d", port)) {
			t.Errorf("request for alice after removing one binding: %d\n%s", res.StatusCode, res)
		}
		_, errOut, code = runLocus(t, ctlArgs("ul", "show", "bob@example.com")...)
		if code == 0 || !strings.Contains(errOut, "no live binding for sip:bob@example.com in table location (HTTP 404)") {
			t.Errorf("ul show of a removed AoR: exit %d, stderr %q", code, errOut)
		}
		_, errOut, code = runLocus(t, "ctl", "--admin", adminAddr, "--token", "wrong", "stats")
		if code == 0 || !strings.Contains(errOut, "HTTP 401") {
			t.Errorf("ctl with a wrong token: exit %d, stderr %q", code, errOut)
		}
		out, _, code = runLocus(t, ctlArgs("stats")...)
		if code != 0 || !regexp.MustCompile(`(?m)^REGISTER\s+200\s+4$`).MatchString(out) || !regexp.MustCompile(`(?m)^aors\s+2$`).MatchString(out) {
			t.Errorf("ctl stats: exit %d:\n%s", code, out)
		}
	})

	t.Run("reload", func(t *testing.T) {
		out, _, code := runLocus(t, ctlArgs("script")...)
		if code != 0 || !regexp.MustCompile(`(?m)^generation\s+1$`).MatchString(out) {
			t.Errorf("ctl script: exit %d:\n%s", code, out)
		}
		writeFile(t, scriptFile, opsScript("v2"))
		out, errOut, code := runLocus(t, ctlArgs("reload")...)
		if code != 0 || out != fmt.Sprintf("reloaded: generation 2, hash %s, %s\n", hash12(opsScript("v2")), scriptFile) {
			t.Fatalf("ctl reload: exit %d, %q %q", code, out, errOut)
		}
		if res := invite("nobody"); res.Reason != "Not Found v2" {
			t.Errorf("after ctl reload the reply is %d %q, want the v2 script's", res.StatusCode, res.Reason)
		}
		if out, _, code := runLocus(t, ctlArgs("reload")...); code != 0 || !strings.HasPrefix(out, "unchanged: generation 2") {
			t.Errorf("ctl reload of the same file: exit %d, %q", code, out)
		}
		writeFile(t, scriptFile, "function ksr_request_route()\n  if then\nend\n")
		_, errOut, code = runLocus(t, ctlArgs("reload")...)
		if code == 0 || !strings.Contains(errOut, "reload refused, generation 2 keeps serving") || !strings.Contains(errOut, scriptFile+":2:") {
			t.Errorf("ctl reload of a broken script: exit %d, stderr %q", code, errOut)
		}
		p.Log.WaitCount(t, msgRefused, 1, time.Second)
		if res := invite("nobody"); res.Reason != "Not Found v2" {
			t.Errorf("after a refused reload the reply is %q, want v2's", res.Reason)
		}
		out, _, _ = runLocus(t, ctlArgs("script")...)
		if !regexp.MustCompile(`(?m)^refused reloads\s+1$`).MatchString(out) || !strings.Contains(out, scriptFile+":2:") {
			t.Errorf("ctl script after a refused reload:\n%s", out)
		}
	})

	// SIGTERM: exit 0 (stop checks it), "stopped" logged, the admin port
	// closed.
	p.Stop(t)
	if d := p.Log.Records("shutting down"); len(d) != 1 || d[0]["signal"] != "terminated" {
		t.Errorf("shutting down records %v", d)
	}
	if conn, err := net.DialTimeout("tcp", adminAddr, time.Second); err == nil {
		conn.Close()
		t.Errorf("admin port %s still open after exit", adminAddr)
	}
}

// readmeMetrics returns the metric names in the Metrics sections of the
// compiled-in modules' READMEs.
func readmeMetrics(t *testing.T) []string {
	t.Helper()
	name := regexp.MustCompile("`(locus_[a-z0-9_]+)`")
	seen := map[string]bool{}
	for _, m := range core.RegisteredModules() {
		b, err := os.ReadFile(filepath.Join("..", "..", "modules", m.Name, "README.md"))
		if os.IsNotExist(err) {
			continue // a store module lives under modules/store/
		}
		if err != nil {
			t.Fatal(err)
		}
		_, sec, _ := strings.Cut(string(b), "\n## Metrics\n")
		sec, _, _ = strings.Cut(sec, "\n## ")
		for _, m := range name.FindAllStringSubmatch(sec, -1) {
			seen[m[1]] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	if len(out) < 5 {
		t.Fatalf("only %d metrics named in module READMEs: %v", len(out), out)
	}
	return out
}

// TestGracefulShutdown: a request in progress when SIGTERM arrives is
// answered before locus exits 0, over UDP and TCP.
func TestGracefulShutdown(t *testing.T) {
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			// The route logs, then spins long enough for SIGTERM to
			// arrive while it runs.
			scriptFile := newScript(t, routeScript(`
	if KSR.is_REGISTER() then
		KSR.info("slow route started")
		local x = 0
		for i = 1, 2000000 do x = x + i end
		KSR.sl.send_reply(200, "Slow OK")
		KSR.x.exit()
	end
	KSR.sl.send_reply(403, "No")`))
			cfg := filepath.Join(t.TempDir(), "locus.yaml")
			writeFile(t, cfg, fmt.Sprintf("script: {file: %q, timeout: 30s}\nshutdown_timeout: 30s\n", scriptFile))
			p := startLocus(t, "--config", cfg, "--listen", proto+":127.0.0.1:0")
			c := dialSIP(t, proto, p.Addrs[proto], nil)
			raw := sipReq{ViaHost: "127.0.0.1", ViaPort: c.LocalPort(), Transport: strings.ToUpper(proto)}.String()
			callID := callIDOf(t, raw)
			var (
				res         *sip.Response
				err         error
				termedFirst bool
				wg          sync.WaitGroup
			)
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err = tryExchange(c, raw, callID, 10*time.Second)
				termedFirst = p.Log.Count("shutting down") == 1
			}()
			p.Log.WaitCount(t, "slow route started", 1, 5*time.Second)
			p.Signal(t, syscall.SIGTERM)
			wg.Wait()
			switch {
			case err != nil || res == nil || res.StatusCode != 200 || res.Reason != "Slow OK":
				// core.Server.Shutdown must stop reading without closing
				// the socket the reply goes out on.
				t.Errorf("request in progress at SIGTERM got %v (%v), want 200 Slow OK before exit; log:\n%s", res, err, p.Log.String())
			case !termedFirst:
				t.Errorf("the route ended before SIGTERM was handled: make it slower")
			}
			if err := p.Wait(t, 30*time.Second); err != nil {
				t.Errorf("exit after SIGTERM: %v, want status 0", err)
			}
			if i, j := strings.Index(p.Log.String(), `"msg":"shutting down"`), strings.Index(p.Log.String(), `"msg":"stopped"`); i < 0 || j < i {
				t.Errorf("want \"shutting down\" then \"stopped\" in the log:\n%s", p.Log.String())
			}
		})
	}
}

// A SIGTERM that arrives while locus is still starting (its modules are
// being loaded) is a graceful shutdown once it has started: the signal
// handler is installed first, not after "locus started".
func TestSIGTERMDuringStart(t *testing.T) {
	cmd := exec.Command(locusBin, "run", "--log-format", "json", "--admin", "off",
		"--listen", "udp:127.0.0.1:0", "--store", "memory:", "--script", newScript(t, e2eNoAuthScript))
	cmd.Env = locusEnv()
	cmd.Dir = t.TempDir()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	signalled := false
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		// The admin module logs this while modules load, before the
		// listeners are up.
		if !signalled && strings.Contains(sc.Text(), `"msg":"admin API off"`) {
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			signalled = true
		}
	}
	err = cmd.Wait()
	if !signalled {
		t.Fatalf("never saw the admin module start; log:\n%s", log.String())
	}
	if err != nil || !strings.Contains(log.String(), `"msg":"stopped"`) {
		t.Fatalf("SIGTERM during start: %v, want exit status 0 after \"stopped\"; log:\n%s", err, log.String())
	}
}
