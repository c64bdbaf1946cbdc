package pike_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/locus-sip/locus/modules/pike"
)

// FuzzCheckIP: any string from a script or a header never panics
// pike_check_ip; what does not parse is OK and an error; what parses
// is counted once, under its canonical form.
func FuzzCheckIP(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "::ffff:192.0.2.1", "2001:db8::1", "fe80::1%eth0", "", "1.2.3", "::", "300.1.1.1", "[::1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := newClock()
		p := pike.NewWithDetector(pike.NewDetector(pike.Options{Unit: time.Second, Density: 1, RemoveLatency: time.Minute, Now: c.Now}), nil)
		res, err := p.CheckIP(s)
		_, perr := netip.ParseAddr(s)
		if (err != nil) != (perr != nil) {
			t.Fatalf("%q: error %v, parse error %v", s, err, perr)
		}
		if err != nil {
			if res != pike.OK || p.Detector().Len() != 0 {
				t.Fatalf("%q: %d, %d tracked", s, res, p.Detector().Len())
			}
			return
		}
		if res != pike.OK || p.Detector().Len() != 1 {
			t.Fatalf("%q: first check %d, %d tracked", s, res, p.Detector().Len())
		}
		if res, _ := p.CheckIP(s); res != pike.NewFlood {
			t.Fatalf("%q: second check %d, want NewFlood", s, res)
		}
	})
}
