package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/locus-sip/locus/modules/auth"
	authdb "github.com/locus-sip/locus/modules/auth_db"
	"golang.org/x/term"
)

// UsersCmd is "locus users": it maintains the credentials file of the
// auth_db module's file source (db_url file:PATH), one HA1 per user,
// realm and algorithm, never a password.
type UsersCmd struct {
	Add    UsersAddCmd    `cmd:"" help:"Add a user. The password is read from stdin when it is not a terminal, else prompted for."`
	Passwd UsersPasswdCmd `cmd:"" help:"Change a user's password."`
	Del    UsersDelCmd    `cmd:"" help:"Delete a user."`
	List   UsersListCmd   `cmd:"" help:"List the users, their realms and algorithms."`
}

// usersFile is the flag every users command has.
type usersFile struct {
	File string `help:"Credentials file (modules.auth_db.db_url file:PATH)." default:"users.htdigest" placeholder:"PATH"`
}

// usersUser is what add, passwd and del take.
type usersUser struct {
	usersFile
	Realm string `required:"" help:"Realm: the SIP domain the user registers in (the To host)." placeholder:"REALM"`
	User  string `arg:"" help:"User name, as the phone sends it in its credentials."`
}

// usersAlgorithms is the --algorithms flag of add and passwd. Empty means
// the auth module's default list, so that the two cannot drift apart.
type usersAlgorithms struct {
	Algorithms []string `help:"Algorithms to write an HA1 for (MD5, SHA-256, SHA-512-256). Default: SHA-256,MD5." placeholder:"ALG,..."`
}

// UsersAddCmd is "locus users add".
type UsersAddCmd struct {
	usersUser
	usersAlgorithms
}

// UsersPasswdCmd is "locus users passwd".
type UsersPasswdCmd struct {
	usersUser
	usersAlgorithms
}

// UsersDelCmd is "locus users del".
type UsersDelCmd struct {
	usersUser
}

// UsersListCmd is "locus users list".
type UsersListCmd struct {
	usersFile
	Realm string `help:"List only this realm's users." placeholder:"REALM"`
}

// Run adds the user.
func (c *UsersAddCmd) Run() error {
	return c.run(os.Stdin, os.Stderr)
}

func (c *UsersAddCmd) run(stdin io.Reader, prompt io.Writer) error {
	hashes, err := usersHashes(c.Algorithms)
	if err != nil {
		return err
	}
	f, err := readCredentialsFile(c.File, true)
	if err != nil {
		return err
	}
	if f.has(c.User, c.Realm) {
		return fmt.Errorf("users: %s is already in realm %s (use passwd to change the password)", c.User, c.Realm)
	}
	password, err := readNewPassword(stdin, prompt, c.User, c.Realm)
	if err != nil {
		return err
	}
	add, err := credentialLines(c.User, c.Realm, password, hashes)
	if err != nil {
		return err
	}
	f.lines = append(f.lines, add...)
	return f.write()
}

// Run changes the user's password.
func (c *UsersPasswdCmd) Run() error {
	return c.run(os.Stdin, os.Stderr)
}

func (c *UsersPasswdCmd) run(stdin io.Reader, prompt io.Writer) error {
	hashes, err := usersHashes(c.Algorithms)
	if err != nil {
		return err
	}
	f, err := readCredentialsFile(c.File, false)
	if err != nil {
		return err
	}
	if !f.has(c.User, c.Realm) {
		return fmt.Errorf("users: no user %s in realm %s", c.User, c.Realm)
	}
	password, err := readNewPassword(stdin, prompt, c.User, c.Realm)
	if err != nil {
		return err
	}
	add, err := credentialLines(c.User, c.Realm, password, hashes)
	if err != nil {
		return err
	}
	f.replace(c.User, c.Realm, add)
	return f.write()
}

// Run deletes the user.
func (c *UsersDelCmd) Run() error {
	f, err := readCredentialsFile(c.File, false)
	if err != nil {
		return err
	}
	if !f.has(c.User, c.Realm) {
		return fmt.Errorf("users: no user %s in realm %s", c.User, c.Realm)
	}
	f.replace(c.User, c.Realm, nil)
	return f.write()
}

// Run lists the users.
func (c *UsersListCmd) Run() error {
	return c.run(os.Stdout)
}

func (c *UsersListCmd) run(out io.Writer) error {
	f, err := readCredentialsFile(c.File, false)
	if err != nil {
		return err
	}
	type key struct{ user, realm string }
	var order []key
	algs := map[key][]string{}
	for _, e := range f.entries {
		if c.Realm != "" && e.Realm != c.Realm {
			continue
		}
		k := key{e.User, e.Realm}
		if _, seen := algs[k]; !seen {
			order = append(order, k)
		}
		algs[k] = append(algs[k], e.Hash.String())
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "USER\tREALM\tALGORITHMS")
	for _, k := range order {
		fmt.Fprintf(w, "%s\t%s\t%s\n", k.user, k.realm, strings.Join(algs[k], ","))
	}
	return w.Flush()
}

