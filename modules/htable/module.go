// Package htable is locus's shared-table module: KSR.htable, after
// Kamailio's htable module. Named in-memory tables, shared by all requests
// and every script generation, hold strings and integers with optional
// expiry: ban lists, counters of failed attempts, per-user limits.
package htable

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/locus-sip/locus/core"
)

func init() {
	core.RegisterModule(core.ModuleInfo{Name: "htable", New: func() core.Module { return New() }})
}

// Defaults of the configuration.
const (
	DefaultTimerInterval = 20     // seconds between sweeps of expired items
	DefaultSize          = 4      // 2^4 lock shards
	DefaultMaxItems      = 100000 // items per table
	maxSize              = 8      // at most 256 lock shards
)

// TableConfig is one table of modules.htable.tables.
type TableConfig struct {
	// Name is the table's name in KSR.htable calls and $sht(name=>key).
	Name string `yaml:"name"`
	// Size is Kamailio's size: the table has 2^size slots; locus uses
	// them as lock shards (at most 2^8).
	Size int `yaml:"size"`
	// MaxItems bounds the items; setting a new item in a full table fails.
	MaxItems int `yaml:"max_items"`
	// AutoExpire is the lifetime in seconds of an item after it is set
	// (0: items never expire).
	AutoExpire int `yaml:"autoexpire"`
	// UpdateExpire restarts an item's lifetime when it is updated
	// (default true).
	UpdateExpire *bool `yaml:"updateexpire"`
	// InitVal is the integer a missing item reads as.
	InitVal *int64 `yaml:"initval"`
	// Values are loaded into the table at start: strings or integers.
	Values map[string]any `yaml:"values"`
}

// HTable is the htable module.
type HTable struct {
	// Tables are the tables scripts may use.
	Tables []TableConfig `yaml:"tables"`
	// TimerInterval is the period in seconds of the sweep that removes
	// expired items (reads ignore them at once).
	TimerInterval int `yaml:"timer_interval"`

	log    *slog.Logger
	tables map[string]*Table
	regex  regexCache
	now    func() time.Time

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// New returns the module with its defaults, unprovisioned.
func New() *HTable { return &HTable{TimerInterval: DefaultTimerInterval} }

// Provision checks the configuration, builds the tables and loads their
// initial values.
func (h *HTable) Provision(_ context.Context, host *core.Host) error {
	h.log = host.Log
	if err := h.Validate(); err != nil {
		return err
	}
	if err := h.build(); err != nil {
		return err
	}
	registerMetrics(host.Metrics, h)
	return nil
}

// build creates the tables of the configuration.
func (h *HTable) build() error {
	if h.now == nil {
		h.now = time.Now
	}
	h.tables = map[string]*Table{}
	for i, c := range h.Tables {
		size := c.Size
		if size == 0 {
			size = DefaultSize
		}
		max := c.MaxItems
		if max == 0 {
			max = DefaultMaxItems
		}
		t := NewTable(c.Name, Options{
			Shards:     1 << min(size, maxSize),
			MaxItems:   max,
			AutoExpire: time.Duration(c.AutoExpire) * time.Second,
			KeepExpire: c.UpdateExpire != nil && !*c.UpdateExpire,
			InitVal:    c.InitVal,
			Now:        h.now,
		})
		keys := make([]string, 0, len(c.Values))
		for k := range c.Values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, _ := toValue(c.Values[k])
			if err := t.Set(k, v); err != nil {
				return fmt.Errorf("htable: tables[%d].values: %w (max_items %d)", i, err, max)
			}
		}
		h.tables[c.Name] = t
	}
	return nil
}

// toValue converts a YAML value into an item value.
func toValue(v any) (Value, bool) {
	switch x := v.(type) {
	case string:
		return Str(x), true
	case int:
		return Int(int64(x)), true
	case int64:
		return Int(x), true
	case uint64:
		if x <= 1<<63-1 {
			return Int(int64(x)), true
		}
	}
	return Value{}, false
}

// Validate checks the configuration.
func (h *HTable) Validate() error {
	if h.TimerInterval <= 0 {
		return fmt.Errorf("htable: timer_interval %d: must be at least 1 (seconds)", h.TimerInterval)
	}
	seen := map[string]int{}
	for i, c := range h.Tables {
		switch {
		case c.Name == "":
			return fmt.Errorf("htable: tables[%d].name is missing", i)
		case len(c.Name) > 64 || !validName(c.Name):
			return fmt.Errorf("htable: tables[%d].name %q: use letters, digits, '_', '-' and '.'", i, c.Name)
		case c.Size < 0 || c.Size > 31:
			return fmt.Errorf("htable: tables[%d].size %d: want 0 (default %d) to 31", i, c.Size, DefaultSize)
		case c.MaxItems < 0:
			return fmt.Errorf("htable: tables[%d].max_items %d: must not be negative", i, c.MaxItems)
		case c.AutoExpire < 0:
			return fmt.Errorf("htable: tables[%d].autoexpire %d: must not be negative", i, c.AutoExpire)
		}
		if j, dup := seen[c.Name]; dup {
			return fmt.Errorf("htable: tables[%d].name %q: already the name of tables[%d]", i, c.Name, j)
		}
		seen[c.Name] = i
		max := c.MaxItems
		if max == 0 {
			max = DefaultMaxItems
		}
		if len(c.Values) > max {
			return fmt.Errorf("htable: tables[%d].values: %d items above max_items %d", i, len(c.Values), max)
		}
		for k, v := range c.Values {
			if _, ok := toValue(v); !ok {
				return fmt.Errorf("htable: tables[%d].values.%s: %v is not a string or an integer", i, k, v)
			}
		}
	}
	return nil
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Start runs the sweeper that removes expired items.
func (h *HTable) Start(ctx context.Context) error {
	ctx, h.stop = context.WithCancel(ctx)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		tick := time.NewTicker(time.Duration(h.TimerInterval) * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				h.Sweep()
			}
		}
	}()
	return nil
}

// Sweep removes the expired items of every table.
func (h *HTable) Sweep() {
	for _, t := range h.tables {
		t.Sweep()
	}
}

// Cleanup stops the sweeper.
func (h *HTable) Cleanup() error {
	if h.stop != nil {
		h.stop()
		h.wg.Wait()
	}
	return nil
}

// Table returns a table by name.
func (h *HTable) Table(name string) (*Table, bool) {
	t, ok := h.tables[name]
	return t, ok
}

// Interface guards.
var (
	_ core.Provisioner  = (*HTable)(nil)
	_ core.Validator    = (*HTable)(nil)
	_ core.Starter      = (*HTable)(nil)
	_ core.CleanerUpper = (*HTable)(nil)
	_ core.LuaExporter  = (*HTable)(nil)
	_ core.PVProvider   = (*HTable)(nil)
)

// NewWithTables returns a ready module over the given tables and clock
// (nil: time.Now), without the sweeper, for tests and tools.
func NewWithTables(now func() time.Time, tables ...TableConfig) (*HTable, error) {
	h := &HTable{Tables: tables, TimerInterval: DefaultTimerInterval, now: now, log: slog.New(slog.DiscardHandler)}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	if err := h.build(); err != nil {
		return nil, err
	}
	return h, nil
}
