package testsrv

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisEnv names the environment variable that points the tests at an
// already-running Redis server instead of starting one, e.g.
// redis://127.0.0.1:6379/15. Tests share it: they keep to key prefixes of
// their own and remove their keys, but never flush the database.
const RedisEnv = "LOCUS_TEST_REDIS_URL"

// RedisDurable is the argument list for a server that acknowledges a write
// only after fsyncing it to its append-only file: what locus's write-through
// contract needs.
var RedisDurable = []string{"--appendonly", "yes", "--appendfsync", "always"}

// RedisServer is a redis-server the tests started on a free loopback port
// with its working directory in a temporary directory (no RDB snapshots;
// persistence only if the arguments ask for it), or the external server
// RedisEnv names.
type RedisServer struct {
	// Addr is host:port.
	Addr string
	// URL is the redis:// DSN of database 0 (or RedisEnv's value).
	URL string
	// External is set when URL came from RedisEnv: the server is not ours
	// to stop, kill or restart.
	External bool

	// TLSURL is the rediss:// DSN of database 0 on the TLS port, and
	// TLSCert the server's self-signed certificate (PEM), for a server
	// StartRedisTLS started; empty otherwise.
	TLSURL  string
	TLSCert []byte

	dir     string
	args    []string
	port    int
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	removed bool
}

// StartRedis starts a new redis-server for t with the extra arguments args
// (e.g. RedisDurable...), or returns the external server, and stops it and
// removes its directory when t ends. It fails t if redis-server is missing
// or does not start.
func StartRedis(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	s, err := NewRedis(args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewRedis is StartRedis for callers without a testing.TB (TestMain, a
// sync.Once shared by a package): the caller must call Close.
func NewRedis(args ...string) (*RedisServer, error) {
	if u := os.Getenv(RedisEnv); u != "" {
		addr := u
		if i := strings.Index(addr, "://"); i >= 0 {
			addr = addr[i+3:]
		}
		if i := strings.LastIndexByte(addr, '@'); i >= 0 {
			addr = addr[i+1:]
		}
		if i := strings.IndexAny(addr, "/?"); i >= 0 {
			addr = addr[:i]
		}
		return &RedisServer{Addr: addr, URL: u, External: true}, nil
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("testsrv: redis-server not found in PATH: install the Debian package redis-server (make test does), or set " + RedisEnv)
	}
	dir, err := os.MkdirTemp("", "locus-redis-")
	if err != nil {
		return nil, fmt.Errorf("testsrv: %w", err)
	}
	return redisNewServer(dir, args)
}

// redisNewServer starts redis-server with args on a free port, in dir,
// which Close removes.
func redisNewServer(dir string, args []string) (*RedisServer, error) {
	s := &RedisServer{dir: dir, args: args}
	var err, lastErr error
	for range 3 { // the free port may be taken between probe and listen
		if s.port, err = freePort(); err != nil {
			s.Close()
			return nil, err
		}
		if lastErr = s.start(); lastErr == nil {
			s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
			s.URL = "redis://" + s.Addr + "/0"
			return s, nil
		}
	}
	s.Close()
	return nil, lastErr
}

// StartRedisTLS is StartRedis with a TLS port besides the plain one (a
// self-signed certificate for 127.0.0.1; clients need no certificate). It
// always starts its own server: RedisEnv does not apply.
func StartRedisTLS(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	s, err := redisNewTLS(args)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func redisNewTLS(args []string) (*RedisServer, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("testsrv: redis-server not found in PATH: install the Debian package redis-server (make test does)")
	}
	dir, err := os.MkdirTemp("", "locus-redis-")
	if err != nil {
		return nil, fmt.Errorf("testsrv: %w", err)
	}
	certPEM, err := redisSelfSigned(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	s, err := redisNewServer(dir, append(redisTLSArgs(dir, port), args...)) // removes dir on failure
	if err != nil {
		return nil, err
	}
	s.TLSURL = "rediss://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + "/0"
	s.TLSCert = certPEM
	return s, nil
}

func redisTLSArgs(dir string, port int) []string {
	return []string{
		"--tls-port", strconv.Itoa(port),
		"--tls-cert-file", filepath.Join(dir, "cert.pem"),
		"--tls-key-file", filepath.Join(dir, "key.pem"),
		"--tls-ca-cert-file", filepath.Join(dir, "cert.pem"),
		"--tls-auth-clients", "no",
	}
}

// redisSelfSigned writes cert.pem and key.pem for 127.0.0.1 into dir and
// returns the certificate.
func redisSelfSigned(dir string) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testsrv: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "locus test redis"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("testsrv: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("testsrv: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600); err != nil {
		return nil, fmt.Errorf("testsrv: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("testsrv: %w", err)
	}
	return certPEM, nil
}

// start runs redis-server on s.port in s.dir and waits until it answers
// PING (after loading its append-only file, too).
func (s *RedisServer) start() error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testsrv: %w", err)
	}
	defer logf.Close()
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--daemonize", "no",
		"--logfile", "",
		"--unixsocket", "",
	}
	cmd := exec.Command("redis-server", append(args, s.args...)...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Die with the test binary, even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("testsrv: start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("testsrv: redis-server exited at start:\n%s", s.logTail())
		case <-time.After(10 * time.Millisecond):
		}
		if redisPing(addr) == nil {
			return nil
		}
	}
	exited = s.signal(syscall.SIGKILL)
	<-exited
	return fmt.Errorf("testsrv: redis-server not ready within 30 s:\n%s", s.logTail())
}

// redisPing sends PING and wants +PONG (a server loading its data answers
// -LOADING).
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("testsrv: PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

func (s *RedisServer) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// signal sends sig to the running server, or to its whole process group
// for SIGKILL (an append-only file rewrite runs in a forked child), and
// forgets it; exited is closed once it has been waited for (nil when it was
// not running).
func (s *RedisServer) signal(sig syscall.Signal) (exited chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	if sig == syscall.SIGKILL {
		_ = syscall.Kill(-s.cmd.Process.Pid, sig)
	} else {
		_ = s.cmd.Process.Signal(sig)
	}
	exited = s.exited
	s.cmd = nil
	return exited
}

// PID is the server's process id, 0 when it is not running.
func (s *RedisServer) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Port is the server's TCP port on 127.0.0.1 (0 for an external server).
func (s *RedisServer) Port() int { return s.port }

func (s *RedisServer) skipExternal(t testing.TB, what string) {
	t.Helper()
	if s.External {
		t.Skipf("%s is set: the external Redis server cannot be %s by the tests", RedisEnv, what)
	}
}

// Stop shuts the server down cleanly (SIGTERM: it flushes its append-only
// file) and waits for it.
func (s *RedisServer) Stop(t testing.TB) {
	t.Helper()
	s.skipExternal(t, "stopped")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

func (s *RedisServer) stop() error {
	pid := s.PID()
	exited := s.signal(syscall.SIGTERM)
	if exited == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
		return errors.New("testsrv: redis-server did not stop within 10 s: killed")
	}
}

// Kill crashes the server (SIGKILL) and waits until it is gone.
func (s *RedisServer) Kill(t testing.TB) {
	t.Helper()
	s.skipExternal(t, "killed")
	if exited := s.signal(syscall.SIGKILL); exited != nil {
		<-exited
	}
}

// Restart starts the server again on the same port and directory, after
// stopping it if it runs (a killed server stays killed: it is not stopped
// cleanly first); it waits until the server has loaded its data and answers.
func (s *RedisServer) Restart(t testing.TB) {
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
func (s *RedisServer) Close() {
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
