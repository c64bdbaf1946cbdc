package ascii

import "testing"

func TestEqualFoldLower(t *testing.T) {
	for _, c := range []struct {
		s, lower string
		want     bool
	}{
		{"Via", "via", true},
		{"VIA", "via", true},
		{"via", "via", true},
		{"Vi", "via", false},
		{"Vias", "via", false},
		{"Vla", "via", false},
		{"\u212a", "k", false}, // the Kelvin sign is not k
		{"", "", true},
		{"Content-Length", "content-length", true},
		{"Content_Length", "content-length", false},
	} {
		if got := EqualFoldLower(c.s, c.lower); got != c.want {
			t.Errorf("EqualFoldLower(%q, %q) = %v", c.s, c.lower, got)
		}
	}
}
