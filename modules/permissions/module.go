// Package permissions is locus's address-group module: KSR.permissions,
// after the address part of Kamailio's permissions module. Groups of IP
// networks and ports, from the configuration and from a file reloaded
// when it changes, answer "may this source do this?".
package permissions

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/internal/filewatch"
)

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "permissions", New: func() core.Module { return New() }})
}

// maxFileSize bounds the groups file.
const maxFileSize = 16 << 20

// Debounce is how long the watcher waits after the last change in the
// file's directory before reloading.
const Debounce = filewatch.Debounce

// Permissions is the permissions module.
type Permissions struct {
	// Groups are address groups by number: each entry an address or a
	// network, optionally with a port.
	Groups map[int][]string `yaml:"groups"`
	// File is an address groups file ("group address" lines) added to
	// Groups, reloaded when it changes.
	File string `yaml:"file"`
	// Watch reloads File when it changes (default true).
	Watch *bool `yaml:"watch"`

	log     *slog.Logger
	static  map[int][]Rule
	tab     atomic.Pointer[Table]
	metrics *metrics

	mu      sync.Mutex // serialises loads
	sum     [sha256.Size]byte
	loaded  bool
	watcher *filewatch.Watcher
}

// New returns the module with its defaults, unprovisioned.
func New() *Permissions { return &Permissions{} }

// NewWithTable returns a ready module over a table, for tests and tools.
func NewWithTable(t *Table, log *slog.Logger) *Permissions {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Permissions{log: log}
	p.tab.Store(t)
	return p
}

// Provision parses the groups and loads the file.
func (p *Permissions) Provision(_ context.Context, h *core.Host) error {
	p.log = h.Log
	p.metrics = newMetrics(h.Metrics, p)
	static, err := parseGroups(p.Groups)
	if err != nil {
		return err
	}
	p.static = static
	if p.File == "" {
		p.tab.Store(Compile(static))
		return nil
	}
	if _, err := p.Reload(); err != nil {
		return err
	}
	p.log.Info("permissions: address groups loaded", "file", p.File, "rules", p.Table().Len())
	return nil
}

// parseGroups reads the groups of the configuration; errors name the key.
func parseGroups(groups map[int][]string) (map[int][]Rule, error) {
	ids := make([]int, 0, len(groups))
	for id := range groups {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	out := map[int][]Rule{}
	for _, id := range ids {
		if id < 0 {
			return nil, fmt.Errorf("permissions: groups.%d: group numbers are 0 or above", id)
		}
		for i, s := range groups[id] {
			r, err := ParseRule(s)
			if err != nil {
				return nil, fmt.Errorf("permissions: groups.%d[%d]: %w", id, i, err)
			}
			out[id] = append(out[id], r)
		}
	}
	return out, nil
}

// Validate checks the configuration.
func (p *Permissions) Validate() error {
	if p.Watch != nil && *p.Watch && p.File == "" {
		return errors.New("permissions: watch is set but file is not")
	}
	return nil
}

// Table is the address groups in use.
func (p *Permissions) Table() *Table { return p.tab.Load() }

// Reload reads the file again and, if its content changed and parses,
// swaps in the groups of the configuration and the file. On any error
// the groups in use stay (and the error is logged once locus runs).
func (p *Permissions) Reload() (changed bool, err error) {
	if p.File == "" {
		return false, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	changed, err = p.load()
	if p.metrics != nil {
		p.metrics.reloaded(changed, err)
	}
	switch {
	case err != nil && p.loaded:
		p.log.Error("permissions: address groups file refused, previous groups kept", "file", p.File, "error", err)
	case changed && p.loaded:
		p.log.Info("permissions: address groups reloaded", "file", p.File, "rules", p.Table().Len())
	}
	if err == nil {
		p.loaded = true
	}
	return changed, err
}

func (p *Permissions) load() (bool, error) {
	b, err := readFile(p.File)
	if err != nil {
		return false, fmt.Errorf("permissions: file: %w", err)
	}
	sum := sha256.Sum256(b)
	if p.loaded && sum == p.sum {
		return false, nil
	}
	fromFile, err := ParseFile(bytes.NewReader(b))
	if err != nil {
		return false, fmt.Errorf("permissions: file %s: %w", p.File, err)
	}
	merged := map[int][]Rule{}
	for id, rs := range p.static {
		merged[id] = append(merged[id], rs...)
	}
	for id, rs := range fromFile {
		merged[id] = append(merged[id], rs...)
	}
	p.tab.Store(Compile(merged))
	p.sum = sum
	return true, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxFileSize>>20)
	}
	return b, nil
}

// Start watches the file, unless watch is false.
func (p *Permissions) Start(ctx context.Context) error {
	if p.File == "" || p.Watch != nil && !*p.Watch {
		return nil
	}
	return p.watch(ctx)
}

// watch reloads the file when it changes, until ctx ends or Cleanup.
func (p *Permissions) watch(ctx context.Context) error {
	w, err := filewatch.Start(ctx, p.File, p.log, "permissions: file watcher", func() {
		_, _ = p.Reload() // logs its outcome
	})
	if err != nil {
		return fmt.Errorf("permissions: %w", err)
	}
	p.mu.Lock()
	p.watcher = w
	p.mu.Unlock()
	return nil
}

// Cleanup stops the watcher.
func (p *Permissions) Cleanup() error {
	p.mu.Lock()
	w := p.watcher
	p.watcher = nil
	p.mu.Unlock()
	w.Close()
	return nil
}

// Interface guards.
var (
	_ core.Provisioner  = (*Permissions)(nil)
	_ core.Validator    = (*Permissions)(nil)
	_ core.Starter      = (*Permissions)(nil)
	_ core.CleanerUpper = (*Permissions)(nil)
	_ core.LuaExporter  = (*Permissions)(nil)
)
