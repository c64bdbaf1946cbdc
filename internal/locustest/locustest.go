// Package locustest drives the real locus binary in black-box tests.
//
// Binary builds ./cmd/locus once per test process (with -race when the test
// binary has the race detector on). Start runs "locus run" with a JSON log
// on stderr, waits for "locus started", reads the bound sockets back from
// the "listening" records, and stops the server with SIGTERM when the test
// ends, failing the test unless it exits 0. Dial opens a raw SIP peer over
// UDP, and Register, Options and Invite build the requests it sends:
//
//	func TestMain(m *testing.M) { locustest.Main(m) }
//
//	func TestRegister(t *testing.T) {
//		p := locustest.Start(t, "--listen", "udp:127.0.0.1:0", "--store", "memory:", "--script", "route.lua")
//		c := locustest.Dial(t, p.Addrs["udp"])
//		res := c.MustExchange(locustest.Register("alice", "localhost", "sip:alice@192.0.2.1", 600, "phone/1").String())
//		if res.StatusCode != 200 { … }
//	}
//
// Main removes the built binary when the tests are done; a package that
// does not call it leaves one file in the system temp directory.
package locustest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var build struct {
	once sync.Once
	dir  string // temp dir holding the binary
	bin  string
	err  error
}

// Main runs the package's tests and removes the binary Binary built.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// Binary returns the path of the locus binary, building ./cmd/locus of the
// enclosing module on first use.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			build.err = err
			return
		}
		if build.dir, err = os.MkdirTemp("", "locustest-"); err != nil {
			build.err = err
			return
		}
		build.bin = filepath.Join(build.dir, "locus")
		args := []string{"build", "-o", build.bin}
		if raceEnabled {
			// A data race in the server then makes it exit 66, which
			// the exit-status check at the end of each test reports.
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/locus")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/locus: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatalf("locustest: %v", build.err)
	}
	return build.bin
}

// moduleRoot finds the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Env is the environment of the server and of Run. A -race binary sleeps
// 1 s at exit by default to let racing goroutines report; 100 ms is enough.
func Env() []string {
	return append(os.Environ(), strings.TrimSpace("GORACE=atexit_sleep_ms=100 "+os.Getenv("GORACE")))
}

// Proc is a running "locus run".
type Proc struct {
	Cmd   *exec.Cmd
	Addrs map[string]string // "udp", "tcp", … → bound ip:port
	Log   *Log

	done    chan struct{} // closed when the process has exited
	waitErr error
	stopped bool
}

// Start runs "locus run --log-format json --admin off ARGS..." in a fresh
// temporary directory and waits (10 s at most) until it has started.
func Start(t testing.TB, args ...string) *Proc {
	t.Helper()
	return StartBinary(t, Binary(t), args...)
}

// StartBinary is Start with a locus binary built elsewhere.
func StartBinary(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run", "--log-format", "json", "--admin", "off"}, args...)...)
	cmd.Env = Env()
	cmd.Dir = t.TempDir()
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Proc{Cmd: cmd, Addrs: map[string]string{}, Log: &Log{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("locustest: start locus: %v", err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			p.Log.Add(sc.Text())
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() {
		<-read // Wait closes the pipe: read it to the end first
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.Stop(t) })

	deadline := time.After(10 * time.Second)
	for p.Log.Count("locus started") == 0 {
		select {
		case <-p.done:
			t.Fatalf("locustest: locus exited before starting (%v); log:\n%s", p.waitErr, p.Log)
		case <-deadline:
			t.Fatalf("locustest: no \"locus started\" within 10s; log:\n%s", p.Log)
		case <-time.After(5 * time.Millisecond):
		}
	}
	for _, r := range p.Log.Records("listening") {
		proto, _ := r["proto"].(string)
		addr, _ := r["addr"].(string)
		if _, _, err := net.SplitHostPort(addr); err != nil || proto == "" {
			t.Fatalf("locustest: bad listening record %v", r)
		}
		p.Addrs[proto] = addr
	}
	return p
}

// Signal sends sig to the server's process.
func (p *Proc) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("locustest: signal %v: %v", sig, err)
	}
}

