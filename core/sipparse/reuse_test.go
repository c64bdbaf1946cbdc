package sipparse

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// reuseMessages differ in which of the arena's headers and parameter
// slots they fill, so a reused arena that kept anything of the message
// before would show.
var reuseMessages = []string{
	inviteSDP,
	registerPhone,
	msg("OPTIONS sip:example.com SIP/2.0",
		"Via: SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bK-o1",
		"From: <sip:mon@example.com>;tag=m1",
		"To: <sip:example.com>",
		"Call-ID: o1@192.0.2.30",
		"CSeq: 7 OPTIONS",
		"", ""),
	// A response: fresh memory, and a Release that does nothing.
	msg("SIP/2.0 200 OK",
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-r",
		"From: <sip:1001@example.com>;tag=a",
		"To: <sip:1001@example.com>;tag=b",
		"Call-ID: r@192.0.2.10",
		"CSeq: 2 REGISTER",
		"Content-Length: 0",
		"", ""),
	// One the fast path gives up on (a space before the parameters).
	strings.Replace(registerPhone, ">;+sip.instance", "> ;+sip.instance", 1),
}

// ParseReusable with Release after each message gives what Parse gives,
// message after message, in whatever arenas the pool hands back.
func TestParseReusable(t *testing.T) {
	defer func(z bool) { zeroReleased = z }(zeroReleased)
	zeroReleased = false
	for round := range 20 {
		for i, s := range reuseMessages {
			want, err := Parse([]byte(s))
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			got, mem, err := ParseReusable([]byte(s))
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if got.String() != want.String() {
				t.Fatalf("round %d, message %d after reuse:\n%s\nwant\n%s", round, i, got, want)
			}
			if req, ok := got.(*sip.Request); ok {
				if v, w := req.Via().String(), want.(*sip.Request).Via().String(); v != w {
					t.Fatalf("round %d, message %d: top Via %q, want %q", round, i, v, w)
				}
			}
			mem.Release()
		}
	}
}

// With zeroReleased a released request is empty: whatever kept it fails
// at once instead of reading the next request.
func TestReleaseZeroes(t *testing.T) {
	defer func(z bool) { zeroReleased = z }(zeroReleased)
	zeroReleased = true
	msg, mem, err := ParseReusable([]byte(registerPhone))
	if err != nil {
		t.Fatal(err)
	}
	req := msg.(*sip.Request)
	if mem.ra == nil || req.Method != sip.REGISTER {
		t.Fatalf("the fast path did not take the REGISTER into an arena: %v", mem.ra)
	}
	mem.Release()
	if req.Method != "" || req.Via() != nil || req.CallID() != nil {
		t.Fatalf("released request still readable: %q", req.Method)
	}
}
