// Package auth is locus's digest authentication module: KSR.auth, after
// Kamailio's auth module. It builds challenges (401/407 with one
// WWW-Authenticate or Proxy-Authenticate per algorithm), issues signed
// stateless nonces, and verifies Authorization and Proxy-Authorization
// credentials against an HA1 from a credential source (the auth_db
// module) or from the script (pv_www_authenticate and friends), with
// nonce-count replay protection in bounded memory.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/locus-sip/locus/core"
)

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "auth", New: func() core.Module { return New() }})
}

// Defaults of the configuration.
const (
	DefaultNonceExpires = 30 * time.Second
	DefaultMaxDrift     = 3 * time.Second
	DefaultQOP          = "auth"
	DefaultNCArraySize  = 1 << 18
)

// Auth is the auth module: its configuration and the state shared by
// every request (the nonce signer and the replay table).
type Auth struct {
	// Secret signs nonces. Nodes that must accept each other's nonces
	// share it; empty means a random secret for this process.
	Secret string `yaml:"secret"`
	// NonceExpires is how long a nonce is accepted; an older one gets a
	// stale=true challenge.
	NonceExpires core.Duration `yaml:"nonce_expires"`
	// NonceAuthMaxDrift is how far in the future a nonce's issue time may
	// be (clock differences between nodes) before it counts as stale.
	NonceAuthMaxDrift core.Duration `yaml:"nonce_auth_max_drift"`
	// Algorithms are offered in challenges, strongest first whatever the
	// order here, and are the only ones accepted in credentials.
	Algorithms []string `yaml:"algorithms"`
	// QOP is the qop offered when a challenge's flags name none: "auth",
	// "auth-int", "auth,auth-int", or "" (RFC 2069, only with RFC2069).
	QOP string `yaml:"qop"`
	// RFC2069 accepts credentials without qop (no cnonce, no nonce
	// count). Such a nonce is accepted once only.
	RFC2069 bool `yaml:"rfc2069"`
	// OneTimeNonce accepts every nonce once only, nonce count or not.
	OneTimeNonce bool `yaml:"one_time_nonce"`
	// NCArraySize is how many nonces the replay table tracks.
	NCArraySize int `yaml:"nc_array_size"`
	// UseDomain makes pv_auth_check's identity check compare the From
	// and To hosts too.
	UseDomain bool `yaml:"use_domain"`

	log      *slog.Logger
	metrics  *metrics
	algs     []Algorithm
	qop      string // QOP, normalised
	signer   *nonceSigner
	replay   *replayTable
	dummy    [3]string // per hash: the HA1 an unknown user is checked with
	now      func() time.Time
	randomKy bool
	warnOnce sync.Once
}

// New returns the module with its defaults, unprovisioned.
func New() *Auth {
	return &Auth{
		NonceExpires:      core.Duration(DefaultNonceExpires),
		NonceAuthMaxDrift: core.Duration(DefaultMaxDrift),
		Algorithms:        append([]string(nil), DefaultAlgorithms...),
		QOP:               DefaultQOP,
		NCArraySize:       DefaultNCArraySize,
		now:               time.Now,
	}
}

