package floodban_test

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/internal/locustest"
)

func TestMain(m *testing.M) { locustest.Main(m) }

const (
	user     = "100"
	realm    = "127.0.0.1" // svcrack's To domain is the target address
	password = "s3cret-guess"
)

// TestFloodBan runs Debian's svcrack with a dictionary that holds the
// right password against user 100, while the user's own phone, at another
// address, keeps registering. The guesser must be cut off after a few
// answers and find nothing; the phone must never notice. Then a flood
// from a third address is cut off by pike.
func TestFloodBan(t *testing.T) {
	svcrack, err := exec.LookPath("svcrack")
	if err != nil {
		t.Fatal("svcrack not found: install Debian's sipvicious package (make deps does)")
	}
	script, _ := filepath.Abs("route.lua")
	config, _ := filepath.Abs("locus.yaml")
	p := locustest.Start(t, "--config", config, "--script", script,
		"--listen", "udp:127.0.0.1:0", "--store", "memory:", "--admin", "127.0.0.1:0")
	sipAddr := p.Addrs["udp"]
	admin := p.Log.WaitCount(t, "admin listening", 1, 5*time.Second)[0]["addr"].(string)

	ha1 := md5hex(user + ":" + realm + ":" + password)
	locustest.ReplaceFile(t, filepath.Join(p.Cmd.Dir, "users.htdigest"), user+":"+realm+":"+ha1+"\n")
	p.Log.WaitCount(t, "auth_db: credentials reloaded", 1, 5*time.Second)

	// The dictionary: 39 wrong guesses, then the right password.
	dict := filepath.Join(t.TempDir(), "dictionary.txt")
	var words []string
	for i := 1; i < 40; i++ {
		words = append(words, fmt.Sprintf("guess%02d", i))
	}
	locustest.WriteFile(t, dict, strings.Join(append(words, password), "\n")+"\n")

	before := registerCounts(t, admin)

	// The phone at 127.0.0.2 registers every 300 ms until svcrack is done.
	phone := dialFrom(t, "127.0.0.2", sipAddr)
	stop := make(chan struct{})
	var phoneOK, phoneReplies int
	var phoneErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for cseq := 1; ; cseq += 2 {
			n, err := phone.register(cseq)
			phoneReplies += n
			if err != nil {
				phoneErr = err
				return
			}
			phoneOK++
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	// svcrack sends a REGISTER without credentials whenever it has no
	// challenge to answer and nothing arrived for its select timeout (5 ms
	// by default): on a loaded machine a late 401 then costs an extra
	// answered REGISTER, which the policy rightly does not count as a
	// failure. Half a second leaves only the guesses to count.
	cmd := exec.CommandContext(ctx, svcrack, "-u", user, "-d", dict, "--maximumtime", "2", "-t", "0.5",
		"-b", "127.0.0.1", "udp://"+sipAddr)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // svcrack keeps its sessions in ~/.sipvicious
	out, err := cmd.CombinedOutput()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("svcrack: %v\n%s", err, out)
	}
	t.Logf("svcrack:\n%s", out)

	if strings.Contains(string(out), password) || !strings.Contains(string(out), "found nothing") {
		t.Fatalf("svcrack was not stopped: it reports\n%s", out)
	}
	p.Log.WaitCount(t, "flood-ban: banning 127.0.0.1 for password guessing", 1, time.Second)

	after := registerCounts(t, admin)
	answered := after.answered - before.answered - phoneReplies
	dropped := after.dropped - before.dropped
	t.Logf("svcrack: %d REGISTERs answered, %d dropped; phone: %d registrations", answered, dropped, phoneOK)
	// The first REGISTER (no credentials), then four wrong passwords; the
	// fifth bans.
	if answered > 5 {
		t.Errorf("svcrack got %d answers, want at most 5", answered)
	}
	if dropped < 1 {
		t.Errorf("no REGISTER from svcrack was dropped")
	}
	if phoneErr != nil {
		t.Errorf("the phone's registration %d failed: %v", phoneOK+1, phoneErr)
	}
	if phoneOK < 3 {
		t.Errorf("the phone registered %d times during the attack, want at least 3", phoneOK)
	}

	t.Run("flood", func(t *testing.T) {
		// 100 REGISTERs at once from 127.0.0.3: pike allows 30 per 2 s.
		flood := dialFrom(t, "127.0.0.3", sipAddr)
		for i := range 100 {
			flood.send(flood.request(fmt.Sprintf("flood-%d", i), 1, ""))
		}
		replies := 0
		for {
			if _, err := flood.recv(500 * time.Millisecond); err != nil {
				break
			}
			replies++
		}
		if replies == 0 || replies > 30 {
			t.Errorf("flood: %d of 100 REGISTERs answered, want 1 to 30", replies)
		}
		p.Log.WaitCount(t, "flood-ban: banning 127.0.0.3 for flooding", 1, time.Second)
		// The phone is still welcome.
		if _, err := phone.register(1001); err != nil {
			t.Errorf("the phone after the flood: %v", err)
		}
	})
}