// usersHashes turns --algorithms into the hashes to write, strongest
// first; -sess variants need the HA1 of their hash.
func usersHashes(names []string) ([]auth.Algorithm, error) {
	if len(names) == 0 {
		names = auth.DefaultHashes
	}
	want := map[auth.Algorithm]bool{}
	for _, n := range names {
		a, ok := auth.ParseAlgorithm(strings.TrimSpace(n))
		if !ok {
			return nil, fmt.Errorf("users: unknown algorithm %q (want MD5, SHA-256 or SHA-512-256)", n)
		}
		want[a.Hash()] = true
	}
	var out []auth.Algorithm
	for _, h := range auth.Hashes {
		if want[h] {
			out = append(out, h)
		}
	}
	return out, nil
}

// credentialLines returns the file lines for user in realm, one per hash.
// A user or realm the file format cannot hold is refused.
func credentialLines(user, realm, password string, hashes []auth.Algorithm) ([]string, error) {
	var out []string
	for _, h := range hashes {
		e := authdb.Entry{User: user, Realm: realm, Hash: h, HA1: auth.HA1(h, user, realm, password)}
		back, ok, err := authdb.ParseLine(e.String())
		if err != nil || !ok || back != e {
			return nil, fmt.Errorf("users: user %q in realm %q cannot be written: a user may not contain ':', spaces at its ends or control characters, a realm may not be empty or end in ':ALGORITHM'", user, realm)
		}
		out = append(out, e.String())
	}
	return out, nil
}

// maxPassword bounds a password read from stdin.
const maxPassword = 1024

// readNewPassword reads the password: the first line of stdin when it is
// not a terminal (scripts: echo secret | locus users add ...), else typed
// twice without echo after a prompt.
func readNewPassword(stdin io.Reader, prompt io.Writer, user, realm string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(prompt, "Password for %s@%s: ", user, realm)
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("users: read password: %w", err)
		}
		fmt.Fprint(prompt, "Retype password: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("users: read password: %w", err)
		}
		if string(p1) != string(p2) {
			return "", errors.New("users: the passwords differ")
		}
		return checkPassword(string(p1))
	}
	line, err := bufio.NewReaderSize(io.LimitReader(stdin, maxPassword+2), maxPassword+2).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("users: read password from stdin: %w", err)
	}
	if len(line) > maxPassword+1 || len(line) == maxPassword+1 && !strings.HasSuffix(line, "\n") {
		return "", fmt.Errorf("users: password longer than %d bytes", maxPassword)
	}
	return checkPassword(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"))
}

func checkPassword(p string) (string, error) {
	if p == "" {
		return "", errors.New("users: empty password")
	}
	if strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", errors.New("users: control character in the password")
	}
	return p, nil
}

// credentialsFile is a credentials file being edited: its lines as read
// (comments and order kept) and the entries they hold.
type credentialsFile struct {
	path    string // the file itself (a symbolic link resolved)
	mode    fs.FileMode
	lines   []string
	entries []authdb.Entry
}

// readCredentialsFile reads and checks the file; a missing file is empty
// when create is set. A file the server would refuse is not edited.
func readCredentialsFile(path string, create bool) (*credentialsFile, error) {
	f := &credentialsFile{path: path, mode: 0o600}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		f.path = real
	}
	b, err := os.ReadFile(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		return f, nil
	case err != nil:
		return nil, fmt.Errorf("users: %w", err)
	}
	if info, err := os.Stat(f.path); err == nil {
		f.mode = info.Mode().Perm()
	}
	text := strings.TrimSuffix(string(b), "\n")
	if text != "" {
		f.lines = strings.Split(text, "\n")
	}
	for i, l := range f.lines {
		e, ok, err := authdb.ParseLine(l)
		if err != nil {
			return nil, fmt.Errorf("users: %s: line %d: %w (fix the file first)", path, i+1, err)
		}
		if ok {
			f.entries = append(f.entries, e)
		}
	}
	return f, nil
}

func (f *credentialsFile) has(user, realm string) bool {
	for _, e := range f.entries {
		if e.User == user && e.Realm == realm {
			return true
		}
	}
	return false
}

// replace puts lines where user's first line in realm was, dropping all
// of that user's lines in realm.
func (f *credentialsFile) replace(user, realm string, lines []string) {
	var out []string
	done := false
	for _, l := range f.lines {
		if e, ok, _ := authdb.ParseLine(l); ok && e.User == user && e.Realm == realm {
			if !done {
				out = append(out, lines...)
				done = true
			}
			continue
		}
		out = append(out, l)
	}
	f.lines = out
}

// write replaces the file atomically: a temporary file in the same
// directory, synced, renamed over it, so that the server's watcher never
// reads half a file.
func (f *credentialsFile) write() error {
	dir, base := filepath.Split(f.path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	var b strings.Builder
	for _, l := range f.lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if err := tmp.Chmod(f.mode); err != nil {
		tmp.Close()
		return fmt.Errorf("users: %w", err)
	}
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return fmt.Errorf("users: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("users: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename itself survives a crash
		d.Close()
	}
	return nil
}
