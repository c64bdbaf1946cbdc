package authdb

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/locus-sip/locus/internal/filewatch"
	"github.com/locus-sip/locus/modules/auth"
)

// The credentials file holds one HA1 per line:
//
//	# comment
//	user:realm:HA1                 an MD5 HA1, the htdigest format
//	user:realm:ALGORITHM:HA1       ALGORITHM is MD5, SHA-256 or SHA-512-256
//
// A user has one line per hash it can authenticate with; -sess variants
// use the HA1 of their hash. The user may not contain ':'; the realm may
// (an IPv6 address), but may not end in ":" followed by an algorithm name.
// HA1 is hex of the algorithm's length. A malformed or duplicated line
// refuses the whole file: at startup locus does not start, on a reload
// the previous table stays in use.

func init() {
	RegisterSource("file", func(ctx context.Context, dsn string, log *slog.Logger) (Credentials, error) {
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "file:"), "//")
		if path == "" {
			return nil, errors.New("file: no path")
		}
		return OpenFile(path, log)
	})
}

// Entry is one line of a credentials file.
type Entry struct {
	User  string
	Realm string
	Hash  auth.Algorithm // auth.MD5, auth.SHA256 or auth.SHA512_256
	HA1   string         // lower-case hex
}

// String is the entry as a line of the file (without the newline): MD5
// in the htdigest form, the others with their algorithm.
func (e Entry) String() string {
	if e.Hash == auth.MD5 {
		return e.User + ":" + e.Realm + ":" + e.HA1
	}
	return e.User + ":" + e.Realm + ":" + e.Hash.String() + ":" + e.HA1
}

// ErrSyntax is returned for a line that is not a credential. Its text
// never quotes the line: it holds an HA1.
var ErrSyntax = errors.New("not user:realm[:algorithm]:HA1")

// ParseLine parses one line of a credentials file; ok is false for a
// blank line or a comment.
func ParseLine(line string) (e Entry, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return e, false, nil
	}
	first, last := strings.IndexByte(line, ':'), strings.LastIndexByte(line, ':')
	if first <= 0 || last == first {
		return e, false, ErrSyntax
	}
	e.User, e.HA1 = line[:first], line[last+1:]
	middle := line[first+1 : last]
	e.Hash, e.Realm = auth.MD5, middle
	if i := strings.LastIndexByte(middle, ':'); i >= 0 {
		if alg, isAlg := auth.ParseAlgorithm(middle[i+1:]); isAlg {
			if alg.Sess() {
				return e, false, fmt.Errorf("%w: store %s HA1s as %s", ErrSyntax, alg, alg.Hash())
			}
			e.Hash, e.Realm = alg, middle[:i]
		}
	}
	switch {
	case e.Realm == "":
		return e, false, fmt.Errorf("%w: empty realm", ErrSyntax)
	case strings.ContainsFunc(e.User+e.Realm, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return e, false, fmt.Errorf("%w: control character", ErrSyntax)
	case !auth.ValidHA1(e.Hash, e.HA1):
		return e, false, fmt.Errorf("%w: the HA1 is not %d hex digits (%s)", ErrSyntax, e.Hash.HexLen(), e.Hash)
	}
	e.HA1 = strings.ToLower(e.HA1)
	return e, true, nil
}

// maxFileSize bounds a credentials file (a million users take ~200 MB
// with three hashes each; this is a file source, not a database).
const maxFileSize = 256 << 20

