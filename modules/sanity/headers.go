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
// all the checks of a run instead of once per check and header.
type headers struct {
	list []sip.Header
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

func (hs *headers) init(req *sip.Request) {
	hs.list = req.Headers()
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

// kindOf tells a header's kind by its name: one of the kind's names in
// ASCII, any case (exact); or, for a name with non-ASCII bytes, longer
// than the kind's name, equal to it under Unicode case folding
// (strings.EqualFold: only such a name can fold to a shorter one, as K
// and ſ do).
func kindOf(n string) (k kind, exact bool) {
	var a, b kind // the kinds with a name of n's length
	switch len(n) {
	case 1:
		switch n[0] | 0x20 {
		case 'f':
			return kFrom, true
		case 't':
			return kTo, true
		case 'i':
			return kCallID, true
		case 'l':
			return kContentLength, true
		case 'm':
			return kContact, true
		}
	case 2:
		a = kTo
	case 4:
		a, b = kFrom, kCSeq
	case 7:
		switch n[0] | 0x20 {
		case 'c':
			a, b = kCallID, kContact
		case 'e':
			a = kExpires
		}
	case 13:
		a, b = kProxyRequire, kAuthorization
	case 14:
		a = kContentLength
	case 19:
		a = kProxyAuthorization
	}
	for _, k := range [2]kind{a, b} {
		if k != other && ascii.EqualFoldLower(n, kindNames[k][0]) {
			return k, true
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
