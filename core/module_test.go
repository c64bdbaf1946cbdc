package core

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The registry is process-wide; these tests use names no real module has.

type lifecycleMod struct {
	Limit    int `yaml:"limit"`
	steps    *[]string
	failProv bool
}

func (m *lifecycleMod) Provision(ctx context.Context, h *Host) error {
	*m.steps = append(*m.steps, "provision")
	if m.failProv {
		return errors.New("no")
	}
	return nil
}
func (m *lifecycleMod) Validate() error {
	*m.steps = append(*m.steps, "validate")
	if m.Limit < 0 {
		return errors.New("limit must not be negative")
	}
	return nil
}
func (m *lifecycleMod) Start(ctx context.Context) error {
	*m.steps = append(*m.steps, "start")
	return nil
}
func (m *lifecycleMod) Cleanup() error { *m.steps = append(*m.steps, "cleanup"); return nil }

func TestRegisterModulePanics(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Fatalf("%s: no panic", name)
			}
		}()
		f()
	}
	mustPanic("empty name", func() { RegisterModule(ModuleInfo{New: func() Module { return nil }}) })
	mustPanic("no constructor", func() { RegisterModule(ModuleInfo{Name: "zz-noctor"}) })
	RegisterModule(ModuleInfo{Name: "zz-dup", New: func() Module { return struct{}{} }})
	mustPanic("duplicate", func() { RegisterModule(ModuleInfo{Name: "zz-dup", New: func() Module { return struct{}{} }}) })
}

func TestLoadModulesLifecycle(t *testing.T) {
	var steps []string
	var last *lifecycleMod
	var fail bool
	RegisterModule(ModuleInfo{Name: "zz-life", New: func() Module {
		last = &lifecycleMod{Limit: 1, steps: &steps, failProv: fail}
		return last
	}})
	load := func(src string) (*Host, error) {
		var cfg Config
		if err := ParseConfig([]byte(src), &cfg); err != nil {
			t.Fatal(err)
		}
		return LoadModules(context.Background(), &cfg, slog.New(slog.DiscardHandler))
	}

	h, err := load("modules:\n  zz-life: {limit: 7}\n")
	if err != nil {
		t.Fatal(err)
	}
	if last.Limit != 7 {
		t.Fatalf("config not decoded: limit=%d", last.Limit)
	}
	if got := strings.Join(steps, ","); got != "provision,validate,start" {
		t.Fatalf("steps = %s", got)
	}
	if m, ok := h.Module("zz-life"); !ok || m != Module(last) {
		t.Fatal("Host.Module does not find the module")
	}
	if err := h.Cleanup(); err != nil || steps[len(steps)-1] != "cleanup" {
		t.Fatalf("cleanup: %v %v", err, steps)
	}

	steps = nil
	if _, err := load("modules:\n  zz-life: {limt: 7}\n"); err == nil || !strings.Contains(err.Error(), "limt") {
		t.Fatalf("unknown module key: %v", err)
	}
	if _, err := load("modules:\n  zz-nosuch: {}\n"); err == nil || !strings.Contains(err.Error(), "zz-nosuch") {
		t.Fatalf("unknown module: %v", err)
	}
	steps = nil
	if _, err := load("modules:\n  zz-life: {limit: -1}\n"); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Fatalf("validate: %v", err)
	}
	if steps[len(steps)-1] != "cleanup" {
		t.Fatalf("no cleanup after failed validate: %v", steps)
	}
	steps, fail = nil, true
	if _, err := load(""); err == nil || steps[len(steps)-1] != "cleanup" {
		t.Fatalf("failed provision: err=%v steps=%v", err, steps)
	}
}

func TestDecodeStrictEmptyNode(t *testing.T) {
	var m lifecycleMod
	if err := decodeStrict(yaml.Node{}, &m); err != nil {
		t.Fatal(err)
	}
}