// ParseFile reads a whole credentials file.
func ParseFile(r io.Reader) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<10)
	for n := 1; sc.Scan(); n++ {
		e, ok, err := ParseLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if ok {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

type userKey struct{ user, realm string }

// fileTable is one loaded version of the file; it is never changed.
type fileTable struct {
	ha1   map[userKey]*[3]string // per hash index: MD5, SHA-256, SHA-512-256
	users map[string]bool
}

func newFileTable(entries []Entry) (*fileTable, error) {
	t := &fileTable{ha1: make(map[userKey]*[3]string, len(entries)), users: map[string]bool{}}
	for _, e := range entries {
		k := userKey{e.User, e.Realm}
		rec := t.ha1[k]
		if rec == nil {
			rec = new([3]string)
			t.ha1[k] = rec
		}
		i := hashIndex(e.Hash)
		if rec[i] != "" {
			return nil, fmt.Errorf("%s HA1 of user %q in realm %q given twice", e.Hash, e.User, e.Realm)
		}
		rec[i] = e.HA1
		t.users[e.User] = true
	}
	return t, nil
}

func hashIndex(h auth.Algorithm) int {
	switch h.Hash() {
	case auth.MD5:
		return 0
	case auth.SHA256:
		return 1
	}
	return 2
}

// File is the file credential source: the whole file in memory, swapped
// atomically when it changes. It has a single table: any table name
// (Kamailio scripts pass "subscriber") reads it.
type File struct {
	path string
	log  *slog.Logger
	tab  atomic.Pointer[fileTable]

	mu     sync.Mutex // serialises loads
	sum    [sha256.Size]byte
	loaded bool // the file was read once
	opened bool // OpenFile returned: later loads are logged

	reloads, failures atomic.Uint64
	watcher           *filewatch.Watcher
}

// OpenFile loads a credentials file. A file that does not exist yet is an
// empty table (every user unknown): "locus users add" creates it and the
// watcher loads it. A file that does not parse is an error.
func OpenFile(path string, log *slog.Logger) (*File, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &File{path: path, log: log}
	f.tab.Store(&fileTable{ha1: map[userKey]*[3]string{}, users: map[string]bool{}})
	if _, err := f.Reload(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	f.mu.Lock()
	f.opened = true
	f.mu.Unlock()
	return f, nil
}

// Loaded reports whether the file was read (it exists).
func (f *File) Loaded() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loaded
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Len is the number of user and realm pairs loaded.
func (f *File) Len() int { return len(f.tab.Load().ha1) }

// Stats reports successful reloads and refused ones.
func (f *File) Stats() (reloads, failures uint64) { return f.reloads.Load(), f.failures.Load() }

// Reload reads the file again and, if its content changed and parses,
// swaps the table. On any error the current table stays; a missing file
// is an error too (an editor replacing it leaves a gap: delete users, not
// the file).
func (f *File) Reload() (changed bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, info, err := readFile(f.path)
	if err != nil {
		// A file that never existed is not news: locus runs without one
		// until "locus users add" creates it.
		if f.opened && (f.loaded || !errors.Is(err, fs.ErrNotExist)) {
			f.failures.Add(1)
			f.log.Error("auth_db: credentials file not reloaded, previous table kept", "file", f.path, "error", err)
		}
		return false, err
	}
	sum := sha256.Sum256(b)
	if f.loaded && sum == f.sum {
		return false, nil
	}
	entries, err := ParseFile(bytes.NewReader(b))
	var t *fileTable
	if err == nil {
		t, err = newFileTable(entries)
	}
	if err != nil {
		err = fmt.Errorf("%s: %w", f.path, err)
		if f.opened {
			f.failures.Add(1)
			f.log.Error("auth_db: credentials file refused, previous table kept", "error", err)
		}
		return false, err
	}
	if info.Mode().Perm()&0o004 != 0 {
		f.log.Warn("auth_db: credentials file is readable by every user: HA1 values are password equivalents", "file", f.path)
	}
	f.tab.Store(t)
	if f.opened {
		f.reloads.Add(1)
		f.log.Info("auth_db: credentials reloaded", "file", f.path, "entries", len(t.ha1))
	}
	f.sum, f.loaded = sum, true
	return true, nil
}

func readFile(path string) ([]byte, fs.FileInfo, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(b) > maxFileSize {
		return nil, nil, fmt.Errorf("%s is larger than %d MiB", path, maxFileSize>>20)
	}
	return b, info, nil
}

// HA1 implements Credentials.
func (f *File) HA1(_ context.Context, _, username, realm string, hash auth.Algorithm) (string, bool, error) {
	rec := f.tab.Load().ha1[userKey{username, realm}]
	if rec == nil {
		return "", false, nil
	}
	ha1 := rec[hashIndex(hash)]
	return ha1, ha1 != "", nil
}

// Subscriber implements Credentials.
func (f *File) Subscriber(_ context.Context, _, username, domain string) (bool, error) {
	t := f.tab.Load()
	if domain == "" {
		return t.users[username], nil
	}
	return t.ha1[userKey{username, domain}] != nil, nil
}

// Debounce is how long the watcher waits after the last change in the
// file's directory before reloading.
const Debounce = filewatch.Debounce

// Watch reloads the file when it changes, until ctx ends or Close.
func (f *File) Watch(ctx context.Context) error {
	w, err := filewatch.Start(ctx, f.path, f.log, "auth_db: credentials file watcher", func() {
		_, _ = f.Reload() // logs its outcome; unchanged content is a no-op
	})
	if err != nil {
		return fmt.Errorf("auth_db: %w", err)
	}
	f.mu.Lock()
	f.watcher = w
	f.mu.Unlock()
	return nil
}

// Close stops the watcher.
func (f *File) Close() error {
	f.mu.Lock()
	w := f.watcher
	f.watcher = nil
	f.mu.Unlock()
	w.Close()
	return nil
}

// Interface guards.
var (
	_ Credentials = (*File)(nil)
	_ Watcher     = (*File)(nil)
	_ Reloader    = (*File)(nil)
)
