package permissions_test

import (
	"net/netip"
	"testing"

	"github.com/locus-sip/locus/core"
)

func netipParse(s string) (netip.Addr, error) { return netip.ParseAddr(s) }

// counter reads a counter with one label value from the host's registry.
func counter(t *testing.T, h *core.Host, name, label string) float64 {
	t.Helper()
	mfs, err := h.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
