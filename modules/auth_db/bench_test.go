package authdb_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/auth"
	authdb "github.com/locus-sip/locus/modules/auth_db"
)

// benchFile writes a credentials file of n users (user0 ... user{n-1})
// with an MD5, SHA-256 and SHA-512-256 HA1 each.
func benchFile(b *testing.B, n int) *authdb.File {
	b.Helper()
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteString(lines(fmt.Sprintf("user%d", i), "example.com", "secret", auth.MD5, auth.SHA256, auth.SHA512_256))
	}
	p := filepath.Join(b.TempDir(), "users")
	if err := os.WriteFile(p, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	f, err := authdb.OpenFile(p, nil)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func benchAuth(b *testing.B, now time.Time) *auth.Auth {
	a, err := auth.NewReady(slog.New(slog.DiscardHandler), func(a *auth.Auth) {
		a.Secret = testSecret
		a.Algorithms = []string{"SHA-512-256", "SHA-256", "SHA-256-sess", "MD5"}
	})
	if err != nil {
		b.Fatal(err)
	}
	a.SetClock(func() time.Time { return now })
	return a
}

// BenchmarkVerify verifies one REGISTER's credentials: parse the
// Authorization header, check the nonce's signature and age, look the
// HA1 up in the file source (10,000 users), compute and compare the
// response, and record the nonce count. Each iteration answers a fresh
// nonce, as a phone's REGISTER after a challenge does; the module is
// rebuilt (same secret, timer stopped) when the pool runs out, so that
// no credentials are replays.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []auth.Algorithm{auth.SHA256, auth.MD5, auth.SHA512_256, auth.SHA256Sess} {
		b.Run(alg.String(), func(b *testing.B) { benchVerify(b, alg) })
	}
}

func benchVerify(b *testing.B, alg auth.Algorithm) {
	const users, pool = 10000, 1 << 13
	f := benchFile(b, users)
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	a := benchAuth(b, now)
	creds := make([]string, pool)
	for i := range creds {
		m, rec := coretest.Msg(b, req{}.String())
		if err := a.SetAlgorithm(m, alg.String()); err != nil {
			b.Fatal(err)
		}
		_, _ = a.Challenge(m, "example.com", 0, auth.WWW)
		chal := firstChallenge(b, rec.Final())
		creds[i] = credentials(chal, fmt.Sprintf("user%d", i%users), "secret", "REGISTER", "sip:example.com", 1)
	}
	base := coretest.Request(b, req{}.String())
	db := authdb.NewWithSource(a, f, nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i > 0 && i%pool == 0 {
			b.StopTimer()
			db = authdb.NewWithSource(benchAuth(b, now), f, nil)
			b.StartTimer()
		}
		base.RemoveHeader("Authorization")
		base.AppendHeader(sip.NewHeader("Authorization", creds[i%pool]))
		m := core.NewMsg(base, nil)
		if res, err := db.Authenticate(ctx, m, "example.com", "subscriber", auth.WWW, ""); res != auth.OK {
			b.Fatalf("iteration %d: %d %v", i, res, err)
		}
	}
}

// BenchmarkVerifyFailure is the refused path (SHA-256): a wrong password,
// and an unknown user, which must cost the same.
func BenchmarkVerifyFailure(b *testing.B) {
	f := benchFile(b, 10000)
	a := benchAuth(b, time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	m, rec := coretest.Msg(b, req{}.String())
	_ = a.SetAlgorithm(m, "SHA-256")
	_, _ = a.Challenge(m, "example.com", 0, auth.WWW)
	chal := firstChallenge(b, rec.Final())
	db := authdb.NewWithSource(a, f, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name, user, pass string
		want             auth.Result
	}{
		{"wrong password", "user7", "nope", auth.InvalidPassword},
		{"unknown user", "mallory", "secret", auth.UserUnknown},
	} {
		b.Run(tc.name, func(b *testing.B) {
			base := coretest.Request(b, req{auth: credentials(chal, tc.user, tc.pass, "REGISTER", "sip:example.com", 1)}.String())
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m := core.NewMsg(base, nil)
				if res, _ := db.Authenticate(ctx, m, "example.com", "subscriber", auth.WWW, ""); res != tc.want {
					b.Fatalf("%d", res)
				}
			}
		})
	}
}

// BenchmarkChallenge builds and sends a 401 with two challenges.
func BenchmarkChallenge(b *testing.B) {
	a := benchAuth(b, time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	base := coretest.Request(b, req{}.String())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := core.NewMsg(base, nil)
		if rc, err := a.Challenge(m, "example.com", 0, auth.WWW); rc != 1 {
			b.Fatal(rc, err)
		}
	}
}
