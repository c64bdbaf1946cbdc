package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
)

// Result is the outcome of an authentication, valued as Kamailio's auth
// return codes: >0 success, <0 failure.
type Result int

// Results, with Kamailio's values.
const (
	OK              Result = 1
	Error           Result = -1 // malformed or unverifiable credentials, or an internal error
	InvalidPassword Result = -2 // the response does not match
	UserUnknown     Result = -3 // no such user in the realm
	StaleNonce      Result = -4 // the response matches but the nonce expired: challenge with stale=true
	NoCredentials   Result = -5 // no credentials for the realm
	NonceReused     Result = -6 // the nonce count did not increase, or a one-time nonce came back
	UserMismatch    Result = -8 // the authentication user is not the From/To user
)

// Kind says which headers an authentication uses: the registrar's
// (Authorization, 401, WWW-Authenticate) or a proxy's
// (Proxy-Authorization, 407, Proxy-Authenticate).
type Kind uint8

// Kinds.
const (
	WWW Kind = iota
	Proxy
)

// KindOf is the kind auth_challenge and auth_check use for a request:
// WWW for REGISTER, Proxy for the rest.
func KindOf(req *sip.Request) Kind {
	if req.Method == sip.REGISTER {
		return WWW
	}
	return Proxy
}

func (k Kind) credentialsHeader() string {
	if k == WWW {
		return "authorization"
	}
	return "proxy-authorization"
}

func (k Kind) challengeHeader() string {
	if k == WWW {
		return "WWW-Authenticate"
	}
	return "Proxy-Authenticate"
}

func (k Kind) status() (int, string) {
	if k == WWW {
		return 401, "Unauthorized"
	}
	return 407, "Proxy Authentication Required"
}

// HA1Source supplies the stored credentials an authentication checks
// against: the auth_db module's credential sources, or a password given
// by the script.
type HA1Source interface {
	// HA1 returns the lower-case hex HA1 of username in realm for hash
	// (MD5, SHA256 or SHA512_256, never a -sess variant); ok is false
	// for an unknown user. err is for a source that cannot answer.
	HA1(ctx context.Context, username, realm string, hash Algorithm) (ha1 string, ok bool, err error)
}

// ErrSource wraps a credential source's failure.
var ErrSource = errors.New("auth: credential source failed")

// maxRealm bounds a realm given by the script.
const maxRealm = 1024

// Identity is who a request authenticated as: $au, $aU, $ad and $ar.
type Identity struct {
	User     string // the username's user part, before any "@" ($au)
	Username string // the username as sent ($aU)
	Domain   string // the username's part after "@", if any ($ad)
	Realm    string // the realm ($ar)
}

// state is what auth keeps on a request.
type state struct {
	algs   []Algorithm // auth_algorithm's choice for this request
	stale  bool        // the last check found a stale or reused nonce
	id     Identity
	authed bool
	hdr    sip.Header // the credentials that authenticated
}

const stateKey = "auth"

func stateOf(m *core.Msg) *state {
	if s, ok := m.Get(stateKey).(*state); ok {
		return s
	}
	s := &state{}
	m.Set(stateKey, s)
	return s
}

func peekState(m *core.Msg) *state {
	s, _ := m.Get(stateKey).(*state)
	return s
}

// Authenticated returns the identity a successful authentication of m
// established.
func Authenticated(m *core.Msg) (Identity, bool) {
	if s := peekState(m); s != nil && s.authed {
		return s.id, true
	}
	return Identity{}, false
}

// unchallengeable are the methods that cannot be challenged: an ACK or a
// CANCEL must carry the CSeq of the request it belongs to, and PRACK
// follows a challenged INVITE. Kamailio accepts them unchecked.
func unchallengeable(req *sip.Request) bool {
	return req.Method == sip.ACK || req.Method == sip.CANCEL || req.Method == sip.PRACK
}

