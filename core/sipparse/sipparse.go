// Package sipparse parses SIP datagrams into sipgo messages faster and with
// far fewer allocations than sipgo's own parser, and produces the same
// messages: the same header types, values, order, parameters and accessor
// results.
//
// It has two paths. The fast path reads well-formed, ordinary messages: it
// converts the header section to one string and takes every name, value,
// URI part and parameter as a substring of it, recognises header names
// without lower-casing them, and builds sipgo's header types directly, the
// message, the common headers and all parameters in one block of memory.
// Whatever it does not fully understand — folded lines, quoted strings
// with escapes, URI headers, odd white space, empty parameters, versions
// other than SIP/2.0, lower-case methods, control characters, anything
// sipgo reads in a surprising way or rejects — makes it give up, and
// sipgo's parser reads the datagram instead. The result is therefore
// always what sipgo would have produced, errors included.
// FuzzParseRequest and FuzzParseHeader hold the two paths to that; run
// them again after upgrading sipgo.
//
// Every string in a fast-path message points into that one header string:
// keeping any of them keeps the whole header section alive. Clone what is
// kept for long (strings.Clone), as memstore does.
//
// ParseReusable parses a request into memory that Release hands back for
// the next one; the UDP listener uses it, and Msg.Retain keeps a request
// out of it.
package sipparse

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"os"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/internal/ascii"
)

// fallback parses what the fast path leaves. A sipgo Parser is read-only
// once built, so one serves every goroutine.
var fallback = sip.NewParser()

var (
	// ErrNotRequest is returned by ParseRequest for a well-formed response.
	ErrNotRequest = errors.New("sipparse: not a request")
	// ErrNotResponse is returned by ParseResponse for a well-formed request.
	ErrNotResponse = errors.New("sipparse: not a response")
)

// Parse parses one SIP message from a datagram, as
// sip.NewParser().ParseSIP(data) does, and returns what it returns. The
// message does not refer to data, which may be reused at once.
func Parse(data []byte) (sip.Message, error) {
	if msg := parseFast(data); msg != nil {
		return msg, nil
	}
	return fallback.ParseSIP(data)
}

// ParseRequest parses a datagram that must hold a request.
func ParseRequest(data []byte) (*sip.Request, error) {
	msg, err := Parse(data)
	if err != nil {
		return nil, err
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return nil, ErrNotRequest
	}
	return req, nil
}

// ParseResponse parses a datagram that must hold a response.
func ParseResponse(data []byte) (*sip.Response, error) {
	msg, err := Parse(data)
	if err != nil {
		return nil, err
	}
	res, ok := msg.(*sip.Response)
	if !ok {
		return nil, ErrNotResponse
	}
	return res, nil
}

// arena holds the headers nearly every message has, and their parameters,
// in one allocation instead of one per header and per parameter slice.
type arena struct {
	via     [2]sip.ViaHeader
	contact [1]sip.ContactHeader
	from    sip.FromHeader
	to      sip.ToHeader
	cseq    sip.CSeqHeader
	callID  sip.CallIDHeader
	maxFwd  sip.MaxForwardsHeader
	length  sip.ContentLengthHeader
	ctype   sip.ContentTypeHeader
	kv      [12]sip.HeaderKV
}

// The message itself shares the allocation too.
type requestArena struct {
	req sip.Request
	arena
}

type responseArena struct {
	res sip.Response
	arena
}

// used bits of parser.used: which single arena headers are taken.
const (
	useFrom = 1 << iota
	useTo
	useCSeq
	useCallID
	useMaxFwd
	useLength
	useCType
)

// parser is the state of one fast-path parse; it lives on the stack.
type parser struct {
	req      *sip.Request // one of req and res is set
	res      *sip.Response
	ar       *arena
	reuse    bool          // take a request's memory from arenas (ParseReusable)
	ra       *requestArena // the request's memory, when reuse
	nVia     int
	nContact int
	used     uint8
	length   *sip.ContentLengthHeader // the last Content-Length, as sipgo uses
	kv       []sip.HeaderKV           // parameter storage, arena first
	tmp      [16]sip.HeaderKV         // parameters of the header being read
	ntmp     int

	// The headers, in order, until they are all read: the first in buf,
	// any more in extra. (A slice into buf would move the parser to the
	// heap.)
	buf   [40]sip.Header
	nbuf  int
	extra []sip.Header
	// The first of each kind, which sipgo's accessors return.
	firstVia, firstRoute, firstRecordRoute sip.Header
}

// parseFast returns the message, or nil when sipgo's parser must decide.
func parseFast(data []byte) sip.Message {
	var p parser
	return p.fast(data)
}

