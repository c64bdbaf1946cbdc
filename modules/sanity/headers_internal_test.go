package sanity

import (
	"strings"
	"testing"

	"github.com/locus-sip/locus/internal/ascii"
)

// kindByRule is kindOf written as the rule it implements, one name at a
// time: equal to a kind's name in ASCII (exact), or, with non-ASCII bytes
// and longer, equal under Unicode case folding.
func kindByRule(n string) (kind, bool) {
	for k := kFrom; k < numKinds; k++ {
		for _, want := range kindNames[k] {
			if ascii.EqualFoldLower(n, want) {
				return k, true
			}
		}
	}
	for k := kFrom; k < numKinds; k++ {
		for _, want := range kindNames[k] {
			if len(n) > len(want) && !isASCII(n) && strings.EqualFold(n, want) {
				return k, false
			}
		}
	}
	return other, false
}

func TestKindOf(t *testing.T) {
	cases := []struct {
		name  string
		kind  kind
		exact bool
	}{
		{"From", kFrom, true}, {"f", kFrom, true}, {"F", kFrom, true},
		{"TO", kTo, true}, {"t", kTo, true},
		{"Call-ID", kCallID, true}, {"i", kCallID, true},
		{"CSeq", kCSeq, true}, {"cseq", kCSeq, true},
		{"Content-Length", kContentLength, true}, {"l", kContentLength, true},
		{"Expires", kExpires, true},
		{"Proxy-Require", kProxyRequire, true},
		{"Contact", kContact, true}, {"m", kContact, true},
		{"Authorization", kAuthorization, true},
		{"Proxy-Authorization", kProxyAuthorization, true},
		// Same lengths as the names above, other names.
		{"Via", other, false}, {"v", other, false}, {"Call-IE", other, false}, {"Require", other, false},
		{"Allow-Events", other, false}, {"Content-Type", other, false}, {"Max-Forwards", other, false},
		{"Authentication", other, false}, {"Proxy-Authenticate", other, false}, {"", other, false},
		// Non-ASCII names that fold to a kind's name: of the kind, not exact.
		{"C\u017feq", kCSeq, false},          // long s
		{"Expire\u017f", kExpires, false},    // long s
		{"Call-\u0130D", other, false},       // dotted capital I does not fold to i
		{"Con\u0074act\u200b", other, false}, // a zero-width space is no letter
	}
	for _, c := range cases {
		k, exact := kindOf(c.name)
		if k != c.kind || exact != c.exact {
			t.Errorf("kindOf(%q) = %d, %v; want %d, %v", c.name, k, exact, c.kind, c.exact)
		}
		if rk, rexact := kindByRule(c.name); rk != k || rexact != exact {
			t.Errorf("kindOf(%q) = %d, %v; the rule says %d, %v", c.name, k, exact, rk, rexact)
		}
	}
}

// FuzzKindOf holds kindOf to the rule for any name.
func FuzzKindOf(f *testing.F) {
	for k := kFrom; k < numKinds; k++ {
		for _, n := range kindNames[k] {
			f.Add(n)
			f.Add(strings.ToUpper(n))
		}
	}
	f.Add("C\u017feq")
	f.Add("\u212aontact")
	f.Fuzz(func(t *testing.T, n string) {
		k, exact := kindOf(n)
		if rk, rexact := kindByRule(n); rk != k || rexact != exact {
			t.Fatalf("kindOf(%q) = %d, %v; the rule says %d, %v", n, k, exact, rk, rexact)
		}
	})
}
