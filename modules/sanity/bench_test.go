package sanity_test

import (
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/sanity"
)

// BenchmarkCheck runs the checks a registrar script runs on every
// REGISTER: Kamailio's defaults (3047, URIs 7) without and with
// credentials, the set of the benchmark anchor (17895, 7), and every check.
func BenchmarkCheck(b *testing.B) {
	plain := coretest.Request(b, coretest.Register)
	creds := coretest.Request(b, authorized(goodDigest))
	s := sanity.New()
	for _, bc := range []struct {
		name   string
		req    *sip.Request
		checks sanity.Checks
		uris   sanity.URIChecks
	}{
		{"defaults", plain, sanity.DefaultChecks, sanity.DefaultURIChecks},
		{"defaults-credentials", creds, sanity.DefaultChecks, sanity.DefaultURIChecks},
		{"anchor", plain, 17895, 7},
		{"all", creds, sanity.AllChecks, sanity.AllURIChecks},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if f := s.Check(bc.req, bc.checks, bc.uris); f != nil {
					b.Fatal(f)
				}
			}
		})
	}
}