// Authenticate verifies the credentials of m for realm in the headers of
// kind k against the HA1 src holds, for request method method (the
// request's own when ""). ACK, CANCEL and PRACK pass unchecked, as in
// Kamailio. On success the identity is stored on m ($au, $ar, ...).
//
// An unknown user is checked exactly like a known one, against a random
// HA1, so that the work done and the time taken do not tell them apart;
// only the result says UserUnknown. A response that matches with an
// expired nonce gives StaleNonce; one that does not match gives
// InvalidPassword whatever the nonce's age (RFC 7616 §3.3: stale only
// when the digest is valid). The error explains an Error result and must
// not be shown to the client; it never contains credentials.
func (a *Auth) Authenticate(ctx context.Context, m *core.Msg, realm string, k Kind, method string, src HA1Source) (Result, error) {
	r, err := a.authenticate(ctx, m, realm, k, method, src)
	a.metrics.result(r)
	return r, err
}

func (a *Auth) authenticate(ctx context.Context, m *core.Msg, realm string, k Kind, method string, src HA1Source) (Result, error) {
	if unchallengeable(m.Req) {
		return OK, nil
	}
	if realm == "" || len(realm) > maxRealm {
		return Error, errors.New("auth: realm empty or longer than 1024 bytes")
	}
	if method == "" {
		method = string(m.Req.Method)
	}
	h, d, err := findCredentials(m.Req, k, realm)
	if h == nil {
		if err != nil {
			return Error, err
		}
		return NoCredentials, nil
	}
	alg := MD5
	if d.Algorithm != "" {
		var ok bool
		if alg, ok = ParseAlgorithm(d.Algorithm); !ok {
			return Error, fmt.Errorf("%w: unknown algorithm", ErrMalformed)
		}
	}
	if !a.accepts(m, alg) {
		return Error, fmt.Errorf("%w: algorithm %s not accepted", ErrMalformed, alg)
	}
	var nc uint32
	if d.QOP == "" {
		if !a.RFC2069 {
			return Error, fmt.Errorf("%w: no qop (RFC 2069 credentials are not accepted)", ErrMalformed)
		}
	} else {
		nc, _ = ParseNC(d.NC) // checked by the parser
	}
	var resp [32]byte
	if !decodeHex(resp[:alg.Size()], d.Response) {
		return Error, fmt.Errorf("%w: response is not a %s hash", ErrMalformed, alg)
	}
	issued, tag, ok := a.signer.verify(d.Nonce, realm)
	if !ok {
		return Error, fmt.Errorf("%w: nonce not issued for this realm with this secret", ErrMalformed)
	}
	now := a.now().UnixNano()
	stale := now-issued > int64(a.NonceExpires) || issued-now > int64(a.NonceAuthMaxDrift)

	ha1, known, err := src.HA1(ctx, d.Username, realm, alg.Hash())
	if err != nil {
		return Error, fmt.Errorf("%w: %v", ErrSource, err)
	}
	if !known || len(ha1) != alg.HexLen() {
		ha1 = a.dummy[alg.hashIndex()]
	}
	want := expected(alg, ha1, &d, method, m.Req.Body())
	match := subtle.ConstantTimeCompare(want[:alg.Size()], resp[:alg.Size()]) == 1
	switch {
	case !known:
		return UserUnknown, nil
	case !match:
		return InvalidPassword, nil
	case stale:
		stateOf(m).stale = true
		return StaleNonce, nil
	}
	// Credentials without a nonce count can only be one-time.
	// A retransmission of the request a fresh nonce authenticated is
	// accepted again (see replayTable.use) while a client may still be
	// retransmitting it: 64*T1, RFC 3261 Timer F.
	var txn uint32
	if now-issued <= int64(retransmitWindow) {
		txn = a.replay.txnOf(m.Req)
	}
	switch a.replay.use(tag, issued, nc, a.OneTimeNonce || d.QOP == "", txn) {
	case replayReused:
		// The client knows the password: let it retry with a fresh
		// nonce without asking its user (a retransmission lands here).
		stateOf(m).stale = true
		return NonceReused, nil
	case replayEvicted:
		stateOf(m).stale = true
		return StaleNonce, nil
	}
	s := stateOf(m)
	s.stale = false
	s.authed = true
	s.hdr = h
	user, domain, _ := strings.Cut(d.Username, "@")
	s.id = Identity{User: user, Username: d.Username, Domain: domain, Realm: realm}
	return OK, nil
}

