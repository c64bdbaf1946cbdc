package main

// End-to-end tests of authenticated registration with the default script:
// sipp registers 1,000 users with digest credentials over UDP and TCP,
// wrong passwords are challenged again, and sipsak, a real client,
// registers a user that "locus users add" created.

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// e2eAuthSecret signs the nonces of the end-to-end tests.
const e2eAuthSecret = "e2e-secret-0123456789abcdef"

// e2eAuthUsers is the number of users sipp registers with credentials.
const e2eAuthUsers = 1000

// e2eDefaultScript is scripts/default.lua by absolute path.
func e2eDefaultScript(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "scripts", "default.lua"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// e2eAuthLocus starts locus with the default script and the users file.
func e2eAuthLocus(t *testing.T, usersFile string) *locusProc {
	t.Helper()
	return e2eLocus(t, e2eDefaultScript(t), fmt.Sprintf(`  auth_db:
    db_url: %q
  auth:
    algorithms: [MD5]
    secret: %q
`, "file:"+usersFile, e2eAuthSecret))
}

// e2eUsersAdd runs "locus users add" with the password on stdin.
func e2eUsersAdd(t *testing.T, file, realm, user, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, locusBin, "users", "add", "--file", file, "--realm", realm, user)
	cmd.Env = locusEnv()
	cmd.Stdin = strings.NewReader(password + "\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("locus users add %s: %v; output:\n%s", user, err, out.String())
	}
}

