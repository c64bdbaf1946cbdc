package permissions_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/permissions"
	"github.com/locus-sip/locus/modules/sl"
)

func TestLua(t *testing.T) {
	p := permissions.NewWithTable(compile(t, map[int][]string{
		1: {"192.0.2.0/24"},
		2: {"192.0.2.10:5060", "2001:db8::/32"},
		5: {"198.51.100.7:5070"},
	}), nil)
	cases := []struct {
		call   string
		srcIP  string
		srcPrt int
		want   string
	}{
		{"allow_source_address(1)", "192.0.2.10", 5060, "1"},
		{"allow_source_address()", "192.0.2.10", 5060, "1"}, // group 1 by default
		{"allow_source_address(1)", "203.0.113.1", 5060, "-1"},
		{"allow_source_address(2)", "192.0.2.10", 5060, "1"},
		{"allow_source_address(2)", "192.0.2.10", 5061, "-1"},
		{"allow_source_address(2)", "2001:db8::5", 5061, "1"},
		{"allow_source_address(7)", "192.0.2.10", 5060, "-1"},
		{`allow_address(5, "198.51.100.7", 5070)`, "192.0.2.10", 5060, "1"},
		{`allow_address(5, "198.51.100.7", 5071)`, "192.0.2.10", 5060, "-1"},
		{`allow_address(1, "not an ip", 5060)`, "192.0.2.10", 5060, "-1"},
		{"allow_source_address_group()", "192.0.2.10", 5060, "1"},
		{"allow_source_address_group()", "2001:db8::5", 1, "2"},
		{"allow_source_address_group()", "203.0.113.1", 5060, "-1"},
		{`allow_address_group("198.51.100.7", 5070)`, "192.0.2.10", 5060, "5"},
		{`allow_address_group("198.51.100.7", 1)`, "192.0.2.10", 5060, "-1"},
		{`allow_address_group("", 1)`, "192.0.2.10", 5060, "-1"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.call, " from ", tc.srcIP, ":", tc.srcPrt), func(t *testing.T) {
			src := "function ksr_request_route() KSR.sl.send_reply(200, tostring(KSR.permissions." + tc.call + ")) end"
			rt := coretest.Runtime(t, src, coretest.Export("permissions", p), coretest.Export("sl", &sl.SL{}))
			m, rec := coretest.Msg(t, coretest.Register)
			m.SrcIP, m.SrcPort = tc.srcIP, tc.srcPrt
			if err := rt.Route(m); err != nil {
				t.Fatal(err)
			}
			if f := rec.Final(); f == nil || f.Reason != tc.want {
				t.Fatalf("reply %v, want reason %s", f, tc.want)
			}
		})
	}
	src := `function ksr_request_route() KSR.permissions.allow_address(1, "10.0.0.1") end`
	if rec, _ := coretest.Route(t, src, coretest.Register, coretest.Export("permissions", p)); rec.Code() != 500 {
		t.Fatalf("missing argument: reply %d, want the fallback 500", rec.Code())
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Write and rename, as editors do.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "address.list")
	writeFile(t, file, "3 203.0.113.0/24\n")
	bad := filepath.Join(dir, "bad.list")
	writeFile(t, bad, "1 10.0.0.0/8\n1 nowhere\n")
	cases := []struct {
		name, yaml, wantErr string
		allowed             []string // "group ip port"
	}{
		{"none", "", "", nil},
		{"groups", "modules:\n  permissions:\n    groups:\n      1: [10.0.0.0/8, \"192.0.2.1:5060\"]\n      2: [\"[2001:db8::1]:5061\"]\n", "",
			[]string{"1 10.1.1.1 1", "1 192.0.2.1 5060", "2 2001:db8::1 5061"}},
		{"groups and file", "modules:\n  permissions:\n    groups:\n      3: [10.0.0.0/8]\n    file: " + file + "\n", "",
			[]string{"3 10.1.1.1 1", "3 203.0.113.5 1"}},
		{"bad entry", "modules:\n  permissions:\n    groups:\n      1: [10.0.0.0/8, 10.0.0.0/40]\n", "groups.1[1]", nil},
		{"negative group", "modules:\n  permissions:\n    groups:\n      -1: [10.0.0.0/8]\n", "groups.-1", nil},
		{"group not a number", "modules:\n  permissions:\n    groups:\n      one: [10.0.0.0/8]\n", "one", nil},
		{"missing file", "modules:\n  permissions:\n    file: " + filepath.Join(dir, "none") + "\n", "no such file", nil},
		{"bad file", "modules:\n  permissions:\n    file: " + bad + "\n", "line 2", nil},
		{"watch without file", "modules:\n  permissions:\n    watch: true\n", "watch", nil},
		{"unknown key", "modules:\n  permissions:\n    db_url: x\n", "db_url", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := coretest.LoadModule(t, tc.yaml, "permissions")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := m.(*permissions.Permissions)
			for _, a := range tc.allowed {
				if !allowed(t, p, a) {
					t.Errorf("%s not allowed", a)
				}
			}
			if p.Table().Len() != len(tc.allowed) && tc.name != "groups and file" {
				t.Errorf("%d rules, want %d", p.Table().Len(), len(tc.allowed))
			}
		})
	}
}