// retransmitWindow is how long after a nonce was issued a retransmission
// of the request it authenticated is still recognised as one.
const retransmitWindow = 32 * time.Second

// accepts reports whether alg may be used on m: one of the configured
// algorithms, or of auth_algorithm's choice for this request.
func (a *Auth) accepts(m *core.Msg, alg Algorithm) bool {
	for _, x := range a.algorithms(m) {
		if x == alg {
			return true
		}
	}
	return false
}

func (a *Auth) algorithms(m *core.Msg) []Algorithm {
	if s := peekState(m); s != nil && s.algs != nil {
		return s.algs
	}
	return a.algs
}

// findCredentials returns the first header of kind k whose Digest
// credentials are for realm, parsed. With none, err says whether a
// malformed header was among them.
func findCredentials(req *sip.Request, k Kind, realm string) (sip.Header, Digest, error) {
	var bad error
	name := k.credentialsHeader()
	for _, h := range req.Headers() {
		if sip.HeaderToLower(h.Name()) != name {
			continue
		}
		d, err := ParseAuthorization(h.Value())
		switch {
		case errors.Is(err, ErrNotDigest):
			continue
		case err != nil:
			if bad == nil {
				bad = err
			}
			continue
		case d.Realm == realm:
			return h, d, nil
		}
	}
	return nil, Digest{}, bad
}

// HasCredentials reports whether m carries Digest credentials for realm
// in a Proxy-Authorization or Authorization header.
func HasCredentials(m *core.Msg, realm string) bool {
	for _, k := range []Kind{Proxy, WWW} {
		if h, _, _ := findCredentials(m.Req, k, realm); h != nil {
			return true
		}
	}
	return false
}

// ConsumeCredentials removes the header that authenticated m, so that it
// is not forwarded. It fails when nothing authenticated, and for ACK,
// CANCEL and PRACK.
func ConsumeCredentials(m *core.Msg) error {
	if unchallengeable(m.Req) {
		return errors.New("auth: consume_credentials on " + m.Req.Method.String())
	}
	s := peekState(m)
	if s == nil || s.hdr == nil {
		return errors.New("auth: no authorized credentials to consume")
	}
	removeHeader(m.Req, s.hdr)
	s.hdr = nil
	return nil
}

// removeHeader removes exactly h from req. sipgo removes headers by name
// only, so the others of that name are taken out and put back in order.
func removeHeader(req *sip.Request, h sip.Header) {
	name := h.Name()
	var keep []sip.Header
	for _, x := range req.Headers() {
		if x.Name() == name && x != h {
			keep = append(keep, x)
		}
	}
	for req.RemoveHeader(name) {
	}
	for _, x := range keep {
		req.AppendHeader(x)
	}
}

// SetAlgorithm is auth_algorithm: the challenges and checks of this
// request use alg only. (Kamailio changes the algorithm of the whole
// process; locus scripts run on any of many Lua states, so the choice
// belongs to the request.)
func (a *Auth) SetAlgorithm(m *core.Msg, name string) error {
	alg, ok := ParseAlgorithm(name)
	if !ok {
		return fmt.Errorf("auth: unknown algorithm %.64q", name)
	}
	stateOf(m).algs = []Algorithm{alg}
	return nil
}

