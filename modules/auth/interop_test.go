package auth_test

import (
	"testing"

	"github.com/icholy/digest"
	"github.com/locus-sip/locus/modules/auth"
)

// TestInterop answers locus's challenges with github.com/icholy/digest,
// the digest client sipgo uses: another implementation of RFC 7616,
// SHA-512-256 included, reading locus's challenge headers as written.
func TestInterop(t *testing.T) {
	a, _ := newAuth(t, func(a *auth.Auth) { a.Algorithms = []string{"SHA-512-256", "SHA-256", "MD5"} })
	for _, alg := range []string{"SHA-512-256", "SHA-256", "MD5"} {
		t.Run(alg, func(t *testing.T) {
			m, rec := register(t)
			if rc, err := a.Challenge(m, "example.com", 0, auth.WWW); rc != 1 {
				t.Fatal(rc, err)
			}
			var chal *digest.Challenge
			for _, h := range rec.Final().GetHeaders("WWW-Authenticate") {
				c, err := digest.ParseChallenge(h.Value())
				if err != nil {
					t.Fatalf("icholy/digest cannot read %q: %v", h.Value(), err)
				}
				if c.Algorithm == alg {
					chal = c
				}
			}
			if chal == nil {
				t.Fatalf("no %s challenge", alg)
			}
			for count := 1; count <= 3; count++ {
				cred, err := digest.Digest(chal, digest.Options{
					Method: "REGISTER", URI: "sip:example.com", Username: "alice", Password: "wonderland", Count: count,
				})
				if err != nil {
					t.Fatal(err)
				}
				m, _ := register(t, "Authorization: "+cred.String())
				if res, err := a.Authenticate(ctx, m, "example.com", auth.WWW, "", alice); res != auth.OK {
					t.Fatalf("nc %d: result %d (%v)\n%s", count, res, err, cred.String())
				}
			}
		})
	}
}
