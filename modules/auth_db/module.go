// Package authdb is locus's auth_db module: KSR.auth_db, after Kamailio's
// auth_db module. It checks digest credentials with the auth module
// against a credential source named by a DSN (db_url): an htdigest-style
// file today; SQL and Redis sources register their schemes with
// RegisterSource.
package authdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/auth"
)

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "auth_db", New: func() core.Module { return New() }})
}

// DefaultFile is the credentials file when db_url is not configured, and
// the file "locus users" edits by default.
const DefaultFile = "users.htdigest"

// DefaultDBURL is db_url when the configuration says nothing.
const DefaultDBURL = "file:" + DefaultFile

// AuthDB is the auth_db module.
type AuthDB struct {
	// DBURL names the credential source: "file:PATH".
	DBURL string `yaml:"db_url"`
	// UseDomain makes auth_check's identity check compare the From and
	// To hosts too.
	UseDomain bool `yaml:"use_domain"`

	auth *auth.Auth
	src  Credentials
	log  *slog.Logger
}

// New returns the module with its defaults, unprovisioned.
func New() *AuthDB { return &AuthDB{DBURL: DefaultDBURL} }

// NewWithSource returns a ready module over a and src, for tests and
// tools.
func NewWithSource(a *auth.Auth, src Credentials, log *slog.Logger) *AuthDB {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &AuthDB{DBURL: "custom:", auth: a, src: src, log: log}
}

// Provision finds the auth module and opens the credential source.
func (d *AuthDB) Provision(ctx context.Context, h *core.Host) error {
	d.log = h.Log
	m, ok := h.Module("auth")
	if !ok {
		return errors.New("auth_db: the auth module is not compiled in")
	}
	if d.auth, ok = m.(*auth.Auth); !ok {
		return errors.New("auth_db: auth is not the auth module")
	}
	src, err := Open(ctx, d.DBURL, d.log)
	if err != nil {
		return err
	}
	d.src = src
	if f, ok := src.(*File); ok {
		switch {
		case f.Loaded():
			d.log.Info("auth_db: credentials loaded", "file", f.Path(), "entries", f.Len())
		case d.DBURL != DefaultDBURL:
			d.log.Warn("auth_db: credentials file does not exist yet: every user is unknown until it is created",
				"file", f.Path())
		}
	}
	return nil
}

// Validate checks the configuration.
func (d *AuthDB) Validate() error {
	if d.DBURL == "" {
		return fmt.Errorf("auth_db: db_url is empty (the default is %s)", DefaultDBURL)
	}
	return nil
}

// Start follows changes of the source (the file source's watcher).
func (d *AuthDB) Start(ctx context.Context) error {
	if w, ok := d.src.(Watcher); ok {
		return w.Watch(ctx)
	}
	return nil
}

// Reload reloads the source on demand (SIGHUP, admin API), if it can.
func (d *AuthDB) Reload() (bool, error) {
	if r, ok := d.src.(Reloader); ok {
		return r.Reload()
	}
	return false, nil
}

// Source is the credential source.
func (d *AuthDB) Source() Credentials { return d.src }

// Cleanup closes the source.
func (d *AuthDB) Cleanup() error {
	if d.src != nil {
		return d.src.Close()
	}
	return nil
}

// Interface guards.
var (
	_ core.Provisioner  = (*AuthDB)(nil)
	_ core.Validator    = (*AuthDB)(nil)
	_ core.Starter      = (*AuthDB)(nil)
	_ core.CleanerUpper = (*AuthDB)(nil)
	_ core.LuaExporter  = (*AuthDB)(nil)
)
