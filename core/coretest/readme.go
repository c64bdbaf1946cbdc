package coretest

import (
	"context"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/core/script"
)

// READMESections are the sections every module README has, in order.
const READMESections = "Name, Description, Configuration, Lua API, Events, Metrics, See also"

var luaBlock = regexp.MustCompile("(?s)```lua\n(.*?)```")

// CheckREADME checks a module's README: the fixed sections in order,
// every function of funcs documented as KSR.<module>.<name>(, and every
// Lua example compiling (a snippet is compiled as a route body). It
// returns the Lua examples for tests that also run them.
func CheckREADME(t *testing.T, path, module string, funcs []core.LuaFunc) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var sections []string
	for _, line := range strings.Split(doc, "\n") {
		if s, ok := strings.CutPrefix(line, "## "); ok {
			sections = append(sections, s)
		}
	}
	if got := strings.Join(sections, ", "); got != READMESections {
		t.Errorf("%s sections: %s\nwant: %s", path, got, READMESections)
	}
	for _, f := range funcs {
		if !strings.Contains(doc, "KSR."+module+"."+f.Name+"(") {
			t.Errorf("%s does not document KSR.%s.%s", path, module, f.Name)
		}
	}
	var examples []string
	for i, m := range luaBlock.FindAllStringSubmatch(doc, -1) {
		src := m[1]
		if !strings.Contains(src, "function ksr_") {
			src = "function ksr_request_route()\n" + src + "\nend\n"
		}
		if _, err := script.Compile([]byte(src), path); err != nil {
			t.Errorf("%s example %d: %v", path, i+1, err)
		}
		examples = append(examples, src)
	}
	return examples
}

// Fences returns the bodies of the README's ```lang blocks; none is a
// test failure.
func Fences(t testing.TB, md, lang string) []string {
	t.Helper()
	var out []string
	for _, m := range regexp.MustCompile("(?s)```"+lang+"\n(.*?)```").FindAllStringSubmatch(md, -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatalf("README has no %s block", lang)
	}
	return out
}

// LoadModule decodes the YAML configuration through the core as locus
// does (strictly), provisions, validates and starts every registered
// module, and returns the one named; the modules are cleaned up when the
// test ends.
func LoadModule(t testing.TB, yml, name string) (core.Module, error) {
	t.Helper()
	h, err := LoadModules(t, yml)
	if err != nil {
		return nil, err
	}
	m, ok := h.Module(name)
	if !ok {
		t.Fatalf("module %s not loaded", name)
	}
	return m, nil
}

// LoadModules is LoadModule returning the whole host.
func LoadModules(t testing.TB, yml string) (*core.Host, error) {
	t.Helper()
	var cfg core.Config
	if err := core.ParseConfig([]byte(yml), &cfg); err != nil {
		return nil, err
	}
	h, err := core.LoadModules(context.Background(), &cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	return h, nil
}
