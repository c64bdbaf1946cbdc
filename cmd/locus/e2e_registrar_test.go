package main

// End-to-end tests of the registrar with real SIP peers: sipp registers
// 10,000 users against the real binary, and a raw UDP client then
// queries, looks up, unregisters and re-registers a sample of them.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// e2eDomain is the SIP domain (and digest realm) of the end-to-end tests:
// the server's own address, as a phone configured with an IP would use.
const e2eDomain = "127.0.0.1"

// e2eNoAuthScript saves every REGISTER without authentication and
// redirects other requests to the registered contact.
const e2eNoAuthScript = `
function ksr_request_route()
	if KSR.is_ACK() then KSR.x.exit() end
	if KSR.is_REGISTER() then
		KSR.registrar.save("location", 0)
		KSR.x.exit()
	end
	if KSR.registrar.lookup("location") < 0 then
		KSR.sl.send_reply(404, "Not Found")
		KSR.x.exit()
	end
	KSR.hdr.append_to_reply("Contact: <" .. KSR.pv.get("$ru") .. ">\r\n")
	KSR.sl.send_reply(302, "Moved Temporarily")
end
`

// Load shape of the registrar test: 10,000 users at 1,000 REGISTER/s.
const (
	e2eRegUsers = 10000
	e2eRegRate  = 1000
)

// e2eRequire fails the test when a peer program is missing: the Makefile
// installs it, and a skipped end-to-end test would hide a regression.
func e2eRequire(t *testing.T, prog, debPkg string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		t.Fatalf("%s is required (Debian package %s): %v", prog, debPkg, err)
	}
	return p
}

// e2eUser is one injection file line: a user, its password and the
// host:port of its contact.
type e2eUser struct {
	Name, Password, ContactHost string
}

// Contact is the user's contact URI as the sipp scenarios write it (the
// auth scenarios add ;transport=).
func (u e2eUser) Contact() string { return "sip:" + u.Name + "@" + u.ContactHost }

// e2eWriteInjection writes users as a SEQUENTIAL sipp injection file:
// field0 user, field1 password, field2 contact host:port. With noPassword
// field1 is the contact (the scenario without authentication).
func e2eWriteInjection(t *testing.T, path string, users []e2eUser, noPassword bool) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("SEQUENTIAL\n")
	for _, u := range users {
		if noPassword {
			fmt.Fprintf(&b, "%s;%s\n", u.Name, u.ContactHost)
		} else {
			fmt.Fprintf(&b, "%s;%s;%s\n", u.Name, u.Password, u.ContactHost)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// e2eSippRun is one bounded sipp client run.
type e2eSippRun struct {
	Scenario  string // file name under testdata
	Target    string // the server's ip:port
	Transport string // sipp -t: u1 or t1
	Inject    string // injection file
	Rate      int    // calls per second
	Calls     int    // -m
	Locus     *locusProc
}

// runE2ESipp runs sipp to completion (killed after 60 s) and requires exit
// status 0 and exactly Calls successful calls with no failure of any
// kind. It returns the run's duration.
func runE2ESipp(t *testing.T, r e2eSippRun) time.Duration {
	t.Helper()
	sippBin := e2eRequire(t, "sipp", "sip-tester")
	scenario, err := filepath.Abs(filepath.Join("testdata", r.Scenario))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	stat := filepath.Join(dir, "stat.csv")
	errFile := filepath.Join(dir, "errors.log")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sippBin, r.Target,
		"-sf", scenario, "-inf", r.Inject, "-t", r.Transport,
		"-i", "127.0.0.1", "-p", strconv.Itoa(e2eFreePort(t)),
		"-r", strconv.Itoa(r.Rate), "-m", strconv.Itoa(r.Calls),
		"-max_retrans", "3", "-recv_timeout", "5000",
		"-timeout", "40s", "-timeout_error",
		"-nostdin", "-trace_stat", "-stf", stat, "-fd", "1",
		"-trace_err", "-error_file", errFile)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("sipp %s did not finish within 60s; output:\n%s", r.Scenario, tail(out.String(), 3000))
	}
	errLog, _ := os.ReadFile(errFile)
	if err != nil {
		t.Errorf("sipp %s -t %s: %v, want exit status 0 (every call succeeded); errors:\n%s\noutput:\n%s\nlocus warnings and errors:\n%s",
			r.Scenario, r.Transport, err, e2eHeadTail(string(errLog), 3000), tail(out.String(), 3000),
			tail(r.Locus.Log.Grep(`"level":"WARN"`)+"\n"+r.Locus.Log.Grep(`"level":"ERROR"`), 3000))
	}
	last := lastStatRow(t, stat)
	if v := last["SuccessfulCall(C)"]; v != r.Calls {
		t.Errorf("sipp %s -t %s: SuccessfulCall(C) = %d, want %d", r.Scenario, r.Transport, v, r.Calls)
	}
	for _, k := range []string{"FailedCall(C)", "FailedTimeoutOnRecv(C)", "FailedMaxUDPRetrans(C)",
		"FailedUnexpectedMessage(C)", "FailedRegexpDoesntMatch(C)", "FailedCannotSendMessage(C)"} {
		if v := last[k]; v != 0 {
			t.Errorf("sipp %s -t %s: %s = %d, want 0", r.Scenario, r.Transport, k, v)
		}
	}
	t.Logf("sipp %s -t %s: %d calls ok, %d retransmissions, %v",
		r.Scenario, r.Transport, last["SuccessfulCall(C)"], last["Retransmissions(C)"], took.Round(time.Millisecond))
	return took
}

