package sipparse

import (
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/internal/ascii"
)

// addParam adds k=v to the parameters being collected, replacing the value
// of an earlier parameter of the same name in place, as sip.HeaderParams.Add
// does. It reports false when there are more parameters than the scratch
// space holds.
func (p *parser) addParam(k, v string) bool {
	for i := 0; i < p.ntmp; i++ {
		if p.tmp[i].K == k {
			p.tmp[i].V = v
			return true
		}
	}
	if p.ntmp == len(p.tmp) {
		return false
	}
	p.tmp[p.ntmp] = sip.HeaderKV{K: k, V: v}
	p.ntmp++
	return true
}

// commitParams moves the collected parameters into the message's shared
// parameter storage and returns them, nil when there are none (sipgo leaves
// a header without parameters with nil Params). Each header's slice is
// capped at its length, so appending to one never overwrites another's.
func (p *parser) commitParams() sip.HeaderParams {
	n := p.ntmp
	p.ntmp = 0
	if n == 0 {
		return nil
	}
	if cap(p.kv)-len(p.kv) < n {
		p.kv = make([]sip.HeaderKV, 0, max(n, 16))
	}
	start := len(p.kv)
	p.kv = append(p.kv, p.tmp[:n]...)
	return sip.HeaderParams(p.kv[start : start+n : start+n])
}

// simpleParams parses ";"-separated name[=value] parameters as sipgo reads
// those of a URI or a Via: the name ends at the first "=". Empty
// parameters, quoted values and URI headers ("?") are left to sipgo, whose
// parameter reader treats them in ways that are not worth imitating.
func (p *parser) simpleParams(s string) (sip.HeaderParams, bool) {
	p.ntmp = 0
	if s == "" {
		return nil, true
	}
	for {
		seg := s
		next := strings.IndexByte(s, ';')
		if next >= 0 {
			seg = s[:next]
		}
		name, value := seg, ""
		if eq := strings.IndexByte(seg, '='); eq >= 0 {
			name, value = seg[:eq], seg[eq+1:]
			if !all(value, cValue) {
				return nil, false
			}
		}
		if name == "" || !all(name, cToken) || !p.addParam(name, value) {
			return nil, false
		}
		if next < 0 {
			return p.commitParams(), true
		}
		s = s[next+1:]
	}
}

// addrParams parses the header parameters of a From, To or Contact as
// sipgo does: split at every ";" (quotes or not), empty ones skipped, the
// name ending at the last "=". Quoted values are accepted whole, as sipgo
// keeps them, quotes included. They are collected for commitParams.
func (p *parser) addrParams(s string) bool {
	p.ntmp = 0
	for s != "" {
		seg := s
		next := strings.IndexByte(s, ';')
		if next >= 0 {
			seg, s = s[:next], s[next+1:]
		} else {
			s = ""
		}
		if seg == "" {
			continue
		}
		name, value := seg, ""
		if eq := strings.LastIndexByte(seg, '='); eq >= 0 {
			name, value = seg[:eq], seg[eq+1:]
		}
		if name == "" || !all(name, cToken) || !addrValue(value) || !p.addParam(name, value) {
			return false
		}
	}
	return true
}

func addrValue(v string) bool {
	if len(v) > 0 && v[0] == '"' {
		return len(v) >= 2 && v[len(v)-1] == '"' && all(v[1:len(v)-1], cQuoted)
	}
	return all(v, cAddrValue)
}