func allowed(t *testing.T, p *permissions.Permissions, spec string) bool {
	t.Helper()
	var g, port int
	var ip string
	if _, err := fmt.Sscan(spec, &g, &ip, &port); err != nil {
		t.Fatal(err)
	}
	a, err := netipParse(ip)
	if err != nil {
		t.Fatal(err)
	}
	return p.Allow(g, a, port)
}

// TestFileReload: the watcher picks up a changed file, refuses a bad one
// (keeping the groups), and Reload does it on demand.
func TestFileReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "address.list")
	writeFile(t, file, "1 10.0.0.0/8\n")
	h, err := coretest.LoadModules(t, "modules:\n  permissions:\n    groups:\n      2: [192.0.2.1]\n    file: "+file+"\n")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := h.Module("permissions")
	p := m.(*permissions.Permissions)
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5 s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !allowed(t, p, "1 10.0.0.1 5060") || allowed(t, p, "1 172.16.0.1 5060") {
		t.Fatal("initial groups")
	}
	writeFile(t, file, "1 172.16.0.0/12\n")
	eventually("reload after change", func() bool { return allowed(t, p, "1 172.16.0.1 5060") })
	if allowed(t, p, "1 10.0.0.1 5060") || !allowed(t, p, "2 192.0.2.1 5060") {
		t.Fatal("after reload: old file entry kept, or configured group lost")
	}

	writeFile(t, file, "1 172.16.0.0/12\n1 garbage\n")
	eventually("refused reload counted", func() bool { return counter(t, h, "locus_permissions_reloads_total", "failed") >= 1 })
	if !allowed(t, p, "1 172.16.0.1 5060") {
		t.Fatal("a bad file replaced the groups")
	}
	if got := counter(t, h, "locus_permissions_reloads_total", "ok"); got != 2 {
		t.Fatalf("ok loads %v, want 2 (start and one change)", got)
	}

	// On demand, without waiting for the watcher.
	if err := os.WriteFile(file, []byte("1 198.51.100.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := p.Reload()
	if err != nil || !changed || !allowed(t, p, "1 198.51.100.1 1") {
		t.Fatalf("Reload: %v, %v", changed, err)
	}
	if changed, err := p.Reload(); err != nil || changed {
		t.Fatalf("Reload of the same content: %v, %v; want unchanged", changed, err)
	}
}

// TestREADME loads the README's configuration (with its file) and runs
// its example.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	file := filepath.Join(t.TempDir(), "address.list")
	writeFile(t, file, coretest.Fences(t, doc, "text")[0])
	y := strings.Replace(coretest.Fences(t, doc, "yaml")[0], "/etc/locus/address.list", file, 1)
	m, err := coretest.LoadModule(t, y, "permissions")
	if err != nil {
		t.Fatalf("README configuration: %v", err)
	}
	p := m.(*permissions.Permissions)
	srcs := coretest.CheckREADME(t, "README.md", "permissions", p.LuaExports())
	cases := []struct {
		ip   string
		port int
		raw  string
		code int
		why  string
	}{
		{"10.1.2.3", 5060, coretest.Register, 200, "OK"},
		{"203.0.113.1", 5060, coretest.Register, 403, "Forbidden"},
		{"2001:db8::1", 5061, coretest.Register, 200, "OK"}, // in groups 1 and 2: the lowest is 1
		{"2001:db9::1", 5061, coretest.Register, 403, "Forbidden"},
		{"203.0.113.1", 5060, strings.Replace(strings.Replace(coretest.Register, "REGISTER sip", "OPTIONS sip", 1), "1 REGISTER", "1 OPTIONS", 1), 200, "OK"},
	}
	rt := coretest.Runtime(t, srcs[0], coretest.Export("permissions", p), coretest.Export("sl", &sl.SL{}))
	for _, tc := range cases {
		msg, rec := coretest.Msg(t, tc.raw)
		msg.SrcIP, msg.SrcPort = tc.ip, tc.port
		if err := rt.Route(msg); err != nil {
			t.Fatal(err)
		}
		if f := rec.Final(); f == nil || f.StatusCode != tc.code || f.Reason != tc.why {
			t.Fatalf("%s:%d: reply %v, want %d %s", tc.ip, tc.port, f, tc.code, tc.why)
		}
	}
	// A trusted peer: group 2 only.
	tr := permissions.NewWithTable(compile(t, map[int][]string{2: {"198.51.100.9"}}), nil)
	rt = coretest.Runtime(t, srcs[0], coretest.Export("permissions", tr), coretest.Export("sl", &sl.SL{}))
	msg, rec := coretest.Msg(t, coretest.Register)
	msg.SrcIP = "198.51.100.9"
	if err := rt.Route(msg); err != nil || rec.Final().Reason != "Trusted" {
		t.Fatalf("trusted peer: %v %v", err, rec.Final())
	}
}
