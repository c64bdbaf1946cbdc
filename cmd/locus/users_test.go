package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/locus-sip/locus/modules/auth"
	authdb "github.com/locus-sip/locus/modules/auth_db"
)

// usersCLI wires the command into a CLI as main.go does.
type usersCLI struct {
	Users UsersCmd `cmd:""`
}

func usersParse(t *testing.T, args ...string) (*usersCLI, *kong.Context) {
	t.Helper()
	var cli usersCLI
	p, err := kong.New(&cli, kong.Name("locus"), kong.Exit(func(int) { t.Fatalf("kong exited on %q", args) }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := p.Parse(args)
	if err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return &cli, ctx
}

func TestUsersFlags(t *testing.T) {
	cli, ctx := usersParse(t, "users", "add", "--realm", "example.com", "alice")
	if ctx.Command() != "users add <user>" {
		t.Fatalf("command %q", ctx.Command())
	}
	add := cli.Users.Add
	if add.File != authdb.DefaultFile || add.Realm != "example.com" || add.User != "alice" || add.Algorithms != nil {
		t.Fatalf("parsed %+v", add)
	}
	cli, _ = usersParse(t, "users", "passwd", "--file", "/x/u", "--realm", "r", "--algorithms", "SHA-512-256,MD5", "bob")
	if p := cli.Users.Passwd; p.File != "/x/u" || !reflect.DeepEqual(p.Algorithms, []string{"SHA-512-256", "MD5"}) || p.User != "bob" {
		t.Fatalf("parsed %+v", p)
	}
	cli, _ = usersParse(t, "users", "del", "--file", "u", "--realm", "r", "bob")
	if d := cli.Users.Del; d.File != "u" || d.Realm != "r" || d.User != "bob" {
		t.Fatalf("parsed %+v", d)
	}
	cli, _ = usersParse(t, "users", "list", "--realm", "r")
	if l := cli.Users.List; l.File != authdb.DefaultFile || l.Realm != "r" {
		t.Fatalf("parsed %+v", l)
	}
	// The help names the module's default algorithms.
	f, _ := reflect.TypeOf(usersAlgorithms{}).FieldByName("Algorithms")
	if !strings.Contains(f.Tag.Get("help"), strings.Join(auth.DefaultAlgorithms, ",")) {
		t.Fatalf("--algorithms help %q does not name the default %v", f.Tag.Get("help"), auth.DefaultAlgorithms)
	}
}

func TestUsersRequiresRealm(t *testing.T) {
	var cli usersCLI
	p, err := kong.New(&cli, kong.Name("locus"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Parse([]string{"users", "add", "alice"}); err == nil || !strings.Contains(err.Error(), "--realm") {
		t.Fatalf("error %v, want one about --realm", err)
	}
}

// readEntries parses the file as the server does.
func readEntries(t *testing.T, path string) []authdb.Entry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	es, err := authdb.ParseFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the server would refuse the file: %v\n%s", err, b)
	}
	return es
}

func hashesOf(es []authdb.Entry, user, realm string) map[auth.Algorithm]string {
	out := map[auth.Algorithm]string{}
	for _, e := range es {
		if e.User == user && e.Realm == realm {
			out[e.Hash] = e.HA1
		}
	}
	return out
}

func TestUsersEdit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.htdigest")
	user := func(name string) usersUser {
		return usersUser{usersFile: usersFile{File: path}, Realm: "example.com", User: name}
	}
	var prompt bytes.Buffer
	add := func(name, stdin string, algs ...string) error {
		return (&UsersAddCmd{usersUser: user(name), usersAlgorithms: usersAlgorithms{algs}}).run(strings.NewReader(stdin), &prompt)
	}
	passwd := func(name, stdin string, algs ...string) error {
		return (&UsersPasswdCmd{usersUser: user(name), usersAlgorithms: usersAlgorithms{algs}}).run(strings.NewReader(stdin), &prompt)
	}

	if err := add("alice", "wonderland\n"); err != nil {
		t.Fatal(err)
	}
	es := readEntries(t, path)
	got := hashesOf(es, "alice", "example.com")
	want := map[auth.Algorithm]string{
		auth.SHA256: auth.HA1(auth.SHA256, "alice", "example.com", "wonderland"),
		auth.MD5:    auth.HA1(auth.MD5, "alice", "example.com", "wonderland"),
	}
	if !reflect.DeepEqual(got, want) || len(es) != 2 {
		t.Fatalf("after add: %v", es)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", info.Mode().Perm())
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "wonderland") {
		t.Fatal("the password is in the file")
	}
	if prompt.Len() != 0 {
		t.Fatalf("prompted with stdin not a terminal: %q", prompt.String())
	}

	// A comment added by hand survives edits.
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append([]byte("# staff\n"), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := add("alice", "again\n"); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("adding alice twice: %v", err)
	}
	if err := add("bob", "builder\r\n", "SHA-512-256", "MD5-sess"); err != nil {
		t.Fatal(err)
	}
	es = readEntries(t, path)
	if got := hashesOf(es, "bob", "example.com"); len(got) != 2 ||
		got[auth.SHA512_256] != auth.HA1(auth.SHA512_256, "bob", "example.com", "builder") ||
		got[auth.MD5] != auth.HA1(auth.MD5, "bob", "example.com", "builder") {
		t.Fatalf("bob: %v", got)
	}

	// passwd rewrites alice's lines where they were.
	if err := passwd("alice", "looking-glass"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(mustRead(t, path)), "\n")
	if lines[0] != "# staff" || !strings.HasPrefix(lines[1], "alice:") || !strings.HasPrefix(lines[3], "bob:") {
		t.Fatalf("order after passwd:\n%s", strings.Join(lines, "\n"))
	}
	if got := hashesOf(readEntries(t, path), "alice", "example.com"); got[auth.SHA256] != auth.HA1(auth.SHA256, "alice", "example.com", "looking-glass") {
		t.Fatalf("alice after passwd: %v", got)
	}
	if err := passwd("carol", "x\n"); err == nil {
		t.Fatal("passwd of an unknown user")
	}

	var out bytes.Buffer
	if err := (&UsersListCmd{usersFile: usersFile{File: path}}).run(&out); err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(out.String()); !reflect.DeepEqual(got, strings.Fields(`USER REALM ALGORITHMS
alice example.com SHA-256,MD5
bob example.com SHA-512-256,MD5`)) {
		t.Fatalf("list:\n%s", out.String())
	}
	out.Reset()
	if err := (&UsersListCmd{usersFile: usersFile{File: path}, Realm: "example.org"}).run(&out); err != nil || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("list of another realm: %v\n%s", err, out.String())
	}

	if err := (&UsersDelCmd{usersUser: user("bob")}).Run(); err != nil {
		t.Fatal(err)
	}
	if got := hashesOf(readEntries(t, path), "bob", "example.com"); len(got) != 0 {
		t.Fatalf("bob after del: %v", got)
	}
	if err := (&UsersDelCmd{usersUser: user("bob")}).Run(); err == nil {
		t.Fatal("deleted bob twice")
	}
	// No temporary files are left behind.
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("directory holds %v", ents)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestUsersRefusals(t *testing.T) {
	cases := []struct {
		name, user, realm, stdin string
		algs                     []string
		want                     string
	}{
		{"empty password", "alice", "example.com", "\n", nil, "empty password"},
		{"no input", "alice", "example.com", "", nil, "empty password"},
		{"control character", "alice", "example.com", "a\x00b\n", nil, "control"},
		{"long password", "alice", "example.com", strings.Repeat("x", 2000), nil, "longer than"},
		{"colon in the user", "al:ice", "example.com", "x\n", nil, "cannot be written"},
		{"space at the user's start", " alice", "example.com", "x\n", nil, "cannot be written"},
		{"realm ending in an algorithm", "alice", "example.com:MD5", "x\n", nil, "cannot be written"},
		{"unknown algorithm", "alice", "example.com", "x\n", []string{"SHA-1"}, "unknown algorithm"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "users")
			c := &UsersAddCmd{usersUser: usersUser{usersFile: usersFile{File: path}, Realm: tc.realm, User: tc.user}, usersAlgorithms: usersAlgorithms{tc.algs}}
			err := c.run(strings.NewReader(tc.stdin), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if _, err := os.Stat(path); err == nil {
				t.Fatal("the file was written")
			}
		})
	}
	// A password of exactly the limit is fine.
	dir := t.TempDir()
	path := filepath.Join(dir, "users")
	c := &UsersAddCmd{usersUser: usersUser{usersFile: usersFile{File: path}, Realm: "r", User: "u"}}
	if err := c.run(strings.NewReader(strings.Repeat("x", maxPassword)+"\n"), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	// A file the server would refuse is not edited.
	broken := "alice:example.com:nothex\n"
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	c = &UsersAddCmd{usersUser: usersUser{usersFile: usersFile{File: path}, Realm: "r", User: "v"}}
	if err := c.run(strings.NewReader("x\n"), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("editing a broken file: %v", err)
	}
	if mustRead(t, path) != broken {
		t.Fatal("a broken file was changed")
	}
	// Commands other than add need the file.
	missing := filepath.Join(dir, "missing")
	if err := (&UsersListCmd{usersFile: usersFile{File: missing}}).run(&bytes.Buffer{}); err == nil {
		t.Fatal("list of a missing file")
	}
}

// TestUsersSymlink edits the file a symbolic link points to, keeping the
// link (a file kept in a versioned directory, say).
func TestUsersSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real", "users")
	if err := os.MkdirAll(filepath.Dir(real), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "users")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	c := &UsersAddCmd{usersUser: usersUser{usersFile: usersFile{File: link}, Realm: "r", User: "u"}}
	if err := c.run(strings.NewReader("pw\n"), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the link was replaced")
	}
	if len(readEntries(t, real)) != 2 {
		t.Fatal("the target was not edited")
	}
	if fi, _ := os.Stat(real); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want the file's own 0640", fi.Mode().Perm())
	}
}

// TestUsersServerReload: a running server's file source picks up what
// "locus users" writes, and the user can authenticate.
func TestUsersServerReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.htdigest")
	src, err := authdb.OpenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.Watch(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := &UsersAddCmd{usersUser: usersUser{usersFile: usersFile{File: path}, Realm: "example.com", User: "alice"}}
	if err := c.run(strings.NewReader("wonderland\n"), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ha1, ok, _ := src.HA1(context.Background(), "subscriber", "alice", "example.com", auth.SHA256)
		if ok {
			if ha1 != auth.HA1(auth.SHA256, "alice", "example.com", "wonderland") {
				t.Fatalf("HA1 %s", ha1)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not reload the file")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if reloads, failures := src.Stats(); reloads != 1 || failures != 0 {
		t.Fatalf("reloads %d, failures %d: want one clean reload", reloads, failures)
	}
}