func (p *parser) fast(data []byte) sip.Message {
	if len(data) == 0 || len(data) > fallback.MaxMessageLength {
		return nil
	}
	end := headerEnd(data)
	if end < 0 {
		return nil
	}
	return p.parse(string(data[:end+2]), data[end+4:], end+4)
}

// Reusable is the memory of a request parsed by ParseReusable, to hand
// back with Release once nothing refers to the request any more.
type Reusable struct{ ra *requestArena }

// arenas holds released requests' memory. A request's first touch of
// freshly allocated memory costs more than parsing it: reused memory is
// still in the CPU's caches.
var arenas = sync.Pool{New: func() any { return new(requestArena) }}

// zeroReleased makes Release zero the memory and drop it instead of
// reusing it (LOCUS_ZERO_RELEASED_REQUESTS, for tests): whatever still
// refers to a released request then finds it empty, and fails loudly,
// instead of finding the next request in it.
var zeroReleased = os.Getenv("LOCUS_ZERO_RELEASED_REQUESTS") != ""

// ZeroReleased reports whether LOCUS_ZERO_RELEASED_REQUESTS is set: the
// owners of other per-request memory drop it as Release drops requests.
func ZeroReleased() bool { return zeroReleased }

// ParseReusable is Parse for a caller that knows when the message is no
// longer referred to: a request read by the fast path lives in memory
// that Release hands back for the next one. Everything the request holds
// points into that memory (its headers, their parameters) except its
// strings: keep strings, never the request, a header or a parameter list,
// past Release. Responses, and requests the fast path leaves to sipgo, get
// fresh memory and a Reusable whose Release does nothing.
func ParseReusable(data []byte) (sip.Message, Reusable, error) {
	p := parser{reuse: true}
	if msg := p.fast(data); msg != nil {
		return msg, Reusable{p.ra}, nil
	}
	if p.ra != nil {
		arenas.Put(p.ra) // the fast path gave up: nothing refers to it
	}
	msg, err := fallback.ParseSIP(data)
	return msg, Reusable{}, err
}

// Release hands the request's memory back. The request, its headers and
// their parameter lists must not be used afterwards.
func (r Reusable) Release() {
	if r.ra == nil {
		return
	}
	if zeroReleased {
		*r.ra = requestArena{}
		return
	}
	arenas.Put(r.ra)
}

