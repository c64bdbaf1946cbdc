package usrloc_test

import (
	"testing"
	"time"

	"github.com/locus-sip/locus/modules/usrloc"
)

func TestSplitExpired(t *testing.T) {
	now := time.Unix(1000, 0)
	bs := []usrloc.Binding{
		{Contact: "sip:a@x", Expires: now.Add(time.Second)},
		{Contact: "sip:b@x", Expires: now},                                   // expires at now: expired
		{Contact: "sip:c@x", Expires: now.Add(-time.Second), AOR: "sip:o@x"}, // its own AoR is kept
		{Contact: "sip:d@x", Expires: now.Add(time.Hour)},
	}
	prior := []usrloc.Expired{{Table: "t0"}}
	keep, gone := usrloc.SplitExpired(prior, "location", "sip:bob@x", bs, now)
	if len(keep) != 2 || keep[0].Contact != "sip:a@x" || keep[1].Contact != "sip:d@x" {
		t.Fatalf("keep = %+v, want a and d in order", keep)
	}
	if len(gone) != 3 || gone[0].Table != "t0" {
		t.Fatalf("gone = %+v, want the prior entry and two more", gone)
	}
	for i, want := range []struct{ uri, aor string }{{"sip:b@x", "sip:bob@x"}, {"sip:c@x", "sip:o@x"}} {
		g := gone[i+1]
		if g.Table != "location" || g.Binding.Contact != want.uri || g.Binding.AOR != want.aor {
			t.Errorf("gone[%d] = %+v, want %s of %s in location", i+1, g, want.uri, want.aor)
		}
	}
	if keep, gone := usrloc.SplitExpired(nil, "location", "sip:bob@x", nil, now); len(keep) != 0 || gone != nil {
		t.Errorf("no bindings: keep %v, gone %v", keep, gone)
	}
}
