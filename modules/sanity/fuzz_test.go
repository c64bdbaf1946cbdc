package sanity_test

import (
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/sanity"
)

// FuzzSanity runs every check over whatever sipgo parses: no panic, and a
// failure with a code is answered with that code (ACK excepted).
func FuzzSanity(f *testing.F) {
	for _, seed := range []string{
		coretest.Register, mismatch01, mismatch02, insuf, multi01, mcl01, regaut01, unkscm, unksm2,
		badvers, bext01, zeromf, cparam01, regescrt, intmeth,
		authorized(goodDigest),
		authorized(`Authorization: Digest username="a\"b", realm=r, nonce="", uri=x, response=y, qop="auth"`),
		register("Expires: 3600", "Expires: 12 x\nProxy-Require: a,,b"),
	} {
		f.Add([]byte(seed))
	}
	s := sanity.New()
	s.ProxyRequire = []string{"b"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		msg, err := sip.NewParser().ParseSIP(raw)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		req.SetSource("192.0.2.10:5060")
		req.SetTransport("UDP")
		rec := &coretest.Recorder{}
		m := core.NewMsg(req, rec.Respond)
		fail, err := s.CheckMsg(m, sanity.AllChecks, sanity.AllURIChecks)
		switch {
		case fail == nil || req.IsAck():
			if len(rec.Replies) != 0 {
				t.Fatalf("replied %d without a failure to answer", rec.Replies[0].StatusCode)
			}
		case fail.Code == 0:
			if len(rec.Replies) != 0 || !m.Dropped {
				t.Fatalf("%v: replies %d, dropped %v", fail, len(rec.Replies), m.Dropped)
			}
		case err == nil:
			if rec.Code() != fail.Code {
				t.Fatalf("%v: replied %d", fail, rec.Code())
			}
		}
	})
}
