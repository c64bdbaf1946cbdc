package sipparse

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/internal/ascii"
)

// kind is what sipgo's default header parsers turn a header into.
type kind uint8

const (
	kGeneric kind = iota
	kVia
	kFrom
	kTo
	kContact
	kCallID
	kCSeq
	kMaxForwards
	kContentLength
	kContentType
	kRoute
	kRecordRoute
	kReferTo
	kReferredBy
)

// kindOf classifies a header name, ASCII case-insensitively, as sipgo's
// parser table does after lower-casing the name. Compact forms other than
// these seven stay generic in sipgo, and so here.
func kindOf(name string) kind {
	switch len(name) {
	case 1:
		switch name[0] | 0x20 {
		case 'v':
			return kVia
		case 'f':
			return kFrom
		case 't':
			return kTo
		case 'm':
			return kContact
		case 'i':
			return kCallID
		case 'l':
			return kContentLength
		case 'c':
			return kContentType
		}
	case 2:
		if ascii.EqualFoldLower(name, "to") {
			return kTo
		}
	case 3:
		if ascii.EqualFoldLower(name, "via") {
			return kVia
		}
	case 4:
		if ascii.EqualFoldLower(name, "from") {
			return kFrom
		}
		if ascii.EqualFoldLower(name, "cseq") {
			return kCSeq
		}
	case 5:
		if ascii.EqualFoldLower(name, "route") {
			return kRoute
		}
	case 7:
		if ascii.EqualFoldLower(name, "contact") {
			return kContact
		}
		if ascii.EqualFoldLower(name, "call-id") {
			return kCallID
		}
	case 8:
		if ascii.EqualFoldLower(name, "refer-to") {
			return kReferTo
		}
	case 11:
		if ascii.EqualFoldLower(name, "referred-by") {
			return kReferredBy
		}
	case 12:
		if ascii.EqualFoldLower(name, "max-forwards") {
			return kMaxForwards
		}
		if ascii.EqualFoldLower(name, "content-type") {
			return kContentType
		}
		if ascii.EqualFoldLower(name, "record-route") {
			return kRecordRoute
		}
	case 14:
		if ascii.EqualFoldLower(name, "content-length") {
			return kContentLength
		}
	}
	return kGeneric
}

// maxCSeq is the largest CSeq number sipgo accepts (RFC 3261 §8.1.1.5).
const maxCSeq = 1<<31 - 1

// header parses one header line and appends what it yields to the message.
func (p *parser) header(line string) bool {
	if isSPHT(line[0]) {
		return false // a folded line: sipgo joins it to the previous one
	}
	colon := strings.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	name := ascii.TrimSPHT(line[:colon])
	if name == "" || !all(name, cToken) {
		return false
	}
	value := ascii.TrimSPHT(line[colon+1:])
	if !trimmed(value) {
		return false
	}

	switch kindOf(name) {
	case kGeneric:
		p.add(sip.NewHeader(name, value))
	case kVia:
		return p.via(value)
	case kFrom:
		h := p.newFrom()
		d, ok := p.addr(value, &h.Address, &h.Params)
		if !ok {
			return false
		}
		h.DisplayName = d
		p.add(h)
	case kTo:
		h := p.newTo()
		d, ok := p.addr(value, &h.Address, &h.Params)
		if !ok {
			return false
		}
		h.DisplayName = d
		p.add(h)
	case kReferredBy:
		h := new(sip.ReferredByHeader)
		d, ok := p.addr(value, &h.Address, &h.Params)
		if !ok {
			return false
		}
		h.DisplayName = d
		p.add(h)
	case kContact:
		return p.contact(value)
	case kRoute, kRecordRoute, kReferTo:
		return p.route(value, kindOf(name))
	case kCallID:
		if value == "" {
			return false
		}
		h := p.newCallID()
		*h = sip.CallIDHeader(value)
		p.add(h)
	case kCSeq:
		// sipgo splits at the first white space and keeps the rest,
		// whatever it is, as the method.
		i := ascii.IndexAny(value, " \t")
		if i < 1 || len(value)-i < 2 {
			return false
		}
		n, ok := uint32Dec(value[:i])
		if !ok || n > maxCSeq {
			return false
		}
		h := p.newCSeq()
		h.SeqNo, h.MethodName = n, sip.RequestMethod(value[i+1:])
		p.add(h)
	case kMaxForwards:
		n, ok := uint32Dec(value)
		if !ok {
			return false
		}
		h := p.newMaxForwards()
		*h = sip.MaxForwardsHeader(n)
		p.add(h)
	case kContentLength:
		n, ok := uint32Dec(value)
		if !ok {
			return false
		}
		h := p.newContentLength()
		*h = sip.ContentLengthHeader(n)
		p.length = h
		p.add(h)
	case kContentType:
		if value == "" {
			return false
		}
		h := p.newContentType()
		*h = sip.ContentTypeHeader(value)
		p.add(h)
	}
	return true
}