// uri parses a SIP or SIPS URI into u as sip.ParseUri would. Other schemes
// (tel:, urn:) go to sip.ParseUri itself: it keeps their scheme-specific
// part in an unexported field.
func (p *parser) uri(s string, u *sip.Uri) bool {
	colon := strings.IndexByte(s, ':')
	if colon <= 0 {
		return false
	}
	switch scheme := s[:colon]; {
	case ascii.EqualFoldLower(scheme, "sip"):
		u.Scheme = "sip"
	case ascii.EqualFoldLower(scheme, "sips"):
		u.Scheme = "sips"
	default:
		if !all(s, cRaw) {
			return false
		}
		return sip.ParseUri(s, u) == nil
	}
	s = s[colon+1:]
	if strings.HasPrefix(s, "//") {
		return false
	}

	// sipgo takes the user part up to the first "@", unless a "[" comes
	// first, and the password after its last ":".
	if i := ascii.IndexAny(s, "@["); i >= 0 {
		if s[i] == '[' {
			if i != 0 {
				return false
			}
		} else {
			user := s[:i]
			if user == "" {
				return false
			}
			if c := strings.LastIndexByte(user, ':'); c >= 0 {
				if c == 0 || !all(user[c+1:], cPassword) {
					return false
				}
				u.Password = user[c+1:]
				user = user[:c]
			}
			if !all(user, cUser) {
				return false
			}
			u.User = user
			s = s[i+1:]
		}
	}

	if s == "" {
		return false
	}
	if s[0] == '[' {
		// sipgo looks for the "]" in the first 42 bytes only and keeps
		// the brackets in Host.
		end := strings.IndexByte(s[:min(len(s), 42)], ']')
		if end < 2 || !all(s[1:end], cIPv6) {
			return false
		}
		u.Host, s = s[:end+1], s[end+1:]
	} else {
		n := span(s, cHost)
		if n == 0 {
			return false
		}
		u.Host, s = s[:n], s[n:]
	}
	if s == "" {
		return true
	}
	if s[0] == ':' {
		n := span(s[1:], cDigit)
		if n == 0 || n > 5 {
			return false
		}
		port := 0
		for _, c := range s[1 : 1+n] {
			port = port*10 + int(c-'0')
		}
		u.Port, s = port, s[1+n:]
		if s == "" {
			return true
		}
	}
	if s[0] != ';' {
		return false
	}
	params, ok := p.simpleParams(s[1:])
	u.UriParams = params
	return ok
}

// addr parses a name-addr or addr-spec as sipgo's From, To, Contact and
// Route readers do, storing the URI in u and, when params is not nil, the
// header parameters. It returns the display name.
func (p *parser) addr(s string, u *sip.Uri, params *sip.HeaderParams) (string, bool) {
	var display, spec, rest string
	i := ascii.IndexAny(s, "\"<;")
	switch {
	case i < 0:
		spec = s
	case s[i] == ';':
		// No angle brackets: everything after the first ";" is a header
		// parameter, none a URI parameter.
		spec, rest = s[:i], s[i+1:]
	default:
		lt := i
		if s[i] == '"' {
			// sipgo drops anything before the opening quote; the fast
			// path wants only white space there.
			if i > 0 && ascii.TrimSPHT(s[:i]) != "" {
				return "", false
			}
			q := s[i+1:]
			end := strings.IndexByte(q, '"')
			if end < 0 || strings.IndexByte(q[:end], '\\') >= 0 {
				return "", false
			}
			display = q[:end]
			after := q[end+1:]
			lt = strings.IndexByte(after, '<')
			if lt < 0 || ascii.TrimSPHT(after[:lt]) != "" {
				return "", false
			}
			s = after
		} else {
			if !all(s[:lt], cDisplay) {
				return "", false
			}
			display = ascii.TrimSPHT(s[:lt])
		}
		gt := strings.IndexByte(s[lt+1:], '>')
		if gt < 0 {
			return "", false
		}
		spec = s[lt+1 : lt+1+gt]
		rest = s[lt+2+gt:]
		if rest != "" {
			if rest[0] != ';' {
				return "", false
			}
			rest = rest[1:]
		}
	}
	if !p.uri(spec, u) {
		return "", false
	}
	if !p.addrParams(rest) {
		return "", false
	}
	if params == nil {
		p.ntmp = 0 // sipgo drops a Route's header parameters
	} else {
		*params = p.commitParams()
	}
	return display, true
}

// listEnd returns the index of the first comma outside quotes and angle
// brackets, where sipgo splits a Contact or Route value, or -1.
func listEnd(s string) int {
	if strings.IndexByte(s, ',') < 0 {
		return -1
	}
	inQuotes, inBrackets := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '<' && !inQuotes:
			inBrackets = true
		case c == '>' && !inQuotes:
			inBrackets = false
		case c == '"':
			inQuotes = !inQuotes
		case c == ',' && !inQuotes && !inBrackets:
			return i
		}
	}
	return -1
}