// NewReady returns a provisioned module for tests and tools: the
// defaults changed by configure, then Validate and Provision.
func NewReady(log *slog.Logger, configure func(*Auth)) (*Auth, error) {
	a := New()
	if configure != nil {
		configure(a)
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if err := a.Provision(context.Background(), &core.Host{Log: log}); err != nil {
		return nil, err
	}
	return a, nil
}

// SetClock replaces the clock, for tests.
func (a *Auth) SetClock(now func() time.Time) { a.now = now }

// Provision builds the nonce signer and the replay table.
func (a *Auth) Provision(ctx context.Context, h *core.Host) error {
	a.log = h.Log
	if h.Metrics != nil {
		a.metrics = newMetrics(h.Metrics)
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	algs, err := parseAlgorithms(a.Algorithms)
	if err != nil {
		return err
	}
	a.algs = algs
	if a.qop, err = parseQOP(a.QOP); err != nil {
		return err
	}
	secret := []byte(a.Secret)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
		a.randomKy = true
	}
	a.signer = newNonceSigner(secret)
	a.replay = newReplayTable(a.NCArraySize)
	for _, hash := range Hashes {
		b := make([]byte, hash.Size())
		_, _ = rand.Read(b)
		a.dummy[hash.hashIndex()] = hex.EncodeToString(b)
	}
	return nil
}

// Validate checks the configuration.
func (a *Auth) Validate() error {
	switch {
	case a.NonceExpires <= 0:
		return errors.New("auth: nonce_expires must be positive")
	case a.NonceAuthMaxDrift < 0:
		return errors.New("auth: nonce_auth_max_drift must not be negative")
	case a.NCArraySize < replayWays || a.NCArraySize > 1<<26:
		return fmt.Errorf("auth: nc_array_size %d out of range %d-%d", a.NCArraySize, replayWays, 1<<26)
	case a.Secret != "" && len(a.Secret) < 16:
		return errors.New("auth: secret shorter than 16 bytes")
	}
	if _, err := parseAlgorithms(a.Algorithms); err != nil {
		return err
	}
	if _, err := parseQOP(a.QOP); err != nil {
		return err
	}
	if a.QOP == "" && !a.RFC2069 {
		return errors.New(`auth: qop "" (RFC 2069 challenges) needs rfc2069: true`)
	}
	return nil
}

// parseAlgorithms reads the configured algorithm names, sorted strongest
// first.
func parseAlgorithms(names []string) ([]Algorithm, error) {
	if len(names) == 0 {
		return nil, errors.New("auth: algorithms is empty")
	}
	var out []Algorithm
	for _, n := range names {
		alg, ok := ParseAlgorithm(strings.TrimSpace(n))
		if !ok {
			return nil, fmt.Errorf("auth: algorithms: unknown algorithm %q (want MD5, SHA-256, SHA-512-256, or one of them with -sess)", n)
		}
		for _, have := range out {
			if have == alg {
				return nil, fmt.Errorf("auth: algorithms: %s listed twice", alg)
			}
		}
		out = append(out, alg)
	}
	sort.SliceStable(out, func(i, j int) bool { return strength(out[i]) > strength(out[j]) })
	return out, nil
}

// strength orders algorithms: by hash, a -sess variant right after its hash.
func strength(a Algorithm) int {
	for i, x := range Algorithms {
		if x == a {
			return len(Algorithms) - i
		}
	}
	return 0
}

// parseQOP reads a qop list ("auth", "auth-int", "auth,auth-int", "").
func parseQOP(s string) (string, error) {
	var auth, authInt bool
	for _, q := range strings.Split(s, ",") {
		switch strings.TrimSpace(q) {
		case "auth":
			auth = true
		case "auth-int":
			authInt = true
		case "":
			if strings.TrimSpace(s) != "" {
				return "", fmt.Errorf("auth: qop %q: empty element", s)
			}
		default:
			return "", fmt.Errorf("auth: qop %q: want auth, auth-int, both, or empty", s)
		}
	}
	switch {
	case auth && authInt:
		return "auth,auth-int", nil
	case auth:
		return "auth", nil
	case authInt:
		return "auth-int", nil
	}
	return "", nil
}

// warnRandomSecret says once, when the first nonce is issued, that nonces
// are signed with a per-process secret.
func (a *Auth) warnRandomSecret() {
	if !a.randomKy {
		return
	}
	a.warnOnce.Do(func() {
		a.log.Warn("auth: no modules.auth.secret configured: nonces are signed with a random secret of this process; " +
			"they stop verifying after a restart, and several locus nodes behind one address must share a secret")
	})
}

// Interface guards.
var (
	_ core.Provisioner = (*Auth)(nil)
	_ core.Validator   = (*Auth)(nil)
	_ core.LuaExporter = (*Auth)(nil)
	_ core.PVProvider  = (*Auth)(nil)
)