// CheckIdentity is the identity check of auth_check's flag 1 and
// pv_auth_check's checks: the authentication user must be the To user
// of a REGISTER (and the From user too), the From user of other
// requests, and for PUBLISH also the Request-URI user. skipForwarded (flag
// 2) skips it for INVITE, BYE, PRACK, UPDATE and MESSAGE, which may come
// with an anonymous From. useDomain compares the hosts as well.
func CheckIdentity(m *core.Msg, skipForwarded, useDomain bool) Result {
	req := m.Req
	id, ok := Authenticated(m)
	if !ok {
		if unchallengeable(req) {
			return OK
		}
		return Error
	}
	from, to := req.From(), req.To()
	if from == nil || to == nil {
		return Error
	}
	register := req.Method == sip.REGISTER || req.Method == sip.PUBLISH
	uri := &from.Address
	if register {
		uri = &to.Address
	}
	switch req.Method {
	case sip.INVITE, sip.BYE, sip.PRACK, sip.UPDATE, sip.MESSAGE:
		if skipForwarded {
			return OK
		}
	}
	if id.User != uri.User {
		return UserMismatch
	}
	if register {
		if from.Address.User != to.Address.User {
			return UserMismatch
		}
		if useDomain && !strings.EqualFold(from.Address.Host, to.Address.Host) {
			return UserMismatch
		}
		if req.Method == sip.PUBLISH {
			if from.Address.User != req.Recipient.User {
				return UserMismatch
			}
			if useDomain && !strings.EqualFold(from.Address.Host, req.Recipient.Host) {
				return UserMismatch
			}
		}
	}
	return OK
}

// Challenge flags, as Kamailio's www_challenge has them.
const (
	FlagQOPAuth    = 1  // offer qop=auth
	FlagQOPAuthInt = 2  // offer qop=auth-int
	FlagNoReply500 = 4  // on failure, do not reply 500
	FlagStale      = 16 // stale=true
)

// Challenge is www_challenge, proxy_challenge and auth_challenge: it
// replies 401 with WWW-Authenticate (k WWW) or 407 with
// Proxy-Authenticate (Proxy), one header per algorithm, strongest first.
// Its result is Kamailio's: 1 sent (or nothing to do for ACK, CANCEL and
// PRACK); -2 the challenge could not be built (a 500 is sent unless
// flags has FlagNoReply500); -3 the reply could not be sent.
func (a *Auth) Challenge(m *core.Msg, realm string, flags int, k Kind) (int, error) {
	if unchallengeable(m.Req) {
		return 1, nil
	}
	hdrs, err := a.ChallengeHeaders(m, realm, flags, k)
	if err != nil {
		if flags&FlagNoReply500 == 0 {
			_ = m.Reply(500, "Server Internal Error")
		}
		return -2, err
	}
	code, reason := k.status()
	if err := m.Reply(code, reason, hdrs...); err != nil {
		return -3, err
	}
	a.metrics.challenge()
	return 1, nil
}

// ChallengeHeaders builds the challenge headers Challenge sends. The qop
// offered is the flags' (FlagQOPAuth, FlagQOPAuthInt), else the configured
// one; stale=true is set by FlagStale or when the last authentication of
// m found the nonce stale or reused.
func (a *Auth) ChallengeHeaders(m *core.Msg, realm string, flags int, k Kind) ([]sip.Header, error) {
	qop := a.qop
	switch {
	case flags&FlagQOPAuth != 0 && flags&FlagQOPAuthInt != 0:
		qop = "auth,auth-int"
	case flags&FlagQOPAuth != 0:
		qop = "auth"
	case flags&FlagQOPAuthInt != 0:
		qop = "auth-int"
	}
	return a.challenge(m, realm, qop, flags&FlagStale != 0, k)
}

func (a *Auth) challenge(m *core.Msg, realm, qop string, stale bool, k Kind) ([]sip.Header, error) {
	if realm == "" || len(realm) > maxRealm {
		return nil, errors.New("auth: realm empty or longer than 1024 bytes")
	}
	if err := core.CheckHeaderValue(realm); err != nil {
		return nil, fmt.Errorf("auth: realm: %w", err)
	}
	if s := peekState(m); s != nil && s.stale {
		stale = true
	}
	a.warnRandomSecret()
	nonce := a.signer.issue(realm, a.now().UnixNano())
	algs := a.algorithms(m)
	out := make([]sip.Header, 0, len(algs))
	for _, alg := range algs {
		var b strings.Builder
		b.Grow(96 + len(realm))
		b.WriteString("Digest realm=")
		quote(&b, realm)
		b.WriteString(`, nonce="`)
		b.WriteString(nonce)
		b.WriteByte('"')
		if qop != "" {
			b.WriteString(`, qop="`)
			b.WriteString(qop)
			b.WriteByte('"')
		}
		b.WriteString(", algorithm=")
		b.WriteString(alg.String())
		if stale {
			b.WriteString(", stale=true")
		}
		out = append(out, sip.NewHeader(k.challengeHeader(), b.String()))
	}
	return out, nil
}

