package sipparse

// Character classes of the fast path. They are deliberately narrower than
// RFC 3261 allows: a byte outside them sends the message to sipgo's parser,
// so they only need to cover what phones and proxies really send.
const (
	cToken     uint16 = 1 << iota // RFC 3261 token
	cHost                         // hostname or IPv4 address
	cIPv6                         // inside [ ] of an IPv6 reference
	cUser                         // user part of a SIP URI
	cPassword                     // password part of a SIP URI
	cValue                        // unquoted URI or Via parameter value
	cAddrValue                    // unquoted From/To/Contact parameter value
	cQuoted                       // inside a quoted From/To/Contact parameter value
	cDisplay                      // unquoted display name
	cRaw                          // scheme-specific part of a non-SIP URI
	cDigit
)

var class = func() (t [256]uint16) {
	set := func(chars string, c uint16) {
		for i := 0; i < len(chars); i++ {
			t[chars[i]] |= c
		}
	}
	const (
		alpha  = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		digits = "0123456789"
		alnum  = alpha + digits
		token  = alnum + "-.!%*_+`'~"
	)
	set(token, cToken|cValue|cAddrValue|cDisplay)
	set(":[]/", cValue|cAddrValue)
	set("@", cAddrValue)
	set(" \t", cDisplay)
	set(alnum+"-._", cHost)
	set(digits+"abcdefABCDEF:.", cIPv6)
	set(alnum+"-_.!~*'()%", cUser|cPassword)
	set("&=+$,", cUser|cPassword)
	set(";?/", cUser)
	set(digits, cDigit)
	for c := 0x20; c < 0x7f; c++ {
		switch c {
		case '"', '\\', ';', '=':
		default:
			t[c] |= cQuoted
		}
		switch c {
		case ' ', '"', '<', '>', '\\':
		default:
			t[c] |= cRaw
		}
	}
	return t
}()

// all reports whether every byte of s is in class c, one class. It ANDs the classes
// of all the bytes, four at a time, and tests once at the end: no branch
// per byte (a byte outside the class is rare, and found at the end all the
// same).
func all(s string, c uint16) bool {
	acc0, acc1 := c, c
	i := 0
	for ; i+4 <= len(s); i += 4 {
		acc0 &= class[s[i]] & class[s[i+1]]
		acc1 &= class[s[i+2]] & class[s[i+3]]
	}
	for ; i < len(s); i++ {
		acc0 &= class[s[i]]
	}
	return acc0&acc1 == c
}

// span returns how many leading bytes of s are in class c.
func span(s string, c uint16) int {
	i := 0
	for i < len(s) && class[s[i]]&c != 0 {
		i++
	}
	return i
}

func isSPHT(c byte) bool { return c == ' ' || c == '\t' }

// uint32Dec parses 1 to 10 decimal digits, the subset of
// strconv.ParseUint(s, 10, 32) the fast path accepts.
func uint32Dec(s string) (uint32, bool) {
	if len(s) == 0 || len(s) > 10 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 1<<32-1 {
		return 0, false
	}
	return uint32(n), true
}
