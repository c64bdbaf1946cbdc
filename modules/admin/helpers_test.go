package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/core/script"
	"github.com/locus-sip/locus/modules/admin"
	_ "github.com/locus-sip/locus/modules/store/memstore"
	"github.com/locus-sip/locus/modules/usrloc"
	"go.yaml.in/yaml/v3"
)

// readyTest is a module that reports readiness as its config says, so
// that /readyz can be tested with a module that fails or never answers.
type readyTest struct {
	Fail string `yaml:"fail"` // Ready's error, "" for ready
	Hang bool   `yaml:"hang"` // Ready ignores its context and blocks 3 s
}

func (r *readyTest) Ready(context.Context) error {
	if r.Hang {
		time.Sleep(3 * time.Second)
	}
	if r.Fail != "" {
		return errors.New(r.Fail)
	}
	return nil
}

// reloadTest is a module with data of its own: Reload counts its calls
// and fails when told to.
type reloadTest struct {
	Fail  string `yaml:"fail"`
	calls int
}

func (r *reloadTest) Reload() (bool, error) {
	r.calls++
	if r.Fail != "" {
		return false, errors.New(r.Fail)
	}
	return true, nil
}

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "readytest", New: func() core.Module { return &readyTest{} }})
	core.RegisterModule(core.ModuleInfo{Name: "reloadtest", New: func() core.Module { return &reloadTest{} }})
}

// routeScript saves every REGISTER and answers anything else 404.
const routeScript = `
function ksr_request_route()
	if KSR.is_REGISTER() then
		KSR.registrar.save("location", 0)
		KSR.x.exit()
	end
	KSR.x.drop()
end
`

// syncBuf is a log sink safe for the server's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is a host with every module of this test binary (admin,
// registrar, usrloc over the memory store, readytest), the admin API on
// 127.0.0.1:0, a real script runtime and engine.
type fixture struct {
	t      *testing.T
	h      *core.Host
	a      *admin.Admin
	ul     *usrloc.Usrloc
	rt     *script.Runtime
	eng    *core.Engine
	script string
	base   string
	token  string
	log    *syncBuf
}

// newFixture loads the modules with the given YAML config (top level:
// modules sections and the like), then the script and the engine. The
// listeners and the script are published unless bare.
func newFixture(t *testing.T, cfgYAML string, bare bool) *fixture {
	t.Helper()
	cfg := &core.Config{}
	if err := core.ParseConfig([]byte(cfgYAML), cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	if _, ok := cfg.Modules["registrar"]; !ok {
		// The REGISTERs of the tests are for example.com.
		var n yaml.Node
		if err := yaml.Unmarshal([]byte("{domains: [example.com]}"), &n); err != nil {
			t.Fatal(err)
		}
		if cfg.Modules == nil {
			cfg.Modules = map[string]yaml.Node{}
		}
		cfg.Modules["registrar"] = *n.Content[0]
	}
	if cfg.Admin == "" {
		cfg.Admin = "127.0.0.1:0"
	}
	cfg.Store = "memory:"
	cfg.ShutdownTimeout = core.Duration(2 * time.Second)
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, log: &syncBuf{}}
	log := slog.New(slog.NewJSONHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := core.LoadModules(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("load modules: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Cleanup(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	f.h = h
	m, _ := h.Module("admin")
	f.a = m.(*admin.Admin)
	m, _ = h.Module("usrloc")
	f.ul = m.(*usrloc.Usrloc)

	exports := script.ExportsOf(h.Modules())
	f.script = coretest.WriteScript(t, routeScript)
	rt, err := script.New(script.Options{File: f.script, Exports: exports, PoolSize: 2, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	f.rt = rt
	f.eng = core.NewEngine(rt, log, 0, "locus")
	f.eng.SetMetrics(core.NewMetrics(h.Metrics, f.eng))
	if !bare {
		h.SetScript(rt)
		h.SetListeners([]string{"udp:127.0.0.1:5060"})
	}
	if f.a.Addr() != "" {
		f.base = "http://" + f.a.Addr()
	}
	return f
}

var callSeq atomic.Int64

// register runs a REGISTER for user@example.com with one contact (a URI,
// or a whole Contact value starting with "<") through the engine and
// requires 200.
func (f *fixture) register(user, contact string, expires int, extra string) {
	f.t.Helper()
	raw := strings.ReplaceAll(coretest.Register, "alice", user)
	if !strings.HasPrefix(contact, "<") {
		contact = "<" + contact + ">"
	}
	raw = strings.Replace(raw, "<sip:"+user+"@192.0.2.10:5060>", contact, 1)
	raw = strings.Replace(raw, "Expires: 3600", fmt.Sprintf("Expires: %d", expires), 1)
	raw = strings.Replace(raw, "c1@192.0.2.10", fmt.Sprintf("%s-%d@192.0.2.10", user, callSeq.Add(1)), 1)
	raw = strings.Replace(raw, "User-Agent: coretest\n", "User-Agent: coretest\n"+extra, 1)
	m, rec := coretest.Msg(f.t, raw)
	f.eng.Process(m)
	if rec.Code() != 200 {
		f.t.Fatalf("REGISTER %s %s: %d, want 200", user, contact, rec.Code())
	}
}

// do sends a request to the admin API with the fixture's token (if any)
// and decodes a JSON answer into out (unless nil).
func (f *fixture) do(method, path string, out any) (int, http.Header, string) {
	f.t.Helper()
	return f.doToken(method, path, f.token, out)
}

func (f *fixture) doToken(method, path, token string, out any) (int, http.Header, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.base+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	if out != nil && len(b) > 0 {
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			f.t.Fatalf("%s %s: Content-Type %q, want application/json; body %s", method, path, ct, b)
		}
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return res.StatusCode, res.Header, string(b)
}

// wantError checks a JSON error answer.
func (f *fixture) wantError(method, path string, code int, contains string) {
	f.t.Helper()
	var e admin.Error
	got, _, body := f.do(method, path, &e)
	if got != code {
		f.t.Errorf("%s %s: %d, want %d; body %s", method, path, got, code, body)
		return
	}
	if e.Error == "" || !strings.Contains(e.Error, contains) {
		f.t.Errorf("%s %s: error %q, want one containing %q", method, path, e.Error, contains)
	}
}

// writeTokenFile writes content to a fresh file and returns its path.
func writeTokenFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