// e2eReq is a raw request from a peer on 127.0.0.1 to the e2eDomain.
type e2eReq struct {
	Method   string // default REGISTER
	User     string // To user (the AoR), and the Request-URI user of other methods
	Contacts []string
	Expires  int // Expires header; -1 for none
	CSeq     int
	CallID   string // default: a fresh one
	Extra    string // more header lines, each ending in \r\n
	Port     int    // the peer's port, for Via and its own Contact
}

// String renders the request with a fresh branch, and returns
// it with its Call-ID. The Via asks for rport, so the reply comes back to
// the peer's socket whatever the Via says.
func (r e2eReq) String() (raw, callID string) {
	id := nextID()
	if r.Method == "" {
		r.Method = "REGISTER"
	}
	if r.CSeq == 0 {
		r.CSeq = 1
	}
	callID = r.CallID
	if callID == "" {
		callID = fmt.Sprintf("e2e-%d-%d@127.0.0.1", os.Getpid(), id)
	}
	ruri := "sip:" + e2eDomain
	from := r.User
	if r.Method != "REGISTER" {
		ruri = "sip:" + r.User + "@" + e2eDomain
		from = "e2e-caller"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", r.Method, ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-e2e-%d-%d;rport\r\n", r.Port, os.Getpid(), id)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=e2e%d\r\n", from, e2eDomain, id)
	fmt.Fprintf(&b, "To: <sip:%s@%s>\r\n", r.User, e2eDomain)
	fmt.Fprintf(&b, "Call-ID: %s\r\n", callID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", r.CSeq, r.Method)
	if r.Method == "REGISTER" {
		for _, c := range r.Contacts {
			if c == "*" {
				b.WriteString("Contact: *\r\n")
			} else {
				fmt.Fprintf(&b, "Contact: <%s>\r\n", c)
			}
		}
	} else {
		fmt.Fprintf(&b, "Contact: <sip:e2e-caller@127.0.0.1:%d>\r\n", r.Port)
	}
	if r.Expires >= 0 {
		fmt.Fprintf(&b, "Expires: %d\r\n", r.Expires)
	}
	b.WriteString(r.Extra)
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String(), callID
}

// e2eSend sends r from c and returns the final response (5 s at most).
func e2eSend(t *testing.T, c sipConn, r e2eReq) *sip.Response {
	t.Helper()
	r.Port = c.LocalPort()
	raw, callID := r.String()
	res := mustReply(t, c, raw, callID)
	if r.Method == "INVITE" && res.StatusCode >= 300 {
		// Acknowledge the final response as a UAC must (RFC 3261 §17.1.1.3).
		e2eAck(t, c, raw, res)
	}
	return res
}

// e2eAck sends the ACK of a non-2xx final response to the INVITE raw.
func e2eAck(t *testing.T, c sipConn, raw string, res *sip.Response) {
	t.Helper()
	inv := mustParse(t, raw)
	var b strings.Builder
	fmt.Fprintf(&b, "ACK %s SIP/2.0\r\n", inv.Recipient.String())
	fmt.Fprintf(&b, "Via: %s\r\n", inv.Via().Value())
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: %s\r\n", inv.From().Value())
	fmt.Fprintf(&b, "To: %s\r\n", res.To().Value())
	fmt.Fprintf(&b, "Call-ID: %s\r\n", inv.CallID().Value())
	fmt.Fprintf(&b, "CSeq: %d ACK\r\nContent-Length: 0\r\n\r\n", inv.CSeq().SeqNo)
	if err := c.Send([]byte(b.String())); err != nil {
		t.Fatalf("send ACK: %v", err)
	}
}

// e2eBinding is one contact listed by a reply.
type e2eBinding struct {
	URI     string
	Expires int // -1 without an expires parameter
}

// e2eContacts returns the contacts of res's Contact headers, in order,
// splitting comma-separated lists.
func e2eContacts(t *testing.T, res *sip.Response) []e2eBinding {
	t.Helper()
	var out []e2eBinding
	for _, h := range res.GetHeaders("Contact") {
		for _, v := range e2eSplitList(h.Value()) {
			v = strings.TrimSpace(v)
			lt, gt := strings.IndexByte(v, '<'), strings.IndexByte(v, '>')
			if lt < 0 || gt < lt {
				t.Fatalf("Contact %q is not in name-addr form; reply:\n%s", v, res)
			}
			b := e2eBinding{URI: v[lt+1 : gt], Expires: -1}
			for _, p := range strings.Split(v[gt+1:], ";") {
				name, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(name, "expires") {
					n, err := strconv.Atoi(val)
					if err != nil {
						t.Fatalf("Contact %q: expires %q is not a number", v, val)
					}
					b.Expires = n
				}
			}
			out = append(out, b)
		}
	}
	return out
}

// e2eSplitList splits a header value at commas outside <> and quotes.
func e2eSplitList(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			depth--
		case c == ',' && depth == 0:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

// e2eWantBindings requires res to be a 200 listing exactly the contacts
// want (in any order), each with an expires parameter in [lo, hi] (the
// range of the corresponding entry), and a Date close to now.
func e2eWantBindings(t *testing.T, what string, res *sip.Response, want []string, lo, hi []int) {
	t.Helper()
	if res.StatusCode != 200 {
		t.Errorf("%s: %d %s, want 200; reply:\n%s", what, res.StatusCode, res.Reason, res)
		return
	}
	got := e2eContacts(t, res)
	var gotURIs []string
	for _, b := range got {
		gotURIs = append(gotURIs, b.URI)
	}
	if len(got) != len(want) {
		t.Errorf("%s: 200 lists contacts %q, want exactly %q", what, gotURIs, want)
		return
	}
	for i, w := range want {
		j := slices.Index(gotURIs, w)
		if j < 0 {
			t.Errorf("%s: 200 lists contacts %q, want exactly %q", what, gotURIs, want)
			return
		}
		if e := got[j].Expires; e < lo[i] || e > hi[i] {
			t.Errorf("%s: contact %s expires=%d, want %d..%d", what, w, e, lo[i], hi[i])
		}
	}
	date := res.GetHeader("Date")
	if date == nil {
		t.Errorf("%s: 200 has no Date header; reply:\n%s", what, res)
		return
	}
	d, err := http.ParseTime(date.Value())
	if err != nil || !strings.HasSuffix(date.Value(), " GMT") {
		t.Errorf("%s: Date %q is not an RFC 1123 GMT date (%v)", what, date.Value(), err)
	} else if off := time.Since(d); off < -2*time.Second || off > 2*time.Second {
		t.Errorf("%s: Date %q is %v from now", what, date.Value(), off)
	}
}

// e2eWantRedirect requires res to be a 302 to exactly contact.
func e2eWantRedirect(t *testing.T, what string, res *sip.Response, contact string) {
	t.Helper()
	if res.StatusCode != 302 {
		t.Errorf("%s: %d %s, want 302 to %s; reply:\n%s", what, res.StatusCode, res.Reason, contact, res)
		return
	}
	got := e2eContacts(t, res)
	if len(got) != 1 || got[0].URI != contact {
		t.Errorf("%s: 302 Contact %v, want exactly <%s>", what, got, contact)
	}
}

// e2eLocus starts locus on UDP (and TCP) 127.0.0.1 ephemeral ports with
// the script file and extra module configuration (YAML under modules:).
//
// The route timeout is 1 s instead of 100 ms: it also bounds the wait for
// a free Lua state, after which locus answers 503, and a -race server
// sharing two cores with other test packages (go test ./... runs them in
// parallel) can stall that long; that is overload, which these tests do
// not measure.
func e2eLocus(t *testing.T, script, modules string) *locusProc {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "locus.yaml")
	writeFile(t, cfg, fmt.Sprintf(`listen: [udp:127.0.0.1:0, tcp:127.0.0.1:0]
script:
  file: %q
  timeout: 1s
modules:
  registrar:
    domains: [%q]
%s`, script, e2eDomain, modules))
	p := startLocus(t, "--config", cfg)
	for _, proto := range []string{"udp", "tcp"} {
		if _, ok := p.Addrs[proto]; !ok {
			t.Fatalf("no %s listener logged; addrs %v", proto, p.Addrs)
		}
	}
	return p
}

// TestE2ERegistrarSipp registers 10,000 users with sipp (one distinct
// contact each) against a script that saves without authentication, then
// checks a sample with a raw UDP peer: queries list exactly the
// registered contact with its remaining expiry and a Date; lookups by
// OPTIONS, INVITE and MESSAGE redirect to it; unregistered users
// (Expires: 0, and Contact: *) list nothing and are not found while their
// neighbours still are; a second contact is listed beside the first and
// is the one a lookup picks.
func TestE2ERegistrarSipp(t *testing.T) {
	e2eRequire(t, "sipp", "sip-tester")
	dir := t.TempDir()
	p := e2eLocus(t, newScript(t, e2eNoAuthScript), "")

	users := make([]e2eUser, e2eRegUsers)
	for i := range users {
		users[i] = e2eUser{
			Name:        fmt.Sprintf("e2eu%05d", i),
			ContactHost: fmt.Sprintf("10.%d.%d.%d:%d", i>>16, (i>>8)&0xff, i&0xff, 20000+i),
		}
	}
	inject := filepath.Join(dir, "users.csv")
	e2eWriteInjection(t, inject, users, true)

	loadStart := time.Now()
	took := runE2ESipp(t, e2eSippRun{
		Scenario: "e2e_register.xml", Target: p.Addrs["udp"], Transport: "u1",
		Inject: inject, Rate: e2eRegRate, Calls: e2eRegUsers, Locus: p,
	})
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d registrations in %v (%.0f/s)", e2eRegUsers, took.Round(time.Millisecond), e2eRegUsers/took.Seconds())

	c := dialSIP(t, "udp", p.Addrs["udp"], nil)
	// Every binding was stored with 3600 s at some point of the load; the
	// remaining expiry is no more than that, and has lost at most the
	// seconds since the load began, counted once the reply is in.
	remaining := func(from time.Time, full int) (int, int) {
		return full - int(time.Since(from).Seconds()) - 1, full
	}
	var sample []int
	for i := 0; i < e2eRegUsers; i += 487 {
		sample = append(sample, i)
	}
	sample = append(sample, e2eRegUsers-1)
	methods := []string{"OPTIONS", "INVITE", "MESSAGE"}

	for k, i := range sample {
		u := users[i]
		res := e2eSend(t, c, e2eReq{User: u.Name, Expires: -1})
		lo, hi := remaining(loadStart, 3600) // after the reply: a loaded host may answer late
		e2eWantBindings(t, "query "+u.Name, res, []string{u.Contact()}, []int{lo}, []int{hi})
		m := methods[k%len(methods)]
		e2eWantRedirect(t, m+" to "+u.Name, e2eSend(t, c, e2eReq{Method: m, User: u.Name}), u.Contact())
	}
	res := e2eSend(t, c, e2eReq{Method: "OPTIONS", User: "e2e-nobody"})
	if res.StatusCode != 404 {
		t.Errorf("OPTIONS to a user never registered: %d %s, want 404", res.StatusCode, res.Reason)
	}

	// Unregister every other sampled user: by its contact with Expires: 0,
	// or all its bindings with Contact: *.
	gone := map[int]bool{}
	for k, i := range sample {
		if k%2 == 1 {
			continue
		}
		gone[i] = true
		u := users[i]
		r := e2eReq{User: u.Name, Contacts: []string{u.Contact()}, Expires: 0}
		if k%4 == 2 {
			r.Contacts = []string{"*"}
		}
		res := e2eSend(t, c, r)
		e2eWantBindings(t, "unregister "+u.Name, res, nil, nil, nil)
	}
	for k, i := range sample {
		u := users[i]
		res := e2eSend(t, c, e2eReq{User: u.Name, Expires: -1})
		m := methods[k%len(methods)]
		look := e2eSend(t, c, e2eReq{Method: m, User: u.Name})
		if gone[i] {
			e2eWantBindings(t, "query after unregister "+u.Name, res, nil, nil, nil)
			if look.StatusCode != 404 {
				t.Errorf("%s to unregistered %s: %d %s, want 404; reply:\n%s", m, u.Name, look.StatusCode, look.Reason, look)
			}
			continue
		}
		lo, hi := remaining(loadStart, 3600)
		e2eWantBindings(t, "query of a neighbour "+u.Name, res, []string{u.Contact()}, []int{lo}, []int{hi})
		e2eWantRedirect(t, m+" to a neighbour "+u.Name, look, u.Contact())
	}

	// A second contact (another device, another Call-ID) is listed beside
	// the first, and being the most recent it is the one a lookup picks.
	for _, i := range sample {
		if gone[i] {
			continue
		}
		u := users[i]
		second := fmt.Sprintf("sip:%s@192.0.2.%d:5070;transport=udp", u.Name, i%250+1)
		secondAt := time.Now()
		res := e2eSend(t, c, e2eReq{User: u.Name, Contacts: []string{second}, Expires: 1800})
		lo1, hi1 := remaining(loadStart, 3600)
		lo2, hi2 := remaining(secondAt, 1800)
		e2eWantBindings(t, "second contact of "+u.Name, res, []string{u.Contact(), second}, []int{lo1, lo2}, []int{hi1, hi2})
		e2eWantRedirect(t, "MESSAGE to "+u.Name+" with two contacts",
			e2eSend(t, c, e2eReq{Method: "MESSAGE", User: u.Name}), second)
		res = e2eSend(t, c, e2eReq{User: u.Name, Expires: -1})
		lo1, _ = remaining(loadStart, 3600)
		lo2, _ = remaining(secondAt, 1800)
		e2eWantBindings(t, "query of two contacts of "+u.Name, res, []string{u.Contact(), second}, []int{lo1, lo2}, []int{hi1, hi2})
	}
	if n := p.Log.Count("script error"); n != 0 {
		t.Errorf("%d script errors logged, want 0:\n%s", n, p.Log.Grep("script error"))
	}
}

// e2eFreePort returns a loopback port free for both UDP and TCP, for
// sipp's -p (sipp's default is 5060, which a locus on the default
// listeners, or a second sipp, may hold).
func e2eFreePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no loopback port free for both UDP and TCP in 20 tries")
	return 0
}

// e2eHeadTail shortens s to its first and last n/2 bytes: the first
// errors of a sipp run say what went wrong, the last what it led to.
func e2eHeadTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n/2] + "\n...\n" + s[len(s)-n/2:]
}