// Stop sends SIGTERM and fails the test unless the server exits 0 within
// 10 s. Start registers it as a cleanup; calling it earlier is allowed.
func (p *Proc) Stop(t testing.TB) {
	t.Helper()
	if p.stopped {
		return
	}
	p.stopped = true
	select {
	case <-p.done:
		t.Errorf("locustest: locus exited before the test stopped it (%v); log:\n%s", p.waitErr, p.Log)
		return
	default:
	}
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("locustest: SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
		t.Errorf("locustest: locus still running 10s after SIGTERM; log:\n%s", p.Log)
		return
	}
	if p.waitErr != nil {
		t.Errorf("locustest: locus exit after SIGTERM: %v, want status 0; log:\n%s", p.waitErr, p.Log)
	}
	if p.Log.Count("stopped") != 1 {
		t.Errorf("locustest: locus did not log \"stopped\"; log:\n%s", p.Log)
	}
}

// Wait waits up to timeout for the server to exit after a signal the test
// sent, and returns its exit error (nil for status 0); the cleanup then
// does not stop it again.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("locustest: locus still running after %v; log:\n%s", timeout, p.Log)
	}
	p.stopped = true
	return p.waitErr
}

// Kill crashes the server with SIGKILL and waits until it is gone.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	p.stopped = true
	if err := p.Cmd.Process.Kill(); err != nil {
		t.Fatalf("locustest: SIGKILL: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("locustest: locus still running 10s after SIGKILL")
	}
}

// Log is the server's stderr: every line, and each JSON record decoded.
type Log struct {
	mu    sync.Mutex
	lines []string
	recs  []map[string]any // nil where the line is not JSON
}

// Add records one line of the server's stderr.
func (l *Log) Add(line string) {
	var rec map[string]any
	if json.Unmarshal([]byte(line), &rec) != nil {
		rec = nil
	}
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.recs = append(l.recs, rec)
	l.mu.Unlock()
}

// Records returns the JSON records whose msg is msg, oldest first.
func (l *Log) Records(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, r := range l.recs {
		if r != nil && r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// Count is the number of records whose msg is msg.
func (l *Log) Count(msg string) int { return len(l.Records(msg)) }

// WaitCount waits until at least n records have msg msg and returns them;
// it fails the test after timeout.
func (l *Log) WaitCount(t testing.TB, msg string, n int, timeout time.Duration) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		recs := l.Records(msg)
		if len(recs) >= n {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("locustest: %d %q records after %v, want %d; log:\n%s", len(recs), msg, timeout, n, l)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// String is the whole log, for failure messages.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// WaitMatch waits until a record with msg msg, at index from or later
// among those records, satisfies match, and returns it; it fails the test
// after timeout.
func (l *Log) WaitMatch(t testing.TB, msg string, from int, timeout time.Duration, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		recs := l.Records(msg)
		for i := from; i < len(recs); i++ {
			if match(recs[i]) {
				return recs[i]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("locustest: no matching %q record among the %d after #%d within %v; script history:\n%s",
				msg, len(recs)-min(from, len(recs)), from, timeout, l.Grep("script "))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// NotJSON returns the lines that are not JSON records.
func (l *Log) NotJSON() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for i, r := range l.recs {
		if r == nil {
			out = append(out, l.lines[i])
		}
	}
	return out
}

// Grep returns the log lines containing s.
func (l *Log) Grep(s string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// WriteFile writes content to path, failing the test on error.
func WriteFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ReplaceFile writes content to a temporary file beside path and renames
// it over path, as editors and configuration managers do.
func ReplaceFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	WriteFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Run runs the binary to completion (20 s at most) with stdin as its
// standard input, and returns its stdout and stderr; it fails the test
// unless the exit status is 0.
func Run(t testing.TB, stdin string, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = Env()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatalf("locustest: locus %v: %v", args, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("locustest: locus %v: %v; stderr:\n%s", args, err, errb.String())
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("locustest: locus %v did not finish within 20s", args)
	}
	return out.String(), errb.String()
}
