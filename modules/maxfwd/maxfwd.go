package maxfwd

import (
	"errors"
	"fmt"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/internal/ascii"
)

// Result is the outcome of Process, valued as Kamailio's process_maxfwd
// return codes.
type Result int

// Results of Process.
const (
	// Added: the request had no Max-Forwards; one was added with the limit.
	Added Result = 2
	// Decremented: the value was decremented (after capping at MaxLimit).
	Decremented Result = 1
	// Exhausted: the value is 0 (the script replies 483), or the limit
	// given was out of range.
	Exhausted Result = -1
	// Invalid: the header is not a number.
	Invalid Result = -2
)

// maxValue bounds the limit argument and max_limit, as Kamailio does.
const maxValue = 255

// Errors returned with a negative Result.
var (
	ErrLimit    = errors.New("maxfwd: limit out of range 0-255")
	ErrInvalid  = errors.New("maxfwd: Max-Forwards is not a number")
	ErrNotFound = errors.New("maxfwd: no Max-Forwards header")
)

// Process applies Kamailio's process_maxfwd(limit) to req: it adds
// "Max-Forwards: limit" when there is none, refuses a request whose value
// is 0, and otherwise lowers a value above MaxLimit to MaxLimit or
// decrements it, in the request itself.
func (f *MaxFwd) Process(req *sip.Request, limit int) (Result, error) {
	if limit < 0 || limit > maxValue {
		return Exhausted, fmt.Errorf("%w: %d", ErrLimit, limit)
	}
	i, h := find(req)
	if h == nil {
		mf := sip.MaxForwardsHeader(limit)
		req.AppendHeaderAfter(&mf, "Via")
		return Added, nil
	}
	v, err := parseValue(h.Value())
	if err != nil {
		return Invalid, err
	}
	if v == 0 {
		return Exhausted, nil
	}
	if v > f.MaxLimit {
		v = f.MaxLimit + 1
	}
	set(req, i, h, v-1)
	return Decremented, nil
}

// Value returns the request's Max-Forwards value; ErrNotFound when it has
// none, ErrInvalid when it is not a number.
func (f *MaxFwd) Value(req *sip.Request) (int, error) {
	_, h := find(req)
	if h == nil {
		return 0, ErrNotFound
	}
	return parseValue(h.Value())
}

// LessThan is Kamailio's is_maxfwd_lt(limit): 1 when Max-Forwards is below
// limit, -1 when it is not (or limit is out of range), -2 when there is no
// header, -3 when it is not a number.
func (f *MaxFwd) LessThan(req *sip.Request, limit int) (int, error) {
	if limit < 0 || limit > maxValue {
		return -1, fmt.Errorf("%w: %d", ErrLimit, limit)
	}
	v, err := f.Value(req)
	switch {
	case errors.Is(err, ErrNotFound):
		return -2, nil
	case err != nil:
		return -3, err
	case v >= limit:
		return -1, nil
	}
	return 1, nil
}

// find returns the first Max-Forwards header and its index.
func find(req *sip.Request) (int, sip.Header) {
	for i, h := range req.Headers() {
		if sip.HeaderToLower(h.Name()) == "max-forwards" {
			return i, h
		}
	}
	return -1, nil
}

// parseValue reads a header value the way Kamailio does (at most five
// digits, a 16-bit value) so that what it refuses, locus refuses.
func parseValue(s string) (int, error) {
	s = ascii.TrimSPHT(s)
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("%w: %q", ErrInvalid, s)
	}
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q", ErrInvalid, s)
		}
		v = v*10 + int(c-'0')
	}
	if v > 0xffff {
		return 0, fmt.Errorf("%w: %q", ErrInvalid, s)
	}
	return v, nil
}

// set writes v into header h at index i of req.
func set(req *sip.Request, i int, h sip.Header, v int) {
	if mf, ok := h.(*sip.MaxForwardsHeader); ok {
		*mf = sip.MaxForwardsHeader(v)
		return
	}
	// A generic header (added by a script): replace it in place by a typed
	// one, then let ReplaceHeader refresh sipgo's cached reference, which
	// may hold a stale lazily parsed copy.
	mf := sip.MaxForwardsHeader(v)
	req.Headers()[i] = &mf
	req.ReplaceHeader(&mf)
}