func e2eMD5(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// e2eChallenge is a parsed WWW-Authenticate: Digest header.
type e2eChallenge struct {
	Realm, Nonce, Opaque, QOP, Algorithm, Stale string
}

// e2eChallengeOf requires res to be a 401 with exactly one Digest
// challenge (the configuration offers MD5 only) and parses it.
func e2eChallengeOf(t *testing.T, what string, res *sip.Response) e2eChallenge {
	t.Helper()
	if res.StatusCode != 401 {
		t.Fatalf("%s: %d %s, want 401; reply:\n%s", what, res.StatusCode, res.Reason, res)
	}
	hs := res.GetHeaders("WWW-Authenticate")
	if len(hs) != 1 {
		t.Fatalf("%s: %d WWW-Authenticate headers, want 1 (MD5 only); reply:\n%s", what, len(hs), res)
	}
	v, ok := strings.CutPrefix(hs[0].Value(), "Digest ")
	if !ok {
		t.Fatalf("%s: WWW-Authenticate %q is not a Digest challenge", what, hs[0].Value())
	}
	var ch e2eChallenge
	for _, kv := range e2eSplitList(v) {
		name, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
		val = strings.Trim(val, `"`)
		switch strings.ToLower(name) {
		case "realm":
			ch.Realm = val
		case "nonce":
			ch.Nonce = val
		case "opaque":
			ch.Opaque = val
		case "qop":
			ch.QOP = val
		case "algorithm":
			ch.Algorithm = val
		case "stale":
			ch.Stale = val
		}
	}
	if ch.Realm != e2eDomain || ch.Nonce == "" || ch.QOP != "auth" || ch.Algorithm != "MD5" {
		t.Fatalf("%s: challenge %+v, want realm %q, a nonce, qop auth, algorithm MD5", what, ch, e2eDomain)
	}
	if len(e2eContacts(t, res)) != 0 {
		t.Errorf("%s: the 401 lists contacts; reply:\n%s", what, res)
	}
	return ch
}

// e2eAuthorization is the Authorization header line answering ch for a
// REGISTER to sip:e2eDomain (RFC 7616, MD5, qop auth, nc 1).
func e2eAuthorization(user, password string, ch e2eChallenge) string {
	uri := "sip:" + e2eDomain
	cnonce := fmt.Sprintf("c%d", nextID())
	ha1 := e2eMD5(user + ":" + ch.Realm + ":" + password)
	ha2 := e2eMD5("REGISTER:" + uri)
	resp := e2eMD5(ha1 + ":" + ch.Nonce + ":00000001:" + cnonce + ":auth:" + ha2)
	h := fmt.Sprintf(`Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, qop=auth, nc=00000001, cnonce="%s"`,
		user, ch.Realm, ch.Nonce, uri, resp, cnonce)
	if ch.Opaque != "" {
		h += fmt.Sprintf(`, opaque="%s"`, ch.Opaque)
	}
	return h + "\r\n"
}

// e2eAuthRegister sends r, requires a 401 challenge, answers it with the
// credentials of authUser (same Call-ID, next CSeq) and returns the reply.
func e2eAuthRegister(t *testing.T, c sipConn, r e2eReq, authUser, password string) *sip.Response {
	t.Helper()
	r.CallID = fmt.Sprintf("e2e-auth-%d-%d@127.0.0.1", os.Getpid(), nextID())
	r.CSeq = 1
	ch := e2eChallengeOf(t, "REGISTER of "+r.User+" without credentials", e2eSend(t, c, r))
	r.CSeq = 2
	r.Extra = e2eAuthorization(authUser, password, ch)
	return e2eSend(t, c, r)
}

// e2eAuthUserList is the users of the sipp load: their passwords and a
// distinct contact host:port each.
func e2eAuthUserList() []e2eUser {
	users := make([]e2eUser, e2eAuthUsers)
	for i := range users {
		users[i] = e2eUser{
			Name:        fmt.Sprintf("e2ea%04d", i),
			Password:    fmt.Sprintf("pw-%04d-Zq7", i),
			ContactHost: fmt.Sprintf("10.200.%d.%d:%d", i>>8, i&0xff, 30000+i),
		}
	}
	return users
}

// TestE2EAuthSipp runs locus with scripts/default.lua against a users file
// (its first users added by "locus users add", the others written in the
// same htdigest format) and has sipp register 1,000 users with digest
// credentials (REGISTER, 401, REGISTER with credentials, 200) over UDP,
// then again over TCP, and a few with wrong passwords, which must be
// challenged again. A raw UDP peer with its own digest code then checks
// that each sampled user has exactly its UDP and TCP bindings (none from
// the wrong passwords), that lookups find the newest, and that queries
// without credentials, with a wrong password, with another user's
// credentials or for an unknown user are refused.
func TestE2EAuthSipp(t *testing.T) {
	e2eRequire(t, "sipp", "sip-tester")
	dir := t.TempDir()
	users := e2eAuthUserList()
	const viaCLI = 3

	// The file as an administrator would have it: many users already, and
	// a few more added with the CLI, which keeps the others.
	usersFile := filepath.Join(dir, "users.htdigest")
	var b bytes.Buffer
	for _, u := range users[viaCLI:] {
		fmt.Fprintf(&b, "%s:%s:%s\n", u.Name, e2eDomain, e2eMD5(u.Name+":"+e2eDomain+":"+u.Password))
	}
	if err := os.WriteFile(usersFile, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, u := range users[:viaCLI] {
		e2eUsersAdd(t, usersFile, e2eDomain, u.Name, u.Password)
	}

	// The CLI kept the other lines and wrote an SHA-256 and an MD5 line
	// for each of its users.
	data, err := os.ReadFile(usersFile)
	if err != nil {
		t.Fatal(err)
	}
	if n, want := strings.Count(string(data), "\n"), e2eAuthUsers-viaCLI+2*viaCLI; n != want {
		t.Fatalf("users file has %d lines after locus users add, want %d", n, want)
	}

	p := e2eAuthLocus(t, usersFile)
	loaded := p.Log.Records("auth_db: credentials loaded")
	if len(loaded) != 1 || loaded[0]["entries"] != float64(e2eAuthUsers) {
		t.Fatalf("credentials loaded: %v, want one record with %d entries (users)", loaded, e2eAuthUsers)
	}

	inject := filepath.Join(dir, "users.csv")
	e2eWriteInjection(t, inject, users, false)
	udpStart := time.Now()
	runE2ESipp(t, e2eSippRun{
		Scenario: "e2e_register_auth.xml", Target: p.Addrs["udp"], Transport: "u1",
		Inject: inject, Rate: 500, Calls: e2eAuthUsers, Locus: p,
	})
	tcpStart := time.Now()
	runE2ESipp(t, e2eSippRun{
		Scenario: "e2e_register_auth.xml", Target: p.Addrs["tcp"], Transport: "t1",
		Inject: inject, Rate: 500, Calls: e2eAuthUsers, Locus: p,
	})

	// Wrong passwords, for CLI users and file users, with contacts of
	// their own that must never be stored.
	bad := []e2eUser{users[0], users[1], users[viaCLI], users[500], users[e2eAuthUsers-1]}
	for i := range bad {
		bad[i].Password += "x"
		bad[i].ContactHost = fmt.Sprintf("198.51.100.%d:5060", i+1)
	}
	badInject := filepath.Join(dir, "bad.csv")
	e2eWriteInjection(t, badInject, bad, false)
	runE2ESipp(t, e2eSippRun{
		Scenario: "e2e_register_badauth.xml", Target: p.Addrs["udp"], Transport: "u1",
		Inject: badInject, Rate: 10, Calls: len(bad), Locus: p,
	})
	if t.Failed() {
		t.FailNow()
	}

	c := dialSIP(t, "udp", p.Addrs["udp"], nil)
	sample := []int{0, 1, 2, viaCLI, 500, e2eAuthUsers - 1}
	for i := 7; i < e2eAuthUsers; i += 97 {
		sample = append(sample, i)
	}
	for _, i := range sample {
		u := users[i]
		udp, tcp := u.Contact()+";transport=UDP", u.Contact()+";transport=TCP"
		res := e2eAuthRegister(t, c, e2eReq{User: u.Name, Expires: -1}, u.Name, u.Password)
		e2eWantBindings(t, "authenticated query of "+u.Name, res, []string{udp, tcp},
			[]int{3600 - int(time.Since(udpStart).Seconds()) - 1, 3600 - int(time.Since(tcpStart).Seconds()) - 1},
			[]int{3600, 3600})
	}

	// Refusals: each must answer with a new challenge (or 403) and list no
	// binding.
	u0, u1 := users[0], users[1]
	e2eChallengeOf(t, "query without credentials", e2eSend(t, c, e2eReq{User: u0.Name, Expires: -1}))
	res := e2eAuthRegister(t, c, e2eReq{User: u0.Name, Expires: -1}, u0.Name, u0.Password+"x")
	e2eChallengeOf(t, "query with a wrong password", res)
	res = e2eAuthRegister(t, c, e2eReq{User: "e2e-nobody", Contacts: []string{"sip:e2e-nobody@127.0.0.1:5999"}, Expires: 600}, "e2e-nobody", "guess")
	e2eChallengeOf(t, "REGISTER of an unknown user", res)
	res = e2eAuthRegister(t, c, e2eReq{User: u0.Name, Contacts: []string{"sip:mallory@203.0.113.9:5060"}, Expires: 600}, u1.Name, u1.Password)
	if res.StatusCode != 403 || len(e2eContacts(t, res)) != 0 {
		t.Errorf("REGISTER of %s with %s's credentials: %d %s, want 403 listing nothing; reply:\n%s", u0.Name, u1.Name, res.StatusCode, res.Reason, res)
	}
	res = e2eAuthRegister(t, c, e2eReq{User: u0.Name, Expires: -1}, u0.Name, u0.Password)
	if got := e2eContacts(t, res); res.StatusCode != 200 || len(got) != 2 {
		t.Errorf("query of %s after the refusals: %d, contacts %v, want 200 with its 2 bindings", u0.Name, res.StatusCode, got)
	}
	if n := p.Log.Count("script error"); n != 0 {
		t.Errorf("%d script errors logged, want 0:\n%s", n, p.Log.Grep("script error"))
	}
}

// e2eSipsak runs sipsak (15 s at most) and returns its exit code and
// output.
func e2eSipsak(t *testing.T, args ...string) (int, string) {
	t.Helper()
	bin := e2eRequire(t, "sipsak", "sipsak")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("sipsak %q did not finish within 15s; output:\n%s", args, out.String())
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("sipsak %q: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// TestE2ESipsak registers a user added with "locus users add" from sipsak
// in usrloc mode against scripts/default.lua: sipsak answers the 401 with
// its credentials and must exit 0; the binding is then listed to sipsak's
// query (-q matches the 200) and to our own authenticated query, and a
// lookup redirects to it. A wrong password must make sipsak fail and store
// nothing; sipsak's Expires: 0 removes the binding.
func TestE2ESipsak(t *testing.T) {
	e2eRequire(t, "sipsak", "sipsak")
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users.htdigest")
	const password = "wonderland-7Kp"
	e2eUsersAdd(t, usersFile, e2eDomain, "alice", password)
	e2eUsersAdd(t, usersFile, e2eDomain, "bob", "bobs-password")
	p := e2eAuthLocus(t, usersFile)

	target := "sip:alice@" + p.Addrs["udp"]
	contact := "sip:alice@127.0.0.1:5999"
	sipsak := func(pw string, args ...string) (int, string) {
		t.Helper()
		return e2eSipsak(t, append([]string{"-vvv", "-H", "127.0.0.1", "-U", "-u", "alice", "-a", pw, "-s", target}, args...)...)
	}

	code, out := sipsak(password, "-C", contact, "-x", "3600")
	if code != 0 || !strings.Contains(out, "SIP/2.0 401 Unauthorized") || !strings.Contains(out, "SIP/2.0 200 OK") {
		t.Fatalf("sipsak register: exit %d, want 0 after a 401 and a 200; output:\n%s", code, out)
	}
	code, out = sipsak(password, "-C", "empty", "-q", `Contact: <`+contact+`>;expires=(3600|359[0-9])`)
	if code != 0 {
		t.Errorf("sipsak query: exit %d, want 0 (a 200 listing %s); output:\n%s", code, contact, out)
	}

	c := dialSIP(t, "udp", p.Addrs["udp"], nil)
	res := e2eAuthRegister(t, c, e2eReq{User: "alice", Expires: -1}, "alice", password)
	e2eWantBindings(t, "query after sipsak registered", res, []string{contact}, []int{3590}, []int{3600})

	code, out = sipsak(password+"x", "-C", "sip:alice@127.0.0.1:5998", "-x", "3600")
	if code == 0 || !strings.Contains(out, "SIP/2.0 401 Unauthorized") || strings.Contains(out, "SIP/2.0 200 OK") {
		t.Errorf("sipsak with a wrong password: exit %d, want non-zero after 401s only; output:\n%s", code, out)
	}
	res = e2eAuthRegister(t, c, e2eReq{User: "alice", Expires: -1}, "alice", password)
	e2eWantBindings(t, "query after the wrong password", res, []string{contact}, []int{3590}, []int{3600})

	code, out = sipsak(password, "-C", contact, "-x", "0")
	if code != 0 {
		t.Errorf("sipsak unregister: exit %d, want 0; output:\n%s", code, out)
	}
	res = e2eAuthRegister(t, c, e2eReq{User: "alice", Expires: -1}, "alice", password)
	e2eWantBindings(t, "query after sipsak unregistered", res, nil, nil, nil)
	if res := e2eSend(t, c, e2eReq{Method: "OPTIONS", User: "alice"}); res.StatusCode != 404 {
		t.Errorf("OPTIONS to alice after unregister: %d %s, want 404", res.StatusCode, res.Reason)
	}
}
