package sanity

import (
	"iter"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/internal/ascii"
)

// kind is what a header is to the checks, told by its name.
type kind uint8

const (
	other kind = iota
	kFrom
	kTo
	kCallID
	kCSeq
	kContentLength
	kExpires
	kProxyRequire
	kContact
	kAuthorization
	kProxyAuthorization
	numKinds
)

// kindNames are the lower-case names of each kind, full and compact.
var kindNames = [numKinds][]string{
	kFrom:               {"from", "f"},
	kTo:                 {"to", "t"},
	kCallID:             {"call-id", "i"},
	kCSeq:               {"cseq"},
	kContentLength:      {"content-length", "l"},
	kExpires:            {"expires"},
	kProxyRequire:       {"proxy-require"},
	kContact:            {"contact", "m"},
	kAuthorization:      {"authorization"},
	kProxyAuthorization: {"proxy-authorization"},
}

// headers is a request's headers with the kind of each, found once for
// all the checks of a run instead of once per check and header. The kinds
// are found on first use: a run of checks that looks for no header by
// name pays nothing.
type headers struct {
	req    *sip.Request
	sorted bool
	list   []sip.Header
	// kinds[i] is list[i]'s, more[i] list[len(kinds)+i]'s. Kept in place
	// rather than behind a slice of its own, so that a headers value can
	// stay on its caller's stack.
	kinds [32]kind
	more  []kind
	// exact counts the headers of each kind named exactly (in ASCII, any
	// case); a name with other bytes that folds to one of the kind's
	// (Unicode case folding) is of the kind but not counted.
	exact [numKinds]int
}

func (hs *headers) sort() {
	if hs.sorted {
		return
	}
	hs.sorted = true
	hs.list = hs.req.Headers()
	for i, h := range hs.list {
		k, exact := kindOf(h.Name())
		if i < len(hs.kinds) {
			hs.kinds[i] = k
		} else {
			hs.more = append(hs.more, k)
		}
		if exact {
			hs.exact[k]++
		}
	}
}

// kind is list[i]'s kind.
func (hs *headers) kind(i int) kind {
	if i < len(hs.kinds) {
		return hs.kinds[i]
	}
	return hs.more[i-len(hs.kinds)]
}

// count is the number of headers of kind k named exactly.
func (hs *headers) count(k kind) int {
	hs.sort()
	return hs.exact[k]
}

// named lists, by length, the lower-case names of kindNames with their
// kinds.
type named struct {
	name string
	kind kind
}

var byLength = func() (t [20][]named) {
	for k := kFrom; k < numKinds; k++ {
		for _, n := range kindNames[k] {
			t[len(n)] = append(t[len(n)], named{n, k})
		}
	}
	return t
}()

// kindOf tells a header's kind by its name: one of the kind's names in
// ASCII, any case (exact); or, for a name with non-ASCII bytes, longer
// than the kind's name, equal to it under Unicode case folding
// (strings.EqualFold: only such a name can fold to a shorter one, as K
// and ſ do).
func kindOf(n string) (k kind, exact bool) {
	if len(n) < len(byLength) {
		for _, c := range byLength[len(n)] {
			if ascii.EqualFoldLower(n, c.name) {
				return c.kind, true
			}
		}
	}
	if isASCII(n) {
		return other, false
	}
	for k := kFrom; k < numKinds; k++ {
		for _, want := range kindNames[k] {
			if len(n) > len(want) && strings.EqualFold(n, want) {
				return k, false
			}
		}
	}
	return other, false
}

// first returns the first header of kind k, or nil.
func (hs *headers) first(k kind) sip.Header {
	hs.sort()
	for i, h := range hs.list {
		if hs.kind(i) == k {
			return h
		}
	}
	return nil
}

// all yields the headers of kind a or b, in order.
func (hs *headers) all(a, b kind) iter.Seq[sip.Header] {
	return func(yield func(sip.Header) bool) {
		hs.sort()
		for i, h := range hs.list {
			if k := hs.kind(i); (k == a || k == b) && !yield(h) {
				return
			}
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
