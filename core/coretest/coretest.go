// Package coretest helps tests build requests, record replies and run
// routing scripts through the real runtime.
package coretest

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/script"
)

// Recorder collects the replies sent for a request, like
// httptest.ResponseRecorder.
type Recorder struct {
	mu      sync.Mutex
	Replies []*sip.Response
}

// Respond is a core.Responder.
func (r *Recorder) Respond(res *sip.Response) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Replies = append(r.Replies, res)
	return nil
}

// Final returns the last final reply, or nil.
func (r *Recorder) Final() *sip.Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.Replies) - 1; i >= 0; i-- {
		if r.Replies[i].StatusCode >= 200 {
			return r.Replies[i]
		}
	}
	return nil
}

// Code is the final reply's status code, or 0.
func (r *Recorder) Code() int {
	if f := r.Final(); f != nil {
		return f.StatusCode
	}
	return 0
}

// Request parses a request. Lines may end in "\n"; they are sent as CRLF.
// The source is 192.0.2.10:5060 over UDP unless the test changes it.
func Request(t testing.TB, raw string) *sip.Request {
	t.Helper()
	req, err := ParseRequest(raw)
	if err != nil {
		t.Fatalf("parse request: %v\n%s", err, raw)
	}
	return req
}

// ParseRequest is Request without a testing.TB.
func ParseRequest(raw string) (*sip.Request, error) {
	if !strings.Contains(raw, "\r\n") {
		raw = strings.ReplaceAll(raw, "\n", "\r\n")
	}
	msg, err := sip.NewParser().ParseSIP([]byte(raw))
	if err != nil {
		return nil, err
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return nil, errNotRequest
	}
	req.SetSource("192.0.2.10:5060")
	req.SetTransport("UDP")
	return req, nil
}

type constErr string

func (e constErr) Error() string { return string(e) }

const errNotRequest = constErr("not a request")

// Msg parses raw into a core.Msg whose replies go to the returned recorder.
func Msg(t testing.TB, raw string) (*core.Msg, *Recorder) {
	t.Helper()
	rec := &Recorder{}
	return core.NewMsg(Request(t, raw), rec.Respond), rec
}

// WriteScript writes a Lua script into a temporary directory and returns its path.
func WriteScript(t testing.TB, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "route.lua")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Register is a well-formed REGISTER for tests to adapt.
const Register = `REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-test-1
Max-Forwards: 70
From: <sip:alice@example.com>;tag=a1
To: <sip:alice@example.com>
Call-ID: c1@192.0.2.10
CSeq: 1 REGISTER
Contact: <sip:alice@192.0.2.10:5060>
Expires: 3600
User-Agent: coretest
Content-Length: 0

`

// Runtime starts a script runtime for src with the given exports; it is
// closed when the test ends.
func Runtime(t testing.TB, src string, exports ...script.Export) *script.Runtime {
	t.Helper()
	rt, err := script.New(script.Options{File: WriteScript(t, src), Exports: exports, PoolSize: 2})
	if err != nil {
		t.Fatalf("script: %v", err)
	}
	t.Cleanup(rt.Close)
	return rt
}

// Route runs raw through src's ksr_request_route via the real engine (so
// the fallback 500 applies) and returns the recorder and the message.
func Route(t testing.TB, src, raw string, exports ...script.Export) (*Recorder, *core.Msg) {
	t.Helper()
	rt := Runtime(t, src, exports...)
	m, rec := Msg(t, raw)
	core.NewEngine(rt, slog.New(slog.DiscardHandler), 0, "").Process(m)
	return rec, m
}

// Export wraps a module's exports as KSR.<name>.
func Export(name string, m core.LuaExporter) script.Export {
	return script.Export{Name: name, Funcs: m.LuaExports()}
}

// KeepWriting writes to the file at path every millisecond until the test
// ends, as the SQLite store writes its files beside a watched script.
func KeepWriting(t testing.TB, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() {
		close(stop)
		<-done
		f.Close()
	})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			f.WriteAt([]byte("frame"), int64(i%512)*8) //nolint:errcheck // best effort
		}
	}()
}
