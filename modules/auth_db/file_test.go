package authdb_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/locus-sip/locus/modules/auth"
	authdb "github.com/locus-sip/locus/modules/auth_db"
)

// lines returns credential lines for user in realm with password, one per
// hash given.
func lines(user, realm, password string, hashes ...auth.Algorithm) string {
	var b strings.Builder
	for _, h := range hashes {
		b.WriteString(authdb.Entry{User: user, Realm: realm, Hash: h, HA1: auth.HA1(h, user, realm, password)}.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// writeAtomic replaces path by rename, as "locus users" and editors do.
func writeAtomic(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestParseLine(t *testing.T) {
	md5 := auth.HA1(auth.MD5, "alice", "example.com", "wonderland")
	sha := auth.HA1(auth.SHA256, "alice", "example.com", "wonderland")
	cases := []struct {
		name    string
		line    string
		want    authdb.Entry
		ok      bool
		wantErr string
	}{
		{name: "htdigest MD5", line: "alice:example.com:" + md5, ok: true,
			want: authdb.Entry{User: "alice", Realm: "example.com", Hash: auth.MD5, HA1: md5}},
		{name: "explicit MD5", line: "alice:example.com:MD5:" + md5, ok: true,
			want: authdb.Entry{User: "alice", Realm: "example.com", Hash: auth.MD5, HA1: md5}},
		{name: "SHA-256, upper-case HA1, spaces", line: "  alice:example.com:sha-256:" + strings.ToUpper(sha) + " \r", ok: true,
			want: authdb.Entry{User: "alice", Realm: "example.com", Hash: auth.SHA256, HA1: sha}},
		{name: "IPv6 realm", line: "alice:[2001:db8::1]:SHA-256:" + sha, ok: true,
			want: authdb.Entry{User: "alice", Realm: "[2001:db8::1]", Hash: auth.SHA256, HA1: sha}},
		{name: "IPv6 realm, htdigest form", line: "alice:[2001:db8::1]:" + md5, ok: true,
			want: authdb.Entry{User: "alice", Realm: "[2001:db8::1]", Hash: auth.MD5, HA1: md5}},
		{name: "user with @", line: "alice@example.com:example.com:" + md5, ok: true,
			want: authdb.Entry{User: "alice@example.com", Realm: "example.com", Hash: auth.MD5, HA1: md5}},
		{name: "comment", line: "# alice:example.com:" + md5},
		{name: "blank", line: " \t"},

		{name: "no realm", line: "alice:" + md5, wantErr: "not user:realm"},
		{name: "empty realm", line: "alice::" + md5, wantErr: "empty realm"},
		{name: "empty realm with algorithm", line: "alice::SHA-256:" + sha, wantErr: "empty realm"},
		{name: "empty user", line: ":example.com:" + md5, wantErr: "not user:realm"},
		{name: "SHA-256 HA1 in the MD5 form", line: "alice:example.com:" + sha, wantErr: "32 hex digits"},
		{name: "MD5 HA1 labelled SHA-256", line: "alice:example.com:SHA-256:" + md5, wantErr: "64 hex digits"},
		{name: "not hex", line: "alice:example.com:" + strings.Repeat("g", 32), wantErr: "hex"},
		{name: "-sess algorithm", line: "alice:example.com:SHA-256-sess:" + sha, wantErr: "SHA-256"},
		{name: "control character", line: "al\x01ice:example.com:" + md5, wantErr: "control"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := authdb.ParseLine(tc.line)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, authdb.ErrSyntax) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				// A refused line is never quoted: it may hold an HA1.
				if strings.Contains(err.Error(), md5[:8]) || strings.Contains(err.Error(), sha[:8]) {
					t.Fatalf("error %q quotes the HA1", err)
				}
				return
			}
			if err != nil || ok != tc.ok || got != tc.want {
				t.Fatalf("got %+v, %v, %v; want %+v, %v", got, ok, err, tc.want, tc.ok)
			}
			if ok {
				back, _, err := authdb.ParseLine(got.String())
				if err != nil || back != got {
					t.Fatalf("String() %q reads back as %+v, %v", got.String(), back, err)
				}
			}
		})
	}
}

func TestParseFileErrors(t *testing.T) {
	good := lines("alice", "example.com", "wonderland", auth.MD5, auth.SHA256)
	cases := []struct {
		name, content, want string
	}{
		{"bad line number", good + "# c\nbogus\n", "line 4:"},
		{"duplicate", good + lines("alice", "example.com", "other", auth.SHA256), "given twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "users")
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := authdb.OpenFile(p, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	// The same user in two realms is two users.
	p := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(p, []byte(good+lines("alice", "example.org", "x", auth.MD5)), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := authdb.OpenFile(p, nil)
	if err != nil || f.Len() != 2 {
		t.Fatalf("two realms: %v, %d entries", err, f.Len())
	}
}

func TestFileLookup(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users")
	content := "# users\n" + lines("alice", "example.com", "wonderland", auth.MD5, auth.SHA256) +
		lines("bob", "example.org", "builder", auth.SHA512_256)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := authdb.OpenFile(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cases := []struct {
		user, realm string
		hash        auth.Algorithm
		want        string
	}{
		{"alice", "example.com", auth.MD5, auth.HA1(auth.MD5, "alice", "example.com", "wonderland")},
		{"alice", "example.com", auth.SHA256, auth.HA1(auth.SHA256, "alice", "example.com", "wonderland")},
		{"alice", "example.com", auth.SHA512_256, ""}, // no HA1 for that hash
		{"alice", "example.org", auth.MD5, ""},
		{"bob", "example.org", auth.SHA512_256, auth.HA1(auth.SHA512_256, "bob", "example.org", "builder")},
		{"Alice", "example.com", auth.MD5, ""},
	}
	for _, tc := range cases {
		got, ok, err := f.HA1(ctx, "subscriber", tc.user, tc.realm, tc.hash)
		if err != nil || got != tc.want || ok != (tc.want != "") {
			t.Errorf("HA1(%s, %s, %s) = %q, %v, %v; want %q", tc.user, tc.realm, tc.hash, got, ok, err, tc.want)
		}
	}
	for _, tc := range []struct {
		user, domain string
		want         bool
	}{{"alice", "", true}, {"alice", "example.com", true}, {"alice", "example.org", false}, {"carol", "", false}} {
		if got, _ := f.Subscriber(ctx, "subscriber", tc.user, tc.domain); got != tc.want {
			t.Errorf("Subscriber(%s, %q) = %v", tc.user, tc.domain, got)
		}
	}
}

// syncLog is a slog handler that records messages, for log assertions.
type syncLog struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	base slog.Handler
}

func newSyncLog() (*syncLog, *slog.Logger) {
	s := &syncLog{}
	s.base = slog.NewTextHandler(&lockedWriter{s}, &slog.HandlerOptions{Level: slog.LevelDebug})
	return s, slog.New(s.base)
}

type lockedWriter struct{ s *syncLog }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.buf.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFileReload: the watcher picks up a replaced file, keeps the old
// table when the new one does not parse or disappears, ignores other
// files in the directory, and loads a file created after startup.
func TestFileReload(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "users.htdigest")
	logs, log := newSyncLog()
	f, err := authdb.OpenFile(p, log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Loaded() || f.Len() != 0 {
		t.Fatalf("missing file: loaded %v, %d entries", f.Loaded(), f.Len())
	}
	if err := f.Watch(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	has := func(user, realm string) bool {
		_, ok, _ := f.HA1(ctx, "subscriber", user, realm, auth.MD5)
		return ok
	}

	// Created after startup.
	writeAtomic(t, p, lines("alice", "example.com", "wonderland", auth.MD5))
	waitFor(t, "the new file", func() bool { return has("alice", "example.com") })

	// Replaced: bob added, alice removed.
	writeAtomic(t, p, lines("bob", "example.com", "builder", auth.MD5))
	waitFor(t, "the replaced file", func() bool { return has("bob", "example.com") && !has("alice", "example.com") })

	// A broken file is refused; the previous table stays.
	_, failures := f.Stats()
	writeAtomic(t, p, lines("carol", "example.com", "x", auth.MD5)+"carol:example.com:not-an-ha1\n")
	waitFor(t, "the refusal", func() bool { _, n := f.Stats(); return n > failures })
	if !has("bob", "example.com") || has("carol", "example.com") {
		t.Fatal("a refused file changed the table")
	}
	if s := logs.String(); !strings.Contains(s, "previous table kept") || !strings.Contains(s, "line 2") || strings.Contains(s, "not-an-ha1") {
		t.Fatalf("log:\n%s", s)
	}

	// Deleted: the previous table stays.
	_, failures = f.Stats()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deletion", func() bool { _, n := f.Stats(); return n > failures })
	if !has("bob", "example.com") {
		t.Fatal("deleting the file emptied the table")
	}

	// Other files in the directory do not cause reloads.
	reloads, failures := f.Stats()
	for i := 0; i < 5; i++ {
		if err := os.WriteFile(filepath.Join(dir, "other.log"), []byte(strings.Repeat("x", i)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * authdb.Debounce)
	if r, n := f.Stats(); r != reloads || n != failures {
		t.Fatalf("other files caused reloads: %d→%d, failures %d→%d", reloads, r, failures, n)
	}

	// Back again, edited in place (not atomically).
	if err := os.WriteFile(p, []byte(lines("dave", "example.com", "x", auth.MD5)), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the file written in place", func() bool { return has("dave", "example.com") })
	if strings.Contains(logs.String(), auth.HA1(auth.MD5, "dave", "example.com", "x")) {
		t.Fatal("an HA1 was logged")
	}
}

// TestFileWorldReadable warns about a file every user can read.
func TestFileWorldReadable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(p, []byte(lines("alice", "example.com", "w", auth.MD5)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	logs, log := newSyncLog()
	if _, err := authdb.OpenFile(p, log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "readable by every user") {
		t.Fatalf("no warning:\n%s", logs)
	}
}

func TestOpenDSN(t *testing.T) {
	p := filepath.Join(t.TempDir(), "users")
	for _, dsn := range []string{"file:" + p, "file://" + p} {
		c, err := authdb.Open(context.Background(), dsn, nil)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		if f, ok := c.(*authdb.File); !ok || f.Path() != p {
			t.Fatalf("%s: %T %v", dsn, c, c)
		}
	}
	for _, dsn := range []string{"", "users.htdigest", "mysql://u:p@h/db", "file:"} {
		if _, err := authdb.Open(context.Background(), dsn, nil); err == nil {
			t.Errorf("%q opened", dsn)
		} else if strings.Contains(err.Error(), "u:p") {
			t.Errorf("%q: error %q shows the DSN's password", dsn, err)
		}
	}
}
