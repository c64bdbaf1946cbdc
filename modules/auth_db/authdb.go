package authdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/auth"
)

// Credentials is a credential source: Kamailio's subscriber table. The
// file source is built in; SQL and Redis sources register their DSN
// schemes with RegisterSource. Implementations are safe for concurrent
// use.
type Credentials interface {
	// HA1 returns the HA1 (lower-case hex) of username in realm for hash
	// (auth.MD5, auth.SHA256 or auth.SHA512_256) from table; ok is false
	// when there is no such user, or no HA1 for that hash. err is only
	// for a source that cannot answer (a database down): an unknown user
	// is not an error.
	HA1(ctx context.Context, table, username, realm string, hash auth.Algorithm) (ha1 string, ok bool, err error)
	// Subscriber reports whether username exists in table, in domain
	// (the realm column) unless domain is "".
	Subscriber(ctx context.Context, table, username, domain string) (bool, error)
	// Close releases the source.
	Close() error
}

// Watcher is a source that follows changes in the background (the file
// source reloads when its file changes), started by the module's Start.
type Watcher interface {
	Watch(ctx context.Context) error
}

// Reloader is a source that can be reloaded on demand (SIGHUP, admin API).
type Reloader interface {
	Reload() (changed bool, err error)
}

// Opener opens a credential source from a DSN.
type Opener func(ctx context.Context, dsn string, log *slog.Logger) (Credentials, error)

var (
	openersMu sync.RWMutex
	openers   = map[string]Opener{}
)

// RegisterSource makes a credential source available under a DSN scheme
// ("file", "sqlite", "redis", ...). It is meant to be called from init
// and panics on an empty or duplicate scheme.
func RegisterSource(scheme string, open Opener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	if scheme == "" || open == nil {
		panic("auth_db: RegisterSource with an empty scheme or a nil opener")
	}
	if _, dup := openers[scheme]; dup {
		panic(fmt.Sprintf("auth_db: source scheme %q registered twice", scheme))
	}
	openers[scheme] = open
}

// Open opens the source a DSN names: "scheme:rest" or "scheme://rest".
func Open(ctx context.Context, dsn string, log *slog.Logger) (Credentials, error) {
	scheme, _, ok := strings.Cut(dsn, ":")
	if !ok || scheme == "" {
		return nil, errors.New("auth_db: db_url: want scheme:..., e.g. file:users.htdigest")
	}
	openersMu.RLock()
	open, ok := openers[scheme]
	var known []string
	for s := range openers {
		known = append(known, s)
	}
	openersMu.RUnlock()
	if !ok {
		sort.Strings(known)
		// The DSN is not quoted: it may hold a database password.
		return nil, fmt.Errorf("auth_db: db_url: unknown scheme %.32q (compiled in: %s)", scheme, strings.Join(known, ", "))
	}
	c, err := open(ctx, dsn, log)
	if err != nil {
		return nil, fmt.Errorf("auth_db: open %s: %w", scheme, err)
	}
	return c, nil
}

// tableSource binds a credential source and a table for auth.
type tableSource struct {
	c     Credentials
	table string
}

func (s tableSource) HA1(ctx context.Context, username, realm string, hash auth.Algorithm) (string, bool, error) {
	return s.c.HA1(ctx, s.table, username, realm, hash)
}

// Authenticate is www_authenticate (k auth.WWW) and proxy_authenticate
// (auth.Proxy): the credentials of m for realm checked against table.
// method replaces the request's method in the digest when not "".
func (d *AuthDB) Authenticate(ctx context.Context, m *core.Msg, realm, table string, k auth.Kind, method string) (auth.Result, error) {
	if table == "" {
		return auth.Error, errors.New("auth_db: empty table name")
	}
	return d.auth.Authenticate(ctx, m, realm, k, method, tableSource{d.src, table})
}

// Check flags of auth_check.
const (
	FlagCheckID      = 1 // the authentication user must be the From/To user
	FlagSkipFwdCheck = 2 // with FlagCheckID: not for INVITE, BYE, PRACK, UPDATE, MESSAGE
)

// AuthCheck is auth_check: Authenticate with the headers of a REGISTER
// (Authorization) or of any other request (Proxy-Authorization), then
// with FlagCheckID the identity check (-8 on a mismatch). ACK and CANCEL
// pass unchecked, as in Kamailio.
func (d *AuthDB) AuthCheck(ctx context.Context, m *core.Msg, realm, table string, flags int) (auth.Result, error) {
	if m.Req.Method == sip.ACK || m.Req.Method == sip.CANCEL {
		return auth.OK, nil
	}
	res, err := d.Authenticate(ctx, m, realm, table, auth.KindOf(m.Req), "")
	if res == auth.OK && flags&FlagCheckID != 0 {
		return auth.CheckIdentity(m, flags&FlagSkipFwdCheck != 0, d.UseDomain), nil
	}
	return res, err
}

// Flags of is_subscriber.
const (
	FlagSubscriberDomain = 1 // match the URI's host against the realm too
	FlagSubscriberNoLoad = 2 // Kamailio: do not load credential attributes (locus loads none)
)

// IsSubscriber is is_subscriber: whether the user of uri exists in table
// (in the URI's domain with FlagSubscriberDomain).
func (d *AuthDB) IsSubscriber(ctx context.Context, uri, table string, flags int) (bool, error) {
	if table == "" {
		return false, errors.New("auth_db: empty table name")
	}
	if d.src == nil {
		return false, errors.New("auth_db: no credential source (module not provisioned)")
	}
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		return false, fmt.Errorf("auth_db: is_subscriber: bad URI: %w", err)
	}
	if u.User == "" {
		return false, nil
	}
	domain := ""
	if flags&FlagSubscriberDomain != 0 {
		domain = u.Host
	}
	return d.src.Subscriber(ctx, table, u.User, domain)
}
