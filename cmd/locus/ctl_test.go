package main

// Tests of "locus ctl" in process, against the real admin module served
// on 127.0.0.1:0 over a memory store.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/script"
	"github.com/locus-sip/locus/modules/admin"
	"github.com/locus-sip/locus/modules/usrloc"
)

const ctlToken = "ctl-test-token"

// ctlServer is a host with the admin API on 127.0.0.1:0 (token
// ctlToken), bindings put straight into usrloc, and a real script.
type ctlServer struct {
	addr   string
	ul     *usrloc.Usrloc
	script string
}

func newCtlServer(t *testing.T) *ctlServer {
	t.Helper()
	dir := t.TempDir()
	cfg := &core.Config{}
	src := fmt.Sprintf("admin: 127.0.0.1:0\nstore: \"memory:\"\nmodules:\n  admin: {token: %s}\n  auth_db: {db_url: %q}\n",
		ctlToken, "file:"+filepath.Join(dir, "users.htdigest"))
	if err := core.ParseConfig([]byte(src), cfg); err != nil {
		t.Fatal(err)
	}
	cfg.ApplyDefaults()
	log := slog.New(slog.DiscardHandler)
	h, err := core.LoadModules(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Cleanup() })
	s := &ctlServer{script: filepath.Join(dir, "route.lua")}
	writeFile(t, s.script, routeScript(`KSR.x.drop()`))
	rt, err := script.New(script.Options{File: s.script, Exports: moduleExports(h), PoolSize: 1, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	h.SetScript(rt)
	h.SetListeners([]string{"udp:127.0.0.1:5060"})
	m, _ := h.Module("admin")
	s.addr = m.(*admin.Admin).Addr()
	m, _ = h.Module("usrloc")
	s.ul = m.(*usrloc.Usrloc)
	return s
}

// put stores bindings of aor, one per contact, with RUIDs aor#i.
func (s *ctlServer) put(t *testing.T, aor string, contacts ...string) {
	t.Helper()
	_, err := s.ul.Update(context.Background(), "location", aor, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
		out := append([]usrloc.Binding(nil), cur...)
		for i, c := range contacts {
			out = append(out, usrloc.Binding{AOR: aor, Contact: c, Expires: time.Now().Add(time.Hour), Q: usrloc.QUnset,
				CallID: "cid-" + c, CSeq: 7, Received: "udp:192.0.2.1:5060", UserAgent: "ctl-test",
				Modified: time.Now(), RUID: fmt.Sprintf("%s#%d", strings.TrimPrefix(aor, "sip:"), len(cur)+i)})
		}
		return out, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ctlCLI holds only "ctl", so that these tests do not depend on the
// wiring of the whole CLI.
type ctlCLI struct {
	Ctl CtlCmd `cmd:""`
}

// runCtl runs "locus ctl ARGS..." in process and returns what it printed
// and the error it would exit non-zero with.
func runCtl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	var cli ctlCLI
	parser, err := kong.New(&cli, kong.Name("locus"), kong.Writers(&out, &errOut),
		kong.Exit(func(code int) { t.Fatalf("kong exited %d: %s", code, errOut.String()) }))
	if err != nil {
		t.Fatal(err)
	}
	kctx, err := parser.Parse(append([]string{"ctl"}, args...))
	if err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	err = kctx.Run()
	return out.String(), err
}

// ctl runs a command that must succeed.
func ctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCtl(t, args...)
	if err != nil {
		t.Fatalf("locus ctl %v: %v\n%s", args, err, out)
	}
	return out
}

// ctlFails runs a command that must fail with a message containing want.
func ctlFails(t *testing.T, want string, args ...string) {
	t.Helper()
	out, err := runCtl(t, args...)
	if err == nil {
		t.Fatalf("locus ctl %v succeeded:\n%s\nwant an error containing %q", args, out, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("locus ctl %v: %v, want it to contain %q", args, err, want)
	}
}

func TestCtlUL(t *testing.T) {
	s := newCtlServer(t)
	base := []string{"--admin", s.addr, "--token", ctlToken}
	s.put(t, "sip:alice@example.com", "sip:alice@192.0.2.10:5060", "sip:alice@192.0.2.11:5060")
	s.put(t, "sip:bob@example.com", "sip:bob@192.0.2.20:5060")
	// More AoRs than one page of the API, so that dump must page.
	const extra = admin.MaxLimit + 17
	for i := range extra {
		s.put(t, fmt.Sprintf("sip:user%04d@example.net", i), fmt.Sprintf("sip:u%d@192.0.2.30", i))
	}

	out := ctl(t, append(base, "ul", "dump")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != extra+4 { // header, AoRs, summary
		t.Fatalf("dump printed %d lines, want %d", len(lines), extra+4)
	}
	if !regexp.MustCompile(`^AOR\s+BINDINGS$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^sip:alice@example\.com\s+2$`).MatchString(lines[1]) ||
		!regexp.MustCompile(`^sip:user1016@example\.net\s+1$`).MatchString(lines[len(lines)-2]) {
		t.Errorf("dump table:\n%s\n...\n%s", strings.Join(lines[:3], "\n"), strings.Join(lines[len(lines)-2:], "\n"))
	}
	if want := fmt.Sprintf("%d AoRs, %d bindings", extra+2, extra+3); lines[len(lines)-1] != want {
		t.Errorf("dump summary %q, want %q", lines[len(lines)-1], want)
	}

	out = ctl(t, append(base, "ul", "dump", "--prefix", "sip:bob")...)
	if !strings.Contains(out, "sip:bob@example.com") || strings.Contains(out, "alice") || !strings.HasSuffix(out, "1 AoR, 1 binding\n") {
		t.Errorf("dump --prefix sip:bob:\n%s", out)
	}
	out = ctl(t, append(base, "ul", "dump", "--table", "other")...)
	if !strings.HasSuffix(out, "0 AoRs, 0 bindings\n") {
		t.Errorf("dump --table other:\n%s", out)
	}
	var list admin.AORList
	if err := json.Unmarshal([]byte(ctl(t, append(base, "--json", "ul", "dump")...)), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.AORs) != extra+2 || list.Next != "" || list.AORs[0] != (admin.AORSummary{AOR: "sip:alice@example.com", Bindings: 2}) {
		t.Errorf("dump --json: %d AoRs, first %+v, next %q", len(list.AORs), list.AORs[0], list.Next)
	}

	out = ctl(t, append(base, "ul", "show", "alice@example.com")...)
	for _, want := range []string{
		"sip:alice@example.com (table location): 2 bindings",
		"contact     sip:alice@192.0.2.10:5060",
		"contact     sip:alice@192.0.2.11:5060",
		"ruid        alice@example.com#0",
		"ruid        alice@example.com#1",
		"user_agent  ctl-test",
		"q           -",
		"cseq        7",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`expires     in (3599|3600) s \(20`).MatchString(out) {
		t.Errorf("show: no remaining expiry:\n%s", out)
	}
	var d admin.AORDetail
	if err := json.Unmarshal([]byte(ctl(t, append(base, "--json", "ul", "show", "sip:alice@example.com")...)), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Bindings) != 2 || d.Bindings[1].CallID != "cid-sip:alice@192.0.2.11:5060" {
		t.Errorf("show --json: %+v", d)
	}
	ctlFails(t, "no live binding for sip:nobody@example.com in table location (HTTP 404)", append(base, "ul", "show", "nobody@example.com")...)
	ctlFails(t, "HTTP 400", append(base, "ul", "show", "tel:+1555")...)

	if out := ctl(t, append(base, "ul", "rm", "alice@example.com", "alice@example.com#0")...); out != "removed 1 binding of sip:alice@example.com\n" {
		t.Errorf("rm one binding: %q", out)
	}
	ctlFails(t, "HTTP 404", append(base, "ul", "rm", "alice@example.com", "alice@example.com#0")...)
	if out := ctl(t, append(base, "ul", "show", "alice@example.com")...); strings.Contains(out, "#0") || !strings.Contains(out, "1 binding") {
		t.Errorf("after rm of #0, show:\n%s", out)
	}
	if out := ctl(t, append(base, "ul", "rm", "sip:bob@example.com")...); out != "removed 1 binding of sip:bob@example.com\n" {
		t.Errorf("rm AoR: %q", out)
	}
	ctlFails(t, "no live binding for sip:bob@example.com", append(base, "ul", "rm", "sip:bob@example.com")...)
	if bs, _ := s.ul.Lookup(context.Background(), "location", "sip:bob@example.com"); len(bs) != 0 {
		t.Errorf("bob still has bindings after ul rm: %+v", bs)
	}
}

func TestCtlScriptReloadStats(t *testing.T) {
	s := newCtlServer(t)
	base := []string{"--admin", "http://" + s.addr + "/", "--token", ctlToken}

	out := ctl(t, append(base, "script")...)
	if !regexp.MustCompile(`(?m)^generation\s+1$`).MatchString(out) || !strings.Contains(out, s.script) {
		t.Errorf("script:\n%s", out)
	}
	if out := ctl(t, append(base, "reload")...); !strings.HasPrefix(out, "unchanged: generation 1, hash ") {
		t.Errorf("reload of the same file: %q", out)
	}
	writeFile(t, s.script, routeScript("KSR.x.drop() -- v2"))
	if out := ctl(t, append(base, "reload")...); !strings.HasPrefix(out, "reloaded: generation 2, hash ") || !strings.HasSuffix(out, s.script+"\n") {
		t.Errorf("reload of a new file: %q", out)
	}
	writeFile(t, s.script, "function ksr_request_route(\n")
	ctlFails(t, "reload refused, generation 2 keeps serving: ", append(base, "reload")...)
	ctlFails(t, "route.lua:", append(base, "reload")...)
	out = ctl(t, append(base, "script")...)
	if !regexp.MustCompile(`(?m)^refused reloads\s+2$`).MatchString(out) || !regexp.MustCompile(`(?m)^last refusal\s+.*route\.lua:`).MatchString(out) {
		t.Errorf("script after refused reloads:\n%s", out)
	}
	var info core.ScriptInfo
	if err := json.Unmarshal([]byte(ctl(t, append(base, "--json", "script")...)), &info); err != nil || info.Generation != 2 || info.Reloads != 1 {
		t.Errorf("script --json: %+v %v", info, err)
	}

	s.put(t, "sip:alice@example.com", "sip:a@192.0.2.1", "sip:a@192.0.2.2")
	out = ctl(t, append(base, "stats")...)
	for _, re := range []string{`(?m)^aors\s+1$`, `(?m)^bindings\s+2$`, `(?m)^script\s+generation 2, hash \w{12}, 1 reloads, 2 refused$`,
		`(?m)^listeners\s+udp:127\.0\.0\.1:5060$`, `(?m)^uptime\s+\d`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("stats does not match %s:\n%s", re, out)
		}
	}
	var st admin.Stats
	if err := json.Unmarshal([]byte(ctl(t, append(base, "--json", "stats")...)), &st); err != nil || st.AORs == nil || *st.AORs != 1 {
		t.Errorf("stats --json: %+v %v", st, err)
	}
}

func TestCtlTokenAndAddress(t *testing.T) {
	s := newCtlServer(t)
	ctlFails(t, "missing or bad bearer token (HTTP 401)", "--admin", s.addr, "script")
	ctlFails(t, "(HTTP 401)", "--admin", s.addr, "--token", "wrong", "script")

	tf := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tf, []byte("\n"+ctlToken+"  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctl(t, "--admin", s.addr, "--token-file", tf, "script")
	ctlFails(t, "--token-file", "--admin", s.addr, "--token-file", tf+".missing", "script")

	t.Setenv("LOCUS_ADMIN_TOKEN", ctlToken)
	t.Setenv("LOCUS_ADMIN", s.addr)
	ctl(t, "script")

	// Nothing listens on a port just closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	ctlFails(t, "admin API at http://"+dead, "--admin", dead, "--timeout", "2s", "stats")
}
