package main

// Shared helpers of the black-box tests: the locus binary built once,
// a running server with its JSON log, raw SIP peers over every transport,
// and a self-signed certificate for TLS and WSS.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/locus-sip/locus/internal/locustest"
)

// locusBin is the binary under test, built once by TestMain.
var locusBin string

func TestMain(m *testing.M) {
	flag.Parse()
	// Fuzz workers (child processes of "go test -fuzz") and -run='^$'
	// (fuzzing only) run no test that needs the binary.
	if flagValue("test.fuzzworker") == "true" || flagValue("test.run") == "^$" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "locus-blackbox-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "blackbox: temp dir:", err)
		os.Exit(2)
	}
	locusBin = filepath.Join(dir, "locus")
	args := []string{"build", "-o", locusBin}
	// A test binary built with -race builds the server with -race too: a
	// data race in the server then makes it exit 66, which the tests'
	// "exit status 0 on SIGTERM" check reports.
	if raceEnabled() {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "blackbox: go build:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// logBuf collects the server's stderr, one JSON record per line.
type logBuf = locustest.Log

// errorContains matches a record whose error attribute contains s.
func errorContains(s string) func(map[string]any) bool {
	return func(r map[string]any) bool {
		e, _ := r["error"].(string)
		return strings.Contains(e, s)
	}
}

// msgRefused is the log message of a refused script reload.
const msgRefused = "script reload refused, previous generation keeps serving"

// locusEnv is the server's environment (GORACE tuned for a -race binary).
var locusEnv = locustest.Env

// locusProc is a running "locus run".
type locusProc = locustest.Proc

// startLocus runs "locus run --log-format json --admin off ARGS..." with
// the binary TestMain built, waits for "locus started" and reads the bound
// sockets back; the server is stopped with SIGTERM when the test ends and
// must exit 0.
func startLocus(t testing.TB, args ...string) *locusProc {
	t.Helper()
	return locustest.StartBinary(t, locusBin, args...)
}

// runLocus runs the binary to completion (at most 20 s) and returns its
// stdout, stderr and exit code.
func runLocus(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, locusBin, args...)
	cmd.Env = locusEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("locus %v did not finish within 20s; stderr:\n%s", args, errb.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("locus %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// writeFile writes content to path in place (truncate and write).
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes content to a temporary file in path's directory and
// renames it over path, as editors and ConfigMap updates do.
func replaceFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// routeScript wraps a body into ksr_request_route.
func routeScript(body string) string {
	return "function ksr_request_route()\n" + body + "\nend\n"
}

// newScript writes a route script into a fresh directory and returns its path.
func newScript(t testing.TB, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "route.lua")
	writeFile(t, p, src)
	return p
}

// sipReq describes a raw request. Zero fields take usable defaults.
type sipReq struct {
	Method    string
	User      string // Request-URI, From and To user
	CallID    string
	CSeq      int
	Transport string // Via transport: UDP, TCP, TLS, WS, WSS
	ViaHost   string
	ViaPort   int
	Branch    string
	Extra     string // more header lines, each ending in \r\n
}

var reqSeq struct {
	sync.Mutex
	n int
}

func nextID() int {
	reqSeq.Lock()
	defer reqSeq.Unlock()
	reqSeq.n++
	return reqSeq.n
}

// String renders the request with CRLF line ends.
func (r sipReq) String() string {
	id := nextID()
	if r.Method == "" {
		r.Method = "REGISTER"
	}
	if r.User == "" {
		r.User = "alice"
	}
	if r.CallID == "" {
		r.CallID = fmt.Sprintf("bb-%d-%d@test.invalid", os.Getpid(), id)
	}
	if r.CSeq == 0 {
		r.CSeq = 1
	}
	if r.Transport == "" {
		r.Transport = "UDP"
	}
	if r.ViaHost == "" {
		r.ViaHost = "client.invalid"
	}
	if r.ViaPort == 0 {
		r.ViaPort = 5060
	}
	if r.Branch == "" {
		r.Branch = fmt.Sprintf("z9hG4bK-bb-%d-%d", os.Getpid(), id)
	}
	ruri := "sip:example.com"
	if r.Method != "REGISTER" {
		ruri = "sip:" + r.User + "@example.com"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", r.Method, ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/%s %s:%d;branch=%s\r\n", r.Transport, r.ViaHost, r.ViaPort, r.Branch)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@example.com>;tag=f%d\r\n", r.User, id)
	fmt.Fprintf(&b, "To: <sip:%s@example.com>\r\n", r.User)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", r.CallID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", r.CSeq, r.Method)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s:%d>\r\n", r.User, r.ViaHost, r.ViaPort)
	b.WriteString(r.Extra)
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// sipConn is a raw SIP peer over one transport.
type sipConn interface {
	// Send writes one message.
	Send(raw []byte) error
	// Recv reads one message, or fails after timeout.
	Recv(timeout time.Duration) (sip.Message, error)
	// LocalPort is the client's port (for the Via header over UDP).
	LocalPort() int
	Close() error
}

// dialSIP connects a raw peer to addr over proto (udp, tcp, tls, ws, wss).
// roots verifies the server's certificate for tls and wss.
func dialSIP(t testing.TB, proto, addr string, roots *x509.CertPool) sipConn {
	t.Helper()
	tlsConf := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	var (
		c   sipConn
		err error
	)
	switch proto {
	case "udp":
		var pc *net.UDPConn
		pc, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err == nil {
			var raddr *net.UDPAddr
			raddr, err = net.ResolveUDPAddr("udp", addr)
			c = &udpPeer{c: pc, raddr: raddr}
		}
	case "tcp":
		var nc net.Conn
		nc, err = net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			c = newStreamPeer(nc)
		}
	case "tls":
		var nc net.Conn
		nc, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, tlsConf)
		if err == nil {
			c = newStreamPeer(nc)
		}
	case "ws", "wss":
		d := ws.Dialer{Protocols: []string{"sip"}, Timeout: 5 * time.Second, TLSConfig: tlsConf}
		var (
			nc net.Conn
			hs ws.Handshake
		)
		nc, _, hs, err = d.Dial(context.Background(), proto+"://"+addr)
		if err == nil && hs.Protocol != "sip" {
			nc.Close()
			err = fmt.Errorf("websocket subprotocol %q, want sip", hs.Protocol)
		}
		if err == nil {
			c = &wsPeer{c: nc}
		}
	default:
		t.Fatalf("dialSIP: unknown proto %q", proto)
	}
	if err != nil {
		t.Fatalf("dial %s %s: %v", proto, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type udpPeer struct {
	c     *net.UDPConn
	raddr *net.UDPAddr
}

func (u *udpPeer) Send(raw []byte) error { _, err := u.c.WriteToUDP(raw, u.raddr); return err }
func (u *udpPeer) LocalPort() int        { return u.c.LocalAddr().(*net.UDPAddr).Port }
func (u *udpPeer) Close() error          { return u.c.Close() }

func (u *udpPeer) Recv(timeout time.Duration) (sip.Message, error) {
	buf := make([]byte, 65535)
	_ = u.c.SetReadDeadline(time.Now().Add(timeout))
	n, _, err := u.c.ReadFromUDP(buf)
	if err != nil {
		return nil, err
	}
	return sip.NewParser().ParseSIP(buf[:n])
}

type streamPeer struct {
	c net.Conn
	r *bufio.Reader
}

func newStreamPeer(c net.Conn) *streamPeer { return &streamPeer{c: c, r: bufio.NewReader(c)} }

func (s *streamPeer) Send(raw []byte) error { _, err := s.c.Write(raw); return err }
func (s *streamPeer) LocalPort() int        { return s.c.LocalAddr().(*net.TCPAddr).Port }
func (s *streamPeer) Close() error          { return s.c.Close() }

// Recv reads a header block up to the empty line, then Content-Length
// bytes of body. Keep-alive CRLFs before a message are skipped.
func (s *streamPeer) Recv(timeout time.Duration) (sip.Message, error) {
	_ = s.c.SetReadDeadline(time.Now().Add(timeout))
	var head bytes.Buffer
	clen := 0
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if line == "\r\n" || line == "\n" {
			if head.Len() == 0 {
				continue
			}
			head.WriteString("\r\n")
			break
		}
		head.WriteString(line)
		name, val, ok := strings.Cut(line, ":")
		if ok && (strings.EqualFold(strings.TrimSpace(name), "Content-Length") || strings.TrimSpace(name) == "l") {
			clen, _ = strconv.Atoi(strings.TrimSpace(val))
		}
	}
	body := make([]byte, clen)
	if _, err := io.ReadFull(s.r, body); err != nil {
		return nil, err
	}
	return sip.NewParser().ParseSIP(append(head.Bytes(), body...))
}

type wsPeer struct{ c net.Conn }

func (w *wsPeer) Send(raw []byte) error { return wsutil.WriteClientText(w.c, raw) }
func (w *wsPeer) LocalPort() int        { return w.c.LocalAddr().(*net.TCPAddr).Port }
func (w *wsPeer) Close() error          { return w.c.Close() }

func (w *wsPeer) Recv(timeout time.Duration) (sip.Message, error) {
	_ = w.c.SetReadDeadline(time.Now().Add(timeout))
	for {
		data, op, err := wsutil.ReadServerData(w.c)
		if err != nil {
			return nil, err
		}
		if op == ws.OpText || op == ws.OpBinary {
			return sip.NewParser().ParseSIP(data)
		}
	}
}

// exchange sends raw and returns the final response carrying callID,
// skipping provisional responses and stale ones; nil if none arrived
// within timeout.
func exchange(t testing.TB, c sipConn, raw, callID string, timeout time.Duration) *sip.Response {
	t.Helper()
	res, err := tryExchange(c, raw, callID, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// tryExchange is exchange for goroutines other than the test's: it
// returns errors instead of failing the test.
func tryExchange(c sipConn, raw, callID string, timeout time.Duration) (*sip.Response, error) {
	if err := c.Send([]byte(raw)); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		msg, err := c.Recv(left)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("receive: %w", err)
		}
		res, ok := msg.(*sip.Response)
		if !ok {
			return nil, fmt.Errorf("received a request, want a response:\n%s", msg)
		}
		if res.IsProvisional() {
			continue
		}
		if cid := res.CallID(); cid != nil && cid.Value() == callID {
			return res, nil
		}
	}
}

// mustReply is exchange that fails the test when no final response came.
func mustReply(t testing.TB, c sipConn, raw, callID string) *sip.Response {
	t.Helper()
	res := exchange(t, c, raw, callID, 5*time.Second)
	if res == nil {
		t.Fatalf("no final response within 5s to:\n%s", raw)
	}
	return res
}

// selfSignedCert writes an ECDSA P-256 certificate for 127.0.0.1 and its
// key into dir, and returns their paths and a pool that trusts it.
func selfSignedCert(t testing.TB, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "locus test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}
