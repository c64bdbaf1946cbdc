package authdb_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/core/script"
	"github.com/locus-sip/locus/modules/auth"
	authdb "github.com/locus-sip/locus/modules/auth_db"
	"github.com/locus-sip/locus/modules/sl"
	lua "github.com/yuin/gopher-lua"
)

// load decodes, provisions, validates and starts a configuration through
// the core, as locus does.
func load(t *testing.T, y string) (*core.Host, error) {
	t.Helper()
	return coretest.LoadModules(t, y)
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, yaml, wantErr string
		wantURL             string
	}{
		{"defaults", "", "", authdb.DefaultDBURL},
		{"file", "modules:\n  auth_db:\n    db_url: file:" + dir + "/u\n", "", "file:" + dir + "/u"},
		{"unknown scheme", "modules:\n  auth_db:\n    db_url: mysql://kamailio:secretpw@db/kamailio\n", "unknown scheme", ""},
		{"empty", "modules:\n  auth_db:\n    db_url: \"\"\n", "db_url", ""},
		{"unknown key", "modules:\n  auth_db:\n    user_column: username\n", "user_column", ""},
		{"directory missing", "modules:\n  auth_db:\n    db_url: file:" + dir + "/nowhere/u\n", "watch", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := load(t, tc.yaml)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secretpw") {
					t.Fatalf("error %q shows the DSN's password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m, _ := h.Module("auth_db")
			if got := m.(*authdb.AuthDB).DBURL; got != tc.wantURL {
				t.Fatalf("db_url %q, want %q", got, tc.wantURL)
			}
		})
	}
}

// TestREADME checks the README's file format example, loads its
// configuration (with the file in a temporary directory) and runs its Lua
// example, with stand-ins for KSR.pv and KSR.registrar.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)

	entries, err := authdb.ParseFile(strings.NewReader(coretest.Fences(t, md, "text")[0]))
	if err != nil || len(entries) != 2 {
		t.Fatalf("file example: %v, %d entries", err, len(entries))
	}
	for _, e := range entries {
		if e.HA1 != auth.HA1(e.Hash, "alice", "example.com", "wonderland") {
			t.Errorf("file example: %s HA1 is not alice's wonderland", e.Hash)
		}
	}

	dir := t.TempDir()
	y := strings.Replace(coretest.Fences(t, md, "yaml")[0], "/etc/locus/", dir+"/", 1)
	if y == coretest.Fences(t, md, "yaml")[0] {
		t.Fatal("README configuration does not use /etc/locus/")
	}
	var users bytes.Buffer
	users.WriteString(lines("alice", "example.com", "wonderland", auth.SHA256, auth.MD5))
	users.WriteString(lines("bob", "example.com", "builder", auth.SHA256, auth.MD5))
	if err := os.WriteFile(filepath.Join(dir, "users.htdigest"), users.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := load(t, y)
	if err != nil {
		t.Fatalf("README configuration: %v", err)
	}
	am, _ := h.Module("auth")
	dm, _ := h.Module("auth_db")
	a, db := am.(*auth.Auth), dm.(*authdb.AuthDB)

	for _, src := range coretest.Fences(t, md, "lua") {
		if _, err := script.Compile([]byte(src), "README.md"); err != nil {
			t.Fatal(err)
		}
	}
	pvs := a.PVClasses()
	pv := script.Export{Name: "pv", Funcs: []core.LuaFunc{{Name: "get", Fn: func(env *core.Env, L *lua.LState) int {
		m := core.CheckMsg(env, L)
		switch name := L.CheckString(1); name {
		case "$td":
			L.Push(lua.LString(m.Req.To().Address.Host))
		case "$au", "$ar":
			v, _ := pvs[name[1:]](m, "", 0).(string)
			L.Push(lua.LString(v))
		default:
			L.RaiseError("stand-in KSR.pv.get: %s", name)
		}
		return 1
	}}}}
	registrar := script.Export{Name: "registrar", Funcs: []core.LuaFunc{{Name: "save", Fn: func(env *core.Env, L *lua.LState) int {
		_ = core.CheckMsg(env, L).Reply(200, "OK")
		return core.LuaInt(L, 1)
	}}}}
	rt := coretest.Runtime(t, coretest.Fences(t, md, "lua")[0], coretest.Export("auth", a), coretest.Export("auth_db", db),
		coretest.Export("sl", &sl.SL{}), pv, registrar)
	eng := core.NewEngine(rt, slog.New(slog.DiscardHandler), 0, "")
	send := func(r req) int {
		m, rec := coretest.Msg(t, r.String())
		eng.Process(m)
		return rec.Code()
	}
	challengeFor := func() challenge {
		m, rec := coretest.Msg(t, req{}.String())
		eng.Process(m)
		return firstChallenge(t, rec.Final())
	}
	cases := []struct {
		name       string
		user, pass string
		aor        string
		code       int
	}{
		{"alice", "alice", "wonderland", "alice", 200},
		{"wrong password", "alice", "x", "alice", 401},
		{"unknown user", "carol", "x", "carol", 401},
		{"bob for alice", "bob", "builder", "alice", 403},
		{"bob", "bob", "builder", "bob", 200},
	}
	for _, tc := range cases {
		chal := challengeFor()
		r := req{from: tc.aor, auth: credentials(chal, tc.user, tc.pass, "REGISTER", "sip:example.com", 1)}
		if got := send(r); got != tc.code {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.code)
		}
	}
	if got := send(req{method: "OPTIONS", to: "bob"}); got != 405 {
		t.Errorf("OPTIONS: %d, want 405", got)
	}
}
