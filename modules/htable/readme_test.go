package htable_test

import (
	"os"
	"strings"
	"testing"

	"github.com/locus-sip/locus/core/coretest"
	"github.com/locus-sip/locus/modules/htable"
)

// TestREADME loads the README's configuration and runs its example: three
// failed attempts lock the user out.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m, err := coretest.LoadModule(t, coretest.Fences(t, string(b), "yaml")[0], "htable")
	if err != nil {
		t.Fatalf("README configuration: %v", err)
	}
	h := m.(*htable.HTable)
	if tab, ok := h.Table("limits"); !ok || tab.Len() != 2 {
		t.Fatalf("limits table not loaded")
	}
	srcs := coretest.CheckREADME(t, "README.md", "htable", h.LuaExports())
	rt := coretest.Runtime(t, srcs[0], exports(h)...)
	with := func(auth string) string {
		return strings.Replace(coretest.Register, "Expires:", "Authorization: "+auth+"\nExpires:", 1)
	}
	steps := []struct {
		raw  string
		code int
	}{
		{coretest.Register, 401},
		{with("bad"), 403},
		{with("good"), 200}, // success clears the count
		{with("bad"), 403},
		{with("bad"), 403},
		{with("bad"), 403},
		{with("good"), 403}, // locked out
	}
	for i, s := range steps {
		msg, rec := coretest.Msg(t, s.raw)
		if err := rt.Route(msg); err != nil {
			t.Fatal(err)
		}
		if rec.Code() != s.code {
			t.Fatalf("step %d: reply %d, want %d", i, rec.Code(), s.code)
		}
	}
}