// passwordSource is the HA1 source of pv_www_authenticate and friends: a
// password (or an HA1) from the script.
type passwordSource struct {
	password string
	isHA1    bool
}

func (p passwordSource) HA1(_ context.Context, username, realm string, hash Algorithm) (string, bool, error) {
	if p.isHA1 {
		if !ValidHA1(hash, p.password) {
			return "", false, fmt.Errorf("the HA1 given is not a %s HA1", hash)
		}
		return strings.ToLower(p.password), true, nil
	}
	return HA1(hash, username, realm, p.password), true, nil
}

// Flags of pv_www_authenticate, pv_proxy_authenticate and pv_auth_check.
const (
	FlagPasswordHA1      = 1  // the password argument is an HA1
	FlagChallengeNoQOP   = 2  // on failure, add a challenge without qop to the reply headers
	FlagChallengeAuth    = 4  // ... with qop=auth
	FlagChallengeAuthInt = 8  // ... with qop=auth-int
	FlagChallengeStale   = 16 // ... with stale=true
	FlagKeepNC           = 32 // accepted for compatibility: a failure never touches the nonce count
)

// PVAuthenticate is pv_www_authenticate (k WWW) and pv_proxy_authenticate
// (Proxy): Authenticate against password, an HA1 with FlagPasswordHA1.
// With the challenge flags, a failure adds the challenge headers to the
// reply headers, for a later KSR.sl.send_reply(401, ...).
func (a *Auth) PVAuthenticate(ctx context.Context, m *core.Msg, realm, password string, flags int, k Kind, method string) (Result, error) {
	if password == "" {
		return Error, errors.New("auth: empty password")
	}
	res, err := a.Authenticate(ctx, m, realm, k, method, passwordSource{password: password, isHA1: flags&FlagPasswordHA1 != 0})
	if res < 0 && flags&(FlagChallengeNoQOP|FlagChallengeAuth|FlagChallengeAuthInt) != 0 {
		qop := a.qop
		switch {
		case flags&FlagChallengeAuthInt != 0:
			qop = "auth-int"
		case flags&FlagChallengeAuth != 0:
			qop = "auth"
		case a.RFC2069:
			qop = "" // FlagChallengeNoQOP, honoured only when RFC 2069 credentials are accepted
		}
		hdrs, herr := a.challenge(m, realm, qop, flags&FlagChallengeStale != 0, k)
		if herr != nil {
			return Error, herr
		}
		m.ReplyHeaders = append(m.ReplyHeaders, hdrs...)
	}
	return res, err
}

// PVAuthCheck is pv_auth_check: PVAuthenticate with the kind of the
// request (WWW for REGISTER), then with checks 1 the identity check.
func (a *Auth) PVAuthCheck(ctx context.Context, m *core.Msg, realm, password string, flags, checks int) (Result, error) {
	if unchallengeable(m.Req) {
		return OK, nil
	}
	res, err := a.PVAuthenticate(ctx, m, realm, password, flags, KindOf(m.Req), "")
	if res == OK && checks&1 != 0 {
		return CheckIdentity(m, false, a.UseDomain), nil
	}
	return res, err
}

// PVClasses provides $au, $aU, $ad and $ar: the identity of the last
// successful authentication of the request ($null before one). They are
// plain names without an inner part, so the pv module asks for them with
// inner "".
func (a *Auth) PVClasses() map[string]core.PVClass {
	field := func(get func(Identity) string) core.PVClass {
		return func(m *core.Msg, _ string, _ int) any {
			id, ok := Authenticated(m)
			if !ok {
				return nil
			}
			if v := get(id); v != "" {
				return v
			}
			return nil
		}
	}
	return map[string]core.PVClass{
		"au": field(func(id Identity) string { return id.User }),
		"aU": field(func(id Identity) string { return id.Username }),
		"ad": field(func(id Identity) string { return id.Domain }),
		"ar": field(func(id Identity) string { return id.Realm }),
	}
}
