package auth_test

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/core/script"
	"github.com/locus-sip/locus/modules/auth"
	"github.com/locus-sip/locus/modules/sl"
)

// load decodes, provisions and validates a configuration through the
// core, as locus does.
func load(t *testing.T, y string) (*auth.Auth, error) {
	t.Helper()
	m, err := coretest.LoadModule(t, y, "auth")
	if err != nil {
		return nil, err
	}
	return m.(*auth.Auth), nil
}

func TestConfig(t *testing.T) {
	cases := []struct {
		name, yaml, wantErr string
		check               func(*auth.Auth) bool
	}{
		{"defaults", "", "", func(a *auth.Auth) bool {
			return time.Duration(a.NonceExpires) == 30*time.Second && strings.Join(a.Algorithms, ",") == "MD5" && a.QOP == "auth"
		}},
		{"seconds", "modules:\n  auth:\n    nonce_expires: 60\n", "", func(a *auth.Auth) bool { return time.Duration(a.NonceExpires) == time.Minute }},
		{"unknown key", "modules:\n  auth:\n    nonce_expire: 60\n", "nonce_expire", nil},
		{"bad algorithm", "modules:\n  auth:\n    algorithms: [SHA-1]\n", "SHA-1", nil},
		{"short secret", "modules:\n  auth:\n    secret: abc\n", "16 bytes", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := load(t, tc.yaml)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(a) {
				t.Fatalf("config %+v", a)
			}
		})
	}
}

// TestREADME loads the README's configuration and runs its Lua example.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	a, err := load(t, coretest.Fences(t, string(b), "yaml")[0])
	if err != nil {
		t.Fatalf("README configuration: %v", err)
	}
	if a.Secret == "" || strings.Join(a.Algorithms, ",") != "SHA-256,MD5" {
		t.Fatalf("README configuration read as %+v", a)
	}
	for _, src := range coretest.Fences(t, string(b), "lua") {
		if _, err := script.Compile([]byte(src), "README.md"); err != nil {
			t.Fatal(err)
		}
	}
	rt := coretest.Runtime(t, coretest.Fences(t, string(b), "lua")[0], coretest.Export("auth", a), coretest.Export("sl", &sl.SL{}))
	eng := core.NewEngine(rt, slog.New(slog.DiscardHandler), 0, "")
	type reply struct {
		code int
		res  *sip.Response
	}
	send := func(extra ...string) reply {
		m, rec := register(t, extra...)
		eng.Process(m)
		return reply{rec.Code(), rec.Final()}
	}
	cases := []struct {
		name       string
		user, pass string
		code       int
	}{
		{"right password", "alice", "lab-password", 200},
		{"wrong password", "alice", "nope", 401},
		{"another user's AoR", "bob", "lab-password", 403},
	}
	for _, tc := range cases {
		first := send()
		if first.code != 401 {
			t.Fatalf("no credentials: %d", first.code)
		}
		chal := challenges(t, first.res)["SHA-256"]
		c := &client{user: tc.user, pass: tc.pass}
		if got := send("Authorization: " + c.authorization(chal, "REGISTER", nil)); got.code != tc.code {
			t.Errorf("%s: %d, want %d", tc.name, got.code, tc.code)
		}
	}
}
