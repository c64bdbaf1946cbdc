package testsrv

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// PostgresEnv names the environment variable that points the tests at an
// already-running PostgreSQL server instead of starting one, e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. The role
// must be allowed to create schemas.
const PostgresEnv = "LOCUS_TEST_POSTGRES_URL"

// PostgresServer is a PostgreSQL cluster the tests started (initdb in a
// temporary directory, postgres on a free loopback port, fsync on), or the
// external server PostgresEnv names.
type PostgresServer struct {
	// URL is the DSN of the cluster's "postgres" database.
	URL string
	// External is set when URL came from PostgresEnv: the server is not
	// ours to stop, kill or restart.
	External bool

	dir     string // owned by the server's OS user; holds data/, the socket and the log
	bin     string // directory of postgres and initdb
	port    int
	cred    *syscall.Credential // the postgres OS user when we run as root
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	removed bool
}

// StartPostgres starts a new cluster for t, or returns the external server,
// and stops and removes it when t ends. It fails t if the server binaries
// are missing or the server does not start.
func StartPostgres(t testing.TB) *PostgresServer {
	t.Helper()
	s, err := NewPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewPostgres is StartPostgres for callers without a testing.TB (TestMain,
// a sync.Once shared by a package): the caller must call Close.
func NewPostgres() (*PostgresServer, error) {
	if u := os.Getenv(PostgresEnv); u != "" {
		return &PostgresServer{URL: u, External: true}, nil
	}
	bin, err := postgresBin()
	if err != nil {
		return nil, err
	}
	s := &PostgresServer{bin: bin}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("testsrv: running as root and there is no postgres OS user to run PostgreSQL as (install the Debian package postgresql): %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// A directory of our own, not t.TempDir(): the postgres user must own
	// it and reach it.
	s.dir, err = os.MkdirTemp("", "locus-pg-")
	if err != nil {
		return nil, fmt.Errorf("testsrv: %w", err)
	}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		s.Close()
		return nil, fmt.Errorf("testsrv: %w", err)
	}
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			s.Close()
			return nil, fmt.Errorf("testsrv: %w", err)
		}
	}
	initdb := s.command(filepath.Join(bin, "initdb"), "-D", s.dataDir(), "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		s.Close()
		return nil, fmt.Errorf("testsrv: initdb: %w\n%s", err, out)
	}
	var lastErr error
	for range 3 { // the free port may be taken between probe and listen
		if s.port, err = freePort(); err != nil {
			s.Close()
			return nil, err
		}
		if lastErr = s.start(); lastErr == nil {
			s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
			return s, nil
		}
	}
	s.Close()
	return nil, lastErr
}