// trimmed reports whether v, already stripped of spaces and tabs, also has
// no other Unicode white space at either end, which sipgo's
// bytes.TrimSpace would remove.
func trimmed(v string) bool {
	if v == "" {
		return true
	}
	if v[0] >= utf8.RuneSelf {
		if r, _ := utf8.DecodeRuneInString(v); unicode.IsSpace(r) {
			return false
		}
	}
	if v[len(v)-1] >= utf8.RuneSelf {
		if r, _ := utf8.DecodeLastRuneInString(v); unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// via parses a Via value, one header per comma-separated hop. sipgo only
// splits correctly after a hop with parameters; anything else falls back.
func (p *parser) via(v string) bool {
	for {
		v = ascii.TrimSPHT(v)
		h := p.newVia()
		i := strings.IndexByte(v, '/')
		if i <= 0 || !all(v[:i], cToken) {
			return false
		}
		h.ProtocolName, v = v[:i], v[i+1:]
		i = strings.IndexByte(v, '/')
		if i <= 0 || !all(v[:i], cToken) {
			return false
		}
		h.ProtocolVersion, v = v[:i], v[i+1:]
		i = span(v, cToken)
		if i == 0 || i == len(v) || !isSPHT(v[i]) {
			return false
		}
		h.Transport, v = v[:i], v[i+1:]

		if v == "" {
			return false
		}
		if v[0] == '[' {
			// sipgo stores a Via's IPv6 host without brackets.
			end := strings.IndexByte(v, ']')
			if end < 2 || !all(v[1:end], cIPv6) {
				return false
			}
			h.Host, v = v[1:end], v[end+1:]
		} else {
			n := span(v, cHost)
			if n == 0 {
				return false
			}
			h.Host, v = v[:n], v[n:]
		}
		if v != "" && v[0] == ':' {
			n := span(v[1:], cDigit)
			if n == 0 || n > 5 {
				return false
			}
			port := 0
			for _, c := range v[1 : 1+n] {
				port = port*10 + int(c-'0')
			}
			h.Port, v = port, v[1+n:]
		}

		params, more := "", false
		if v != "" {
			if v[0] != ';' {
				return false
			}
			v = v[1:]
			comma := strings.IndexByte(v, ',')
			switch {
			case comma == 0:
				return false
			case comma > 0:
				params, v, more = v[:comma], v[comma+1:], true
			default:
				params, v = v, ""
			}
		}
		ps, ok := p.simpleParams(params)
		if !ok {
			return false
		}
		h.Params = ps
		if p.firstVia == nil {
			p.firstVia = h
		}
		p.add(h)
		if !more {
			return true
		}
	}
}

// contact parses a Contact value, one header per comma-separated contact.
func (p *parser) contact(v string) bool {
	for {
		elem, more := v, false
		if end := listEnd(v); end >= 0 {
			elem, v, more = v[:end], v[end+1:], true
		}
		h := p.newContact()
		if elem == "*" {
			h.Address.Host, h.Address.Wildcard = "*", true
		} else {
			d, ok := p.addr(elem, &h.Address, &h.Params)
			if !ok {
				return false
			}
			h.DisplayName = d
		}
		p.add(h)
		if !more {
			return true
		}
	}
}

// route parses a Route, Record-Route or Refer-To value, one header per
// comma-separated address. sipgo keeps only the URI of each.
func (p *parser) route(v string, k kind) bool {
	for {
		elem, more := v, false
		if end := listEnd(v); end >= 0 {
			elem, v, more = v[:end], v[end+1:], true
		}
		var u *sip.Uri
		var h sip.Header
		switch k {
		case kRoute:
			r := new(sip.RouteHeader)
			u, h = &r.Address, r
			if p.firstRoute == nil {
				p.firstRoute = r
			}
		case kRecordRoute:
			r := new(sip.RecordRouteHeader)
			u, h = &r.Address, r
			if p.firstRecordRoute == nil {
				p.firstRecordRoute = r
			}
		default:
			r := new(sip.ReferToHeader)
			u, h = &r.Address, r
		}
		if _, ok := p.addr(elem, u, nil); !ok {
			return false
		}
		p.add(h)
		if !more {
			return true
		}
	}
}