// headerEnd returns the index of the CRLFCRLF that ends the header section,
// or -1 when there is none or a control character comes before it (only
// tabs and CRLF line ends pass: no bare CR or LF, no NUL, no DEL) or a line
// starts with white space (folding), which the fast path would only find
// out after allocating.
func headerEnd(b []byte) int {
	i := 0
	for i < len(b) {
		if i+8 <= len(b) {
			// Eight bytes at a time to the next control character.
			m := ascii.CtlMask(binary.LittleEndian.Uint64(b[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) / 8
		}
		switch c := b[i]; {
		case c >= 0x20 && c != 0x7f || c == '\t':
			i++
		case c == '\r' && i+1 < len(b) && b[i+1] == '\n':
			if i+3 < len(b) && b[i+2] == '\r' && b[i+3] == '\n' {
				return i
			}
			if i+2 < len(b) && isSPHT(b[i+2]) {
				return -1
			}
			i += 2
		default:
			return -1
		}
	}
	return -1
}

// parse reads head (the start line and headers, each ending in CRLF) and
// attaches the body from rest; consumed is how many bytes precede rest.
func (p *parser) parse(head string, rest []byte, consumed int) sip.Message {
	nl := strings.IndexByte(head, '\n')
	line, head := head[:nl-1], head[nl+1:]
	if !p.startLine(line) {
		return nil
	}
	for head != "" {
		nl = strings.IndexByte(head, '\n')
		line, head = head[:nl-1], head[nl+1:]
		if !p.header(line) {
			return nil
		}
	}

	hdrs := p.buf[:p.nbuf]
	if p.extra != nil {
		hdrs = append(hdrs[:p.nbuf:p.nbuf], p.extra...)
	}
	var msg sip.Message
	if p.req != nil {
		msg = p.req
		p.req.PrependHeader(hdrs...)
		p.fixRefs(p.req.ReplaceHeader)
	} else {
		msg = p.res
		p.res.PrependHeader(hdrs...)
		p.fixRefs(p.res.ReplaceHeader)
	}

	// Without Content-Length the rest of the datagram is the body.
	size := len(rest)
	if p.length != nil {
		size = int(*p.length)
	}
	if size == 0 {
		return msg
	}
	if size > fallback.MaxMessageLength-consumed || size > len(rest) {
		return nil // sipgo's errors
	}
	body := make([]byte, size)
	copy(body, rest)
	msg.SetBody(body)
	return msg
}

// add queues a header. They are all added at the end by one PrependHeader,
// which sizes the header list exactly, where appending them one by one
// would outgrow the room for ten that sip.NewRequest makes.
func (p *parser) add(h sip.Header) {
	if p.nbuf < len(p.buf) {
		p.buf[p.nbuf] = h
		p.nbuf++
		return
	}
	p.extra = append(p.extra, h)
}

// fixRefs makes the Via, Route and Record-Route accessors return the first
// header of their kind, as after sipgo's parser: PrependHeader leaves them
// at the last. replace is the message's ReplaceHeader, which swaps the
// first header of that name (the same one) and repoints its accessor.
func (p *parser) fixRefs(replace func(sip.Header)) {
	for _, h := range [...]sip.Header{p.firstVia, p.firstRoute, p.firstRecordRoute} {
		if h != nil {
			replace(h)
		}
	}
}

// startLine reads a request line "METHOD uri SIP/2.0" or a status line
// "SIP/2.0 code reason" as sipgo splits them, at the first two spaces.
func (p *parser) startLine(line string) bool {
	sp := strings.IndexByte(line, ' ')
	if sp < 0 {
		return false
	}
	a, rest := line[:sp], line[sp+1:]
	sp = strings.IndexByte(rest, ' ')
	if sp < 0 {
		return false
	}
	b, c := rest[:sp], rest[sp+1:]

	// sipgo decides "request" first, by the third part alone.
	if len(c) >= 3 && (c[:3] == "SIP" || c[:3] == "sip") && strings.IndexByte(c, ' ') < 0 {
		// sipgo upper-cases the method; the fast path takes those
		// already in upper case.
		if c != "SIP/2.0" || a == "" || !all(a, cToken) || strings.IndexFunc(a, isLower) >= 0 {
			return false
		}
		// As sip.NewRequest builds it, but inside the arena.
		var ra *requestArena
		if p.reuse {
			ra = arenas.Get().(*requestArena)
			*ra = requestArena{}
			p.ra = ra
		} else {
			ra = new(requestArena)
		}
		ra.req.SipVersion = "SIP/2.0"
		ra.req.Method = sip.RequestMethod(a)
		p.req = &ra.req
		p.start(&ra.arena)
		return p.uri(b, &ra.req.Recipient)
	}
	if a != "SIP/2.0" || len(b) != 3 || !all(b, cDigit) {
		return false
	}
	// As sip.NewResponse builds it, but inside the arena.
	ra := new(responseArena)
	ra.res.SipVersion = "SIP/2.0"
	ra.res.StatusCode = int(b[0]-'0')*100 + int(b[1]-'0')*10 + int(b[2]-'0')
	ra.res.Reason = c
	p.res = &ra.res
	p.start(&ra.arena)
	return true
}

func isLower(r rune) bool { return 'a' <= r && r <= 'z' }

func (p *parser) start(ar *arena) {
	p.ar = ar
	p.kv = ar.kv[:0]
}

func (p *parser) newVia() *sip.ViaHeader {
	if p.nVia < len(p.ar.via) {
		p.nVia++
		return &p.ar.via[p.nVia-1]
	}
	return new(sip.ViaHeader)
}

func (p *parser) newContact() *sip.ContactHeader {
	if p.nContact < len(p.ar.contact) {
		p.nContact++
		return &p.ar.contact[p.nContact-1]
	}
	return new(sip.ContactHeader)
}

// take reports whether the arena's header of bit u is still free, and
// marks it taken.
func (p *parser) take(u uint8) bool {
	if p.used&u != 0 {
		return false
	}
	p.used |= u
	return true
}

func (p *parser) newFrom() *sip.FromHeader {
	if p.take(useFrom) {
		return &p.ar.from
	}
	return new(sip.FromHeader)
}

func (p *parser) newTo() *sip.ToHeader {
	if p.take(useTo) {
		return &p.ar.to
	}
	return new(sip.ToHeader)
}

func (p *parser) newCSeq() *sip.CSeqHeader {
	if p.take(useCSeq) {
		return &p.ar.cseq
	}
	return new(sip.CSeqHeader)
}

func (p *parser) newCallID() *sip.CallIDHeader {
	if p.take(useCallID) {
		return &p.ar.callID
	}
	return new(sip.CallIDHeader)
}

func (p *parser) newMaxForwards() *sip.MaxForwardsHeader {
	if p.take(useMaxFwd) {
		return &p.ar.maxFwd
	}
	return new(sip.MaxForwardsHeader)
}

func (p *parser) newContentLength() *sip.ContentLengthHeader {
	if p.take(useLength) {
		return &p.ar.length
	}
	return new(sip.ContentLengthHeader)
}

func (p *parser) newContentType() *sip.ContentTypeHeader {
	if p.take(useCType) {
		return &p.ar.ctype
	}
	return new(sip.ContentTypeHeader)
}
