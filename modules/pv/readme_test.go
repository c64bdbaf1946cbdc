package pv

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/sl"
)

// The README is part of the module: fixed sections, every pseudo-variable
// and function listed, and its Lua examples run.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile("README.md")
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
	if got, want := strings.Join(sections, ", "), "Name, Description, Configuration, Lua API, Events, Metrics, See also"; got != want {
		t.Errorf("sections: %s\nwant: %s", got, want)
	}
	for name := range names {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("README does not list %s", name)
		}
	}
	for _, f := range (&PV{}).LuaExports() {
		if !strings.Contains(doc, "KSR.pv."+f.Name+"(") {
			t.Errorf("README does not document KSR.pv.%s", f.Name)
		}
	}
	blocks := regexp.MustCompile("(?s)```lua\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatal("no Lua examples")
	}
	for i, blk := range blocks {
		src := "function ksr_request_route()\n" + blk[1] + "\nend\n"
		rt := coretest.Runtime(t, src, coretest.Export("pv", &PV{}), coretest.Export("sl", &sl.SL{}))
		m, _ := coretest.Msg(t, coretest.Register)
		if err := rt.Route(m); err != nil {
			t.Errorf("example %d: %v\n%s", i+1, err, blk[1])
		}
	}
}
