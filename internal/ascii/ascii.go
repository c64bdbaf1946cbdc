// Package ascii holds the byte-level text helpers SIP's case-insensitive
// tokens need on hot paths, where strings.EqualFold's Unicode folding
// would both cost more and match more than SIP means.
package ascii

// EqualFoldLower reports whether s equals lower, a lower-case ASCII word,
// ignoring ASCII case, without making a lower-cased copy. Unlike
// strings.EqualFold it does not fold non-ASCII runes (the Kelvin sign
// stays distinct from k), as sipgo's header-name lowering does.
func EqualFoldLower(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// IndexAny returns the index of the first byte of s that is one of set,
// a few ASCII bytes, or -1: strings.IndexAny for the short sets of SIP's
// grammar, without building a lookup table per call.
func IndexAny(s, set string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		for j := 0; j < len(set); j++ {
			if c == set[j] {
				return i
			}
		}
	}
	return -1
}

// ContainsAny reports whether s holds one of the ASCII bytes of set.
func ContainsAny(s, set string) bool { return IndexAny(s, set) >= 0 }

// TrimSPHT returns s without its leading and trailing spaces and tabs
// (SIP's SP and HTAB): strings.Trim(s, " \t") without the byte set that
// call builds each time.
func TrimSPHT(s string) string { return TrimRightSPHT(TrimLeftSPHT(s)) }

// TrimLeftSPHT returns s without its leading spaces and tabs.
func TrimLeftSPHT(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

// TrimRightSPHT returns s without its trailing spaces and tabs.
func TrimRightSPHT(s string) string {
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// CtlMask returns x, eight bytes of text, with the high bit set in each
// byte that is a control character (below 0x20, or 0x7f) and every other
// bit clear; bytes from 0x80 up are not flagged. It is exact per byte (no
// borrow crosses from one byte into the next), so the lowest set bit
// locates the first control character of a little-endian load.
func CtlMask(x uint64) uint64 {
	const (
		lo  = 0x0101010101010101
		hi  = 0x8080808080808080
		low = 0x7f7f7f7f7f7f7f7f
	)
	below := ^(x | (x&low + 0x60*lo)) & hi
	y := x ^ 0x7f*lo
	del := ^(y | (y&low + low)) & hi
	return below | del
}