type counts struct{ answered, dropped int }

var requestsLine = regexp.MustCompile(`^locus_core_requests_total\{code="(\d+)",method="REGISTER"\} (\d+)`)

// registerCounts reads locus's REGISTERs by reply code from /metrics:
// code 0 means no reply (dropped).
func registerCounts(t *testing.T, admin string) counts {
	t.Helper()
	res, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var c counts
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		m := requestsLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		if m[1] == "0" {
			c.dropped += n
		} else {
			c.answered += n
		}
	}
	return c
}

// peer is a raw SIP phone on a UDP socket bound to a loopback address.
type peer struct {
	t     *testing.T
	conn  *net.UDPConn
	raddr *net.UDPAddr
}

func dialFrom(t *testing.T, ip, addr string) *peer {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &peer{t: t, conn: conn, raddr: raddr}
}

func (p *peer) send(raw string) { _, _ = p.conn.WriteToUDP([]byte(raw), p.raddr) }

func (p *peer) recv(timeout time.Duration) (*sip.Response, error) {
	buf := make([]byte, 65535)
	_ = p.conn.SetReadDeadline(time.Now().Add(timeout))
	n, _, err := p.conn.ReadFromUDP(buf)
	if err != nil {
		return nil, err
	}
	msg, err := sip.NewParser().ParseSIP(buf[:n])
	if err != nil {
		return nil, err
	}
	res, ok := msg.(*sip.Response)
	if !ok {
		return nil, errors.New("not a response")
	}
	return res, nil
}

func (p *peer) request(callID string, cseq int, auth string) string {
	local := p.conn.LocalAddr().String()
	var b strings.Builder
	fmt.Fprintf(&b, "REGISTER sip:%s SIP/2.0\r\n", realm)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;rport;branch=z9hG4bK-fb-%s-%d\r\n", local, callID, cseq)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=fb%d\r\nTo: <sip:%s@%s>\r\n", user, realm, cseq, user, realm)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d REGISTER\r\n", callID, cseq)
	fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\nExpires: 600\r\n", user, local)
	if auth != "" {
		b.WriteString("Authorization: " + auth + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

// register registers once with digest authentication (401, then the
// credentials) and returns the number of replies it read.
func (p *peer) register(cseq int) (int, error) {
	const callID = "phone-100"
	p.send(p.request(callID, cseq, ""))
	res, err := p.recv(2 * time.Second)
	if err != nil {
		return 0, fmt.Errorf("REGISTER without credentials: %w", err)
	}
	if res.StatusCode != 401 {
		return 1, fmt.Errorf("REGISTER without credentials: %d %s, want 401", res.StatusCode, res.Reason)
	}
	ch := res.GetHeader("WWW-Authenticate")
	if ch == nil {
		return 1, errors.New("401 without WWW-Authenticate")
	}
	p.send(p.request(callID, cseq+1, digest(ch.Value(), "REGISTER", "sip:"+realm)))
	if res, err = p.recv(2 * time.Second); err != nil {
		return 1, fmt.Errorf("REGISTER with credentials: %w", err)
	}
	if res.StatusCode != 200 {
		return 2, fmt.Errorf("REGISTER with credentials: %d %s, want 200", res.StatusCode, res.Reason)
	}
	return 2, nil
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

var challengeParam = regexp.MustCompile(`(\w+)="?([^",]*)"?`)

// digest answers an MD5 challenge with qop=auth (RFC 7616 §3.4).
func digest(challenge, method, uri string) string {
	p := map[string]string{}
	for _, m := range challengeParam.FindAllStringSubmatch(strings.TrimPrefix(challenge, "Digest "), -1) {
		p[m[1]] = m[2]
	}
	ha1 := md5hex(user + ":" + p["realm"] + ":" + password)
	const nc, cnonce = "00000001", "7c1d9e02"
	resp := md5hex(ha1 + ":" + p["nonce"] + ":" + nc + ":" + cnonce + ":auth:" + md5hex(method+":"+uri))
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, qop=auth, nc=%s, cnonce="%s"`,
		user, p["realm"], p["nonce"], uri, resp, nc, cnonce)
}
