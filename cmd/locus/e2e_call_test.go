package main

// Calls through locus running the shipped default script: a sipp callee
// registers with digest credentials, a sipp caller calls it, and every
// INVITE/100/180/200/ACK/BYE completes through locus. A callee behind NAT
// over TCP is reached over the connection it registered on.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

const e2eCalls = 200

// sippUAS runs the callee scenario on 127.0.0.1:port until calls calls
// ended; wait returns its statistics.
type sippUAS struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	stat string
	done chan error
}

func startSippUAS(t *testing.T, port, calls int, transport string) *sippUAS {
	t.Helper()
	sippBin := e2eRequire(t, "sipp", "sip-tester")
	scenario, err := filepath.Abs(filepath.Join("testdata", "e2e_call_uas.xml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	u := &sippUAS{stat: filepath.Join(dir, "stat.csv"), done: make(chan error, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	u.cmd = exec.CommandContext(ctx, sippBin, "-sf", scenario, "-t", transport,
		"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(calls),
		"-nostdin", "-trace_stat", "-stf", u.stat, "-fd", "1", "-timeout", "80s", "-timeout_error")
	u.cmd.Dir = dir
	u.cmd.Stdout, u.cmd.Stderr = &u.out, &u.out
	if err := u.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { u.done <- u.cmd.Wait(); cancel() }()
	t.Cleanup(func() {
		if u.cmd.ProcessState == nil {
			_ = u.cmd.Process.Kill()
		}
	})
	return u
}

func (u *sippUAS) wait(t *testing.T, calls int) {
	t.Helper()
	select {
	case err := <-u.done:
		if err != nil {
			t.Errorf("sipp callee: %v; output:\n%s", err, tail(u.out.String(), 3000))
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("sipp callee did not finish; output:\n%s", tail(u.out.String(), 3000))
	}
	last := lastStatRow(t, u.stat)
	if v := last["SuccessfulCall(C)"]; v != calls {
		t.Errorf("sipp callee: SuccessfulCall(C) = %d, want %d", v, calls)
	}
	if v := last["FailedCall(C)"]; v != 0 {
		t.Errorf("sipp callee: FailedCall(C) = %d, want 0", v)
	}
}

func TestE2ECallSipp(t *testing.T) {
	e2eRequire(t, "sipp", "sip-tester")
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users.htdigest")
	e2eUsersAdd(t, usersFile, e2eDomain, "bob", "bobs-secret")
	p := e2eAuthLocus(t, usersFile)

	uasPort := e2eFreePort(t)
	uas := startSippUAS(t, uasPort, e2eCalls, "u1")
	reg := filepath.Join(dir, "register.csv")
	e2eWriteInjection(t, reg, []e2eUser{{Name: "bob", Password: "bobs-secret", ContactHost: "127.0.0.1:" + strconv.Itoa(uasPort)}}, false)
	runE2ESipp(t, e2eSippRun{Scenario: "e2e_register_auth.xml", Target: p.Addrs["udp"], Transport: "u1", Inject: reg, Rate: 10, Calls: 1, Locus: p})

	calls := filepath.Join(dir, "calls.csv")
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for range e2eCalls {
		b.WriteString("bob\n")
	}
	if err := os.WriteFile(calls, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	took := runE2ESipp(t, e2eSippRun{Scenario: "e2e_call_uac.xml", Target: p.Addrs["udp"], Transport: "u1", Inject: calls, Rate: 50, Calls: e2eCalls, Locus: p})
	uas.wait(t, e2eCalls)
	t.Logf("%d calls through locus in %v", e2eCalls, took.Round(time.Millisecond))
	if n := p.Log.Count("script error"); n != 0 {
		t.Errorf("%d script errors:\n%s", n, p.Log.Grep("script error"))
	}
}

// A callee behind NAT registers over TCP with a Contact that names a port
// it does not listen on; sipp calls it over UDP. locus delivers the INVITE
// over the callee's own connection. Once the connection is closed, the
// caller gets 480.
func TestE2ECallTCPFlow(t *testing.T) {
	e2eRequire(t, "sipp", "sip-tester")
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users.htdigest")
	e2eUsersAdd(t, usersFile, e2eDomain, "carol", "carols-secret")
	p := e2eAuthLocus(t, usersFile)

	conn, err := net.Dial("tcp", p.Addrs["tcp"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := newStreamPeer(conn)
	contact := "sip:carol@192.0.2.44:5060;transport=tcp" // what the phone believes its address is
	first := e2eSend(t, c, e2eReq{User: "carol", Contacts: []string{contact}, Expires: 600, Port: c.LocalPort()})
	res := e2eAuthRegister(t, c, e2eReq{User: "carol", Contacts: []string{contact}, Expires: 600, Port: c.LocalPort()}, "carol", "carols-secret")
	if first.StatusCode != 401 || res.StatusCode != 200 {
		t.Fatalf("TCP registration: %d then %d, want 401 then 200", first.StatusCode, res.StatusCode)
	}

	// The callee answers what arrives on its connection.
	answered := make(chan int, 1)
	go func() {
		n := 0
		r := bufio.NewReader(conn)
		parser := sip.NewParser()
		for {
			raw, err := readSIP(r)
			if err != nil {
				answered <- n
				return
			}
			msg, err := parser.ParseSIP(raw)
			req, ok := msg.(*sip.Request)
			if err != nil || !ok {
				continue
			}
			switch req.Method {
			case sip.INVITE:
				n++
				_, _ = conn.Write([]byte(answer(req, 200, conn.LocalAddr().String())))
			case sip.BYE:
				_, _ = conn.Write([]byte(answer(req, 200, conn.LocalAddr().String())))
			}
		}
	}()
	calls := filepath.Join(dir, "calls.csv")
	if err := os.WriteFile(calls, []byte("SEQUENTIAL\ncarol\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runE2ESipp(t, e2eSippRun{Scenario: "e2e_call_uac.xml", Target: p.Addrs["udp"], Transport: "u1", Inject: calls, Rate: 5, Calls: 5, Locus: p})
	conn.Close()
	if n := <-answered; n != 5 {
		t.Errorf("the callee answered %d INVITEs on its connection, want 5", n)
	}
	u := dialSIP(t, "udp", p.Addrs["udp"], nil)
	callID := fmt.Sprintf("gone-%d", nextID())
	raw := fmt.Sprintf("INVITE sip:carol@%s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:carol@%s>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
		e2eDomain, u.LocalPort(), callID, e2eDomain, callID)
	// locus learns that the connection closed when its reader sees the
	// FIN; a request sent before that is written into the dying socket.
	time.Sleep(300 * time.Millisecond)
	if res := mustReply(t, u, raw, callID); res.StatusCode != 480 {
		t.Errorf("INVITE after the callee's connection closed: %d %s, want 480", res.StatusCode, res.Reason)
	}
}

// readSIP reads one message from a stream, framed by Content-Length.
func readSIP(r *bufio.Reader) ([]byte, error) {
	var head bytes.Buffer
	clen := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if head.Len() == 0 && strings.TrimSpace(line) == "" {
			continue
		}
		head.WriteString(line)
		if strings.TrimSpace(line) == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
			clen, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, clen)
	if _, err := r.Read(body); clen > 0 && err != nil {
		return nil, err
	}
	return append(head.Bytes(), body...), nil
}

// answer is a callee's response to req, with a To tag, the Record-Route
// copied and a Contact at the callee's side of its connection (as
// nathelper's fix_nated_contact would make it).
func answer(req *sip.Request, code int, local string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d OK\r\n", code)
	for _, h := range req.GetHeaders("Via") {
		b.WriteString("Via: " + h.Value() + "\r\n")
	}
	for _, h := range req.GetHeaders("Record-Route") {
		b.WriteString("Record-Route: " + h.Value() + "\r\n")
	}
	b.WriteString("From: " + req.From().Value() + "\r\n")
	to := req.To().Value()
	if !strings.Contains(to, "tag=") {
		to += ";tag=callee"
	}
	b.WriteString("To: " + to + "\r\n")
	b.WriteString("Call-ID: " + req.CallID().Value() + "\r\n")
	b.WriteString("CSeq: " + req.CSeq().Value() + "\r\n")
	b.WriteString("Contact: <sip:carol@" + local + ";transport=tcp>\r\nContent-Length: 0\r\n\r\n")
	return b.String()
}