// postgresBin finds the directory holding postgres and initdb: Debian keeps
// them in /usr/lib/postgresql/VERSION/bin, off the PATH.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { // newest version first
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	if p, err := exec.LookPath("postgres"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if postgresIsExec(filepath.Join(d, "postgres")) && postgresIsExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", errors.New("testsrv: PostgreSQL server binaries (postgres, initdb) not found in /usr/lib/postgresql/*/bin or PATH: install the Debian package postgresql, or set " + PostgresEnv)
}

func postgresIsExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func (s *PostgresServer) dataDir() string { return filepath.Join(s.dir, "data") }

// command builds a command that runs as the server's OS user.
func (s *PostgresServer) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C", "LC_ALL=C", "HOME=" + s.dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	return cmd
}

// start runs postgres on s.port and waits until it accepts connections.
func (s *PostgresServer) start() error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testsrv: %w", err)
	}
	defer logf.Close()
	cmd := s.command(filepath.Join(s.bin, "postgres"), "-D", s.dataDir(),
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+s.dir,
		"-c", "fsync=on",
		"-c", "synchronous_commit=on",
		"-c", "logging_collector=off")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Die with the test binary, even when it is killed.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testsrv: start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	// postmaster.pid's eighth line says "ready" once connections are
	// accepted (after crash recovery, too).
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("testsrv: postgres exited at start:\n%s", s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
		b, err := os.ReadFile(filepath.Join(s.dataDir(), "postmaster.pid"))
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		if len(lines) >= 8 && lines[0] == strconv.Itoa(cmd.Process.Pid) && strings.TrimSpace(lines[7]) == "ready" {
			return nil
		}
	}
	s.signal(syscall.SIGKILL)
	<-exited
	return fmt.Errorf("testsrv: postgres not ready within 60 s:\n%s", s.logTail())
}

func (s *PostgresServer) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// signal sends sig to the running postmaster, and for SIGKILL to its
// children too (a crash takes the backends down with it).
func (s *PostgresServer) signal(sig syscall.Signal) (exited chan struct{}, kids []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil, nil
	}
	pid := s.cmd.Process.Pid
	if sig == syscall.SIGKILL {
		kids = postgresChildren(pid) // before they are orphaned
	}
	_ = syscall.Kill(pid, sig)
	for _, c := range kids {
		_ = syscall.Kill(c, sig)
	}
	exited = s.exited
	s.cmd = nil
	return exited, kids
}

// PID is the postmaster's process id, 0 when it is not running.
func (s *PostgresServer) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Port is the server's TCP port on 127.0.0.1 (0 for an external server).
func (s *PostgresServer) Port() int { return s.port }

// DatabaseURL returns URL with the database name replaced.
func (s *PostgresServer) DatabaseURL(db string) string {
	u, err := url.Parse(s.URL)
	if err != nil {
		return s.URL
	}
	u.Path = "/" + db
	return u.String()
}

func (s *PostgresServer) skipExternal(t testing.TB, what string) {
	t.Helper()
	if s.External {
		t.Skipf("%s is set: the external PostgreSQL server cannot be %s by the tests", PostgresEnv, what)
	}
}

// Stop shuts the server down cleanly (fast shutdown) and waits for it.
func (s *PostgresServer) Stop(t testing.TB) {
	t.Helper()
	s.skipExternal(t, "stopped")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

func (s *PostgresServer) stop() error {
	pid := s.PID()
	if pid != 0 {
		s.cont(pid) // a paused server could not stop
	}
	exited, _ := s.signal(syscall.SIGINT)
	if exited == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for _, c := range postgresChildren(pid) {
			_ = syscall.Kill(c, syscall.SIGKILL)
		}
		<-exited
		return errors.New("testsrv: postgres did not stop within 30 s: killed")
	}
}

// Kill crashes the server: SIGKILL to the postmaster and its backends.
func (s *PostgresServer) Kill(t testing.TB) {
	t.Helper()
	s.skipExternal(t, "killed")
	exited, kids := s.signal(syscall.SIGKILL)
	if exited == nil {
		return
	}
	<-exited
	// Wait for the backends to go too (orphans may be left as zombies,
	// which no longer hold anything).
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if !slices.ContainsFunc(kids, postgresProcessAlive) {
			break
		}
	}
}

// postgresProcessAlive reports whether pid is a live, not zombie, process.
func postgresProcessAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(string(b[i+1:])), "Z")
}

// Pause stops the server and its backends with SIGSTOP: it keeps its
// connections but answers nothing, like a hung host.
func (s *PostgresServer) Pause(t testing.TB) {
	t.Helper()
	s.skipExternal(t, "paused")
	if pid := s.PID(); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGSTOP)
		for _, c := range postgresChildren(pid) {
			_ = syscall.Kill(c, syscall.SIGSTOP)
		}
	}
}

func (s *PostgresServer) cont(pid int) {
	_ = syscall.Kill(pid, syscall.SIGCONT)
	for _, c := range postgresChildren(pid) {
		_ = syscall.Kill(c, syscall.SIGCONT)
	}
}

// Resume undoes Pause.
func (s *PostgresServer) Resume(t testing.TB) {
	t.Helper()
	s.skipExternal(t, "resumed")
	if pid := s.PID(); pid != 0 {
		s.cont(pid)
	}
}

// postgresChildren returns the live (not zombie) child processes of the
// postmaster pid. Each backend makes itself a process group leader, so
// signalling the postmaster's group does not reach them.
func postgresChildren(pid int) []int {
	var kids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) && f[0] != "Z" {
			if c, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
				kids = append(kids, c)
			}
		}
	}
	return kids
}

// Restart starts the server again on the same port and data directory,
// after stopping it if it runs; it waits until the server accepts
// connections (crash recovery included).
func (s *PostgresServer) Restart(t testing.TB) {
	t.Helper()
	s.skipExternal(t, "restarted")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

// Close stops the server and removes its directory. It does nothing for
// an external server.
func (s *PostgresServer) Close() {
	if s.External {
		return
	}
	_ = s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir != "" && !s.removed {
		s.removed = true
		_ = os.RemoveAll(s.dir)
	}
}
