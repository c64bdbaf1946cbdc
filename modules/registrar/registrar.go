// Package registrar implements RFC 3261 §10.3 registration processing and
// lookup over the usrloc location service: KSR.registrar.
package registrar

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/internal/ascii"
	"github.com/locus-sip/locus/modules/usrloc"
)

// Save flags, as Kamailio's registrar has them.
const (
	FlagNoReply  = 0x02 // do not reply; reg_send_reply() sends it later
	FlagReplace  = 0x04 // keep only the contacts of this REGISTER for the AoR
	FlagNoRandom = 0x08 // no expires randomisation
)

// Save results (>0), Kamailio's return codes.
const (
	Inserted = 1
	Updated  = 2
	Deleted  = 3
	Queried  = 4
)

// Supported lists the option tags the registrar understands; a Require
// naming another gets 420.
var Supported = []string{"path", "outbound"}

// Registrar processes REGISTER requests and looks up bindings.
type Registrar struct {
	DefaultExpires    int      `yaml:"default_expires"`
	MinExpires        int      `yaml:"min_expires"`
	MaxExpires        int      `yaml:"max_expires"`
	MinExpiresMode    string   `yaml:"min_expires_mode"` // reject (423) or clamp
	ExpiresRange      int      `yaml:"expires_range"`    // randomisation, percent
	MaxContacts       int      `yaml:"max_contacts"`     // 0: unlimited
	MaxContactsMode   string   `yaml:"max_contacts_mode"`
	CSeqDelay         int      `yaml:"cseq_delay"` // seconds
	CaseSensitiveUser bool     `yaml:"case_sensitive_user"`
	Domains           []string `yaml:"domains"` // served domains; "*" serves any

	ul        usrloc.Service
	log       *slog.Logger
	metrics   *metrics
	domains   map[string]bool
	anyDomain bool
	now       func() time.Time
	ruidBase  string
	ruidSeq   atomic.Uint64
	socket    atomic.Pointer[socketName] // the last socketName
	lastDate  atomic.Pointer[dateValue]
}

// New returns a registrar with Kamailio-compatible defaults.
func New() *Registrar {
	return &Registrar{
		DefaultExpires:    3600,
		MinExpires:        60,
		MaxExpires:        86400,
		MinExpiresMode:    "reject",
		MaxContactsMode:   "reject",
		CSeqDelay:         20,
		CaseSensitiveUser: true,
		now:               time.Now,
	}
}

// NewWithService returns a ready registrar over ul serving domains, for
// tests and tools.
func NewWithService(ul usrloc.Service, domains []string, log *slog.Logger) *Registrar {
	r := New()
	r.Domains = domains
	r.init(ul, log, nil)
	return r
}

func (r *Registrar) init(ul usrloc.Service, log *slog.Logger, defaults []string) {
	r.ul, r.log = ul, log
	r.domains = map[string]bool{}
	ds := r.Domains
	if len(ds) == 0 {
		ds = defaults
	}
	for _, d := range ds {
		if d == "*" {
			r.anyDomain = true
		}
		r.domains[strings.ToLower(d)] = true
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	r.ruidBase = "ul" + hex.EncodeToString(b[:]) + "-"
}

// SetClock replaces the clock, for tests.
func (r *Registrar) SetClock(now func() time.Time) { r.now = now }

// Serves reports whether host is one of the registrar's domains.
func (r *Registrar) Serves(host string) bool {
	if r.anyDomain {
		return true
	}
	return r.domains[strings.ToLower(core.Unbracket(host))]
}

func (r *Registrar) newRUID() string {
	var buf [48]byte
	return string(strconv.AppendUint(append(buf[:0], r.ruidBase...), r.ruidSeq.Add(1), 36))
}

// contact is one parsed Contact of a REGISTER.
type contact struct {
	uri      *sip.Uri // the Contact header's, which nothing changes
	raw      string
	expires  int64
	q        int
	instance string
	regID    int
	methods  string
}

// request is what Save needs of a REGISTER, parsed and validated.
type request struct {
	aor      string
	star     bool
	contacts []contact
	callID   string
	cseq     uint32
	path     []string
	ua       string
	outbound bool
	srcIP    string // where the REGISTER came from
	viaNAT   bool   // its top Via does not name that address: NAT on the way
	outcome  outcome
	// one backs contacts for the usual REGISTER with one Contact.
	one [1]contact
}

// parse validates the REGISTER and computes every contact's expiry. It
// changes nothing.
func (r *Registrar) parse(m *core.Msg, uri string, flags int) (*request, *Error) {
	req := m.Req
	if req.Method != sip.REGISTER {
		return nil, fail(FailNotRegister, "save on "+req.Method.String())
	}
	// One pass over the headers collects what registration needs. Names
	// are compared ASCII case-insensitively, without lower-casing copies.
	var (
		hs         []sip.Header
		expiresHdr []sip.Header
		allow      []string
		require    []sip.Header
		path       []string
		ua         string
	)
	for _, h := range req.Headers() {
		switch n := h.Name(); {
		case ascii.EqualFoldLower(n, "contact"), ascii.EqualFoldLower(n, "m"):
			hs = append(hs, h)
		case ascii.EqualFoldLower(n, "expires"):
			expiresHdr = append(expiresHdr, h)
		case ascii.EqualFoldLower(n, "path"):
			path = append(path, splitList(h.Value())...)
		case ascii.EqualFoldLower(n, "allow"):
			allow = append(allow, splitList(h.Value())...)
		case ascii.EqualFoldLower(n, "user-agent"):
			if ua == "" {
				ua = cleanText(h.Value())
			}
		case ascii.EqualFoldLower(n, "require"):
			require = append(require, h)
		}
	}
	if bad := unsupported(require); len(bad) > 0 {
		return nil, fail(FailUnsupported, strings.Join(bad, ", "), sip.NewHeader("Unsupported", strings.Join(bad, ", ")))
	}
	var (
		aor  string
		host string
		err  error
	)
	if uri != "" {
		var u sip.Uri
		if err := sip.ParseUri(uri, &u); err != nil {
			return nil, fail(FailBadAOR, err.Error())
		}
		aor, err = AOR(&u, r.CaseSensitiveUser)
		host = u.Host
	} else if to := req.To(); to != nil {
		aor, err = AOR(&to.Address, r.CaseSensitiveUser)
		host = to.Address.Host
	} else {
		err = errors.New("no To header")
	}
	if err != nil {
		return nil, fail(FailBadAOR, err.Error())
	}
	if !r.Serves(host) {
		return nil, fail(FailDomain, "domain "+host+" not served")
	}
	out := &request{aor: aor, path: path, ua: ua}
	out.contacts = out.one[:0]
	if h := req.CallID(); h != nil {
		out.callID = h.Value()
	}
	if !storable(out.callID) {
		return nil, fail(FailBadContact, "Call-ID with invalid characters")
	}
	if h := req.CSeq(); h != nil {
		out.cseq = h.SeqNo
	}
	hdrExpires := int64(-1)
	if len(expiresHdr) > 0 {
		if len(expiresHdr) > 1 {
			return nil, fail(FailBadExpires, "more than one Expires header")
		}
		v, err := ParseExpires(expiresHdr[0].Value())
		if err != nil {
			return nil, fail(FailBadExpires, err.Error())
		}
		hdrExpires = v
	}
	methods := cleanText(strings.Join(allow, ","))
	for _, p := range out.path {
		if !storable(p) {
			return nil, fail(FailBadContact, "Path with invalid characters")
		}
	}

	for _, h := range hs {
		ch, ok := h.(*sip.ContactHeader)
		if !ok {
			return nil, fail(FailBadContact, "unparsable Contact")
		}
		if ch.Address.Wildcard {
			out.star = true
			continue
		}
		c := contact{uri: &ch.Address, q: usrloc.QUnset, methods: methods}
		if c.uri.Host == "" {
			return nil, fail(FailBadContact, "Contact URI without host")
		}
		c.raw = uriString(c.uri)
		if !storable(c.raw) {
			return nil, fail(FailBadContact, "Contact URI with invalid characters")
		}
		if v, ok := param(ch.Params, "expires"); ok {
			e, err := ParseExpires(v)
			if err != nil {
				return nil, fail(FailBadExpires, err.Error())
			}
			c.expires = e
		} else if hdrExpires >= 0 {
			c.expires = hdrExpires
		} else {
			c.expires = int64(r.DefaultExpires)
		}
		if v, ok := param(ch.Params, "q"); ok {
			q, err := ParseQ(v)
			if err != nil {
				return nil, fail(FailBadQ, err.Error())
			}
			c.q = q
		}
		if v, ok := param(ch.Params, "+sip.instance"); ok {
			c.instance = unquoteInstance(v)
			if !storable(c.instance) {
				return nil, fail(FailBadContact, "+sip.instance with invalid characters")
			}
		}
		if v, ok := param(ch.Params, "reg-id"); ok {
			id, err := strconv.Atoi(v)
			if err != nil || id < 1 || id > 1<<31-1 {
				return nil, fail(FailBadRegID, "reg-id "+v)
			}
			c.regID = id
			if c.instance != "" {
				out.outbound = true
			}
		}
		if v, ok := param(ch.Params, "methods"); ok {
			c.methods = strings.Trim(v, `"`)
		}
		out.contacts = append(out.contacts, c)
	}
	if out.star {
		// RFC 3261 §10.3 step 6: "*" only alone and with Expires: 0.
		if len(hs) != 1 || hdrExpires != 0 {
			return nil, fail(FailStar, "Contact: * needs Expires: 0 and no other Contact")
		}
		return out, nil
	}
	// Expiry policy, all-or-nothing before anything is stored.
	for i := range out.contacts {
		c := &out.contacts[i]
		if c.expires == 0 {
			continue
		}
		if c.expires < int64(r.MinExpires) {
			if r.MinExpiresMode == "reject" {
				return nil, fail(FailTooBrief, fmt.Sprintf("expires %d below %d", c.expires, r.MinExpires),
					sip.NewHeader("Min-Expires", strconv.Itoa(r.MinExpires)))
			}
			c.expires = int64(r.MinExpires)
		}
		if r.MaxExpires > 0 && c.expires > int64(r.MaxExpires) {
			c.expires = int64(r.MaxExpires)
		}
		if r.ExpiresRange > 0 && flags&FlagNoRandom == 0 {
			span := c.expires * int64(r.ExpiresRange) / 100
			if span > 0 {
				c.expires -= mrand.Int64N(span + 1)
			}
			if c.expires < int64(r.MinExpires) {
				c.expires = int64(r.MinExpires)
			}
		}
	}
	return out, nil
}

// unsupported returns the option tags of the Require headers hs that
// locus does not support.
func unsupported(hs []sip.Header) []string {
	var bad []string
	for _, h := range hs {
		for _, tag := range splitList(h.Value()) {
			ok := false
			for _, s := range Supported {
				if strings.EqualFold(tag, s) {
					ok = true
				}
			}
			if !ok {
				bad = append(bad, tag)
			}
		}
	}
	return bad
}

// splitList splits a comma-separated header value, respecting quotes and
// angle brackets.
func splitList(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			depth--
		case c == ',' && depth == 0:
			if s := strings.TrimSpace(v[start:i]); s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	if s := strings.TrimSpace(v[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

// Result is the outcome of a Save: the code, and the AoR's bindings after it.
type Result struct {
	Code     int
	AOR      string
	Bindings []usrloc.Binding
	Outbound bool
	Path     []string
	at       time.Time // when save ran: the 200 OK's clock, one reading per REGISTER
}

// Save processes the REGISTER in m for table (RFC 3261 §10.3). uri, when
// not empty, names the AoR instead of the To header. It replies unless
// flags has FlagNoReply, in which case the reply waits for SendReply.
func (r *Registrar) Save(ctx context.Context, m *core.Msg, table string, flags int, uri string) (int, error) {
	res, err := r.save(ctx, m, table, flags, uri)
	if err != nil {
		var re *Error
		if !errors.As(err, &re) {
			re = &Error{Failure: FailInternal, Err: err}
		}
		r.metrics.saved(0, re)
	} else {
		r.metrics.saved(res.Code, nil)
	}
	var (
		code   = 200
		reason = "OK"
		stack  [8]sip.Header
		hdrs   = stack[:0]
	)
	if err != nil {
		var re *Error
		if !errors.As(err, &re) {
			re = &Error{Failure: FailInternal, Err: err}
		}
		code, reason = re.Reply()
		hdrs = append(hdrs, re.Headers...)
		m.SetError(code, reason)
		if re.Failure == FailStore || re.Failure == FailInternal {
			r.log.Error("registration failed", "error", err, "call_id", callIDOf(m))
		} else {
			r.log.Debug("registration refused", "error", err, "call_id", callIDOf(m))
		}
		res.Code = re.LuaCode()
	} else {
		hdrs = r.okHeaders(hdrs, res)
	}
	if flags&FlagNoReply != 0 {
		reply, rerr := m.NewReply(code, reason)
		if reply == nil {
			return res.Code, cmp.Or(err, rerr)
		}
		for _, h := range hdrs {
			reply.AppendHeader(h)
		}
		m.Set(pendingKey, reply)
		return res.Code, err
	}
	if serr := m.Reply(code, reason, hdrs...); serr != nil && err == nil {
		err = serr
	}
	return res.Code, err
}

const pendingKey = "registrar:reply"

// DateFormat is the SIP Date header format (RFC 3261 §20.17: RFC 1123, GMT).
const DateFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// SendReply sends the reply a Save with FlagNoReply prepared.
func (r *Registrar) SendReply(m *core.Msg) error {
	res, ok := m.Get(pendingKey).(*sip.Response)
	if !ok {
		return errors.New("registrar: no pending reply (save without flag 0x02?)")
	}
	m.Set(pendingKey, nil)
	return m.Send(res)
}

// mayBlock lets the transport hand the request's socket to another worker
// before a location service call that can wait on I/O (every store but
// memory:).
func (r *Registrar) mayBlock(m *core.Msg) {
	if m == nil {
		return
	}
	if im, ok := r.ul.(interface{ Immediate() bool }); ok && im.Immediate() {
		return
	}
	m.Blocking()
}

func (r *Registrar) save(ctx context.Context, m *core.Msg, table string, flags int, uri string) (Result, error) {
	p, rerr := r.parse(m, uri, flags)
	if p != nil {
		p.srcIP, p.viaNAT = m.SrcIP, viaBehindNAT(m)
	}
	if rerr != nil {
		return Result{}, rerr
	}
	res := Result{AOR: p.aor, Outbound: p.outbound, Path: p.path}
	if !p.star && len(p.contacts) == 0 {
		r.mayBlock(m)
		bs, err := r.ul.Lookup(ctx, table, p.aor)
		if err != nil {
			return res, storeError(err)
		}
		res.Code, res.Bindings = Queried, bs
		return res, nil
	}
	now := r.now()
	res.at = now
	received := protoAddr(m.Transport, m.SrcIP, m.SrcPort, true)
	socket := ""
	if m.LocalIP != "" {
		socket = r.socketName(m.Transport, m.LocalIP, m.LocalPort)
	}
	o := &p.outcome // p is on the heap already: o costs no allocation of its own
	r.mayBlock(m)
	bs, err := r.ul.Update(ctx, table, p.aor, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
		*o = outcome{}
		if p.star {
			return r.removeAll(p, cur, now, o)
		}
		return r.apply(p, cur, flags, now, received, socket, m.ConnID, o)
	})
	if err != nil {
		return res, storeError(err)
	}
	res.Bindings = bs
	switch {
	case o.inserted:
		res.Code = Inserted
	case o.updated:
		res.Code = Updated
	case o.deleted:
		res.Code = Deleted
	default:
		res.Code = Updated // a retransmission changes nothing but succeeds
	}
	return res, nil
}

// protoAddr is "proto:ip:port", the IP in brackets when it is IPv6 and
// brackets is set (net.JoinHostPort's form), built in one allocation.
func protoAddr(proto, ip string, port int, brackets bool) string {
	var stack [80]byte
	buf := append(stack[:0], proto...)
	buf = append(buf, ':')
	if brackets && strings.IndexByte(ip, ':') >= 0 {
		buf = append(buf, '[')
		buf = append(buf, ip...)
		buf = append(buf, ']')
	} else {
		buf = append(buf, ip...)
	}
	buf = append(buf, ':')
	buf = strconv.AppendInt(buf, int64(port), 10)
	return string(buf)
}

// socketName is the Socket of bindings saved from a local socket. A
// server has a few sockets: the last name is kept and reused.
func (r *Registrar) socketName(proto, ip string, port int) string {
	if s := r.socket.Load(); s != nil && s.proto == proto && s.ip == ip && s.port == port {
		return s.name
	}
	s := &socketName{proto: proto, ip: ip, port: port, name: protoAddr(proto, ip, port, false)}
	r.socket.Store(s)
	return s.name
}

type socketName struct {
	proto, ip string
	port      int
	name      string
}

// outcome records what a save did, for its return code.
type outcome struct{ inserted, updated, deleted bool }

// checkCSeq applies RFC 3261 §10.3 step 7 to a binding the REGISTER
// matched: with the same Call-ID the CSeq must grow. retrans is true for
// the same CSeq within cseq_delay of the binding's last change.
func (r *Registrar) checkCSeq(p *request, b *usrloc.Binding, now time.Time) (retrans bool, err *Error) {
	if b.CallID != p.callID {
		return false, nil
	}
	switch {
	case p.cseq < b.CSeq:
		return false, fail(FailOutOfOrder, fmt.Sprintf("CSeq %d below %d", p.cseq, b.CSeq))
	case p.cseq == b.CSeq:
		if now.Sub(b.Modified) < time.Duration(r.CSeqDelay)*time.Second {
			return true, nil
		}
		return false, fail(FailOutOfOrder, fmt.Sprintf("CSeq %d repeated", p.cseq))
	}
	return false, nil
}

// removeAll handles "Contact: *": every binding goes, subject to the
// Call-ID/CSeq rule.
func (r *Registrar) removeAll(p *request, cur []usrloc.Binding, now time.Time, o *outcome) ([]usrloc.Binding, error) {
	var next []usrloc.Binding
	for i := range cur {
		retrans, err := r.checkCSeq(p, &cur[i], now)
		if err != nil {
			return nil, err
		}
		if retrans {
			// A retransmitted unregister-all: what it removed is gone
			// already; this binding came later.
			next = append(next, cur[i])
			continue
		}
		o.deleted = true
	}
	return next, nil
}

// apply computes the AoR's bindings after the REGISTER's contacts.
func (r *Registrar) apply(p *request, cur []usrloc.Binding, flags int, now time.Time, received, socket, connID string, o *outcome) ([]usrloc.Binding, error) {
	// Match every contact first, before any binding changes, and count
	// what the REGISTER adds.
	var matchBuf [8]int
	matches := matchBuf[:0]
	adds := 0
	for ci := range p.contacts {
		i := matchBinding(cur, &p.contacts[ci])
		matches = append(matches, i)
		if i < 0 && p.contacts[ci].expires > 0 {
			adds++
		}
	}
	// cur is this call's own copy (usrloc.Service.Update), so it becomes
	// the result in place: a refresh allocates nothing. Each binding is
	// read below before it is overwritten, and matched above. When
	// contacts add bindings, one allocation holds cur's and then the new
	// ones (fresh), which the compaction below never overwrites, as it
	// moves bindings down only.
	next := cur
	if adds > 0 {
		next = make([]usrloc.Binding, len(cur), len(cur)+adds)
		copy(next, cur)
	}
	// Most AoRs have a few bindings: keep the marks on the stack.
	var marks [2 * 8]bool
	var touched, removed []bool
	if len(cur) <= len(marks)/2 {
		touched, removed = marks[:len(cur)], marks[len(cur):2*len(cur)]
	} else {
		touched, removed = make([]bool, len(cur)), make([]bool, len(cur))
	}
	fresh := next[len(cur):len(cur):cap(next)]
	for ci := range p.contacts {
		c := &p.contacts[ci]
		i := matches[ci]
		if i < 0 {
			if c.expires > 0 && matchBinding(fresh, c) < 0 {
				fresh = append(fresh, r.binding(p, c, received, socket, connID, now, r.newRUID()))
				o.inserted = true
			}
			continue
		}
		if touched[i] {
			continue // two Contacts of one REGISTER for one binding: the first wins
		}
		touched[i] = true
		retrans, err := r.checkCSeq(p, &cur[i], now)
		if err != nil {
			return nil, err
		}
		if retrans {
			continue
		}
		if c.expires == 0 {
			removed[i] = true
			o.deleted = true
			continue
		}
		next[i] = r.binding(p, c, received, socket, connID, now, cur[i].RUID)
		o.updated = true
	}
	// Compact next in place.
	out := next[:0]
	var evictableBuf [8]int
	evictable := evictableBuf[:0] // indexes in out of bindings this REGISTER did not touch
	for i := range next {
		if removed[i] {
			continue
		}
		if !touched[i] {
			if flags&FlagReplace != 0 {
				o.deleted = true
				continue
			}
			evictable = append(evictable, len(out))
		}
		out = append(out, next[i])
	}
	out = append(out, fresh...) // within next: a copy down, no allocation
	// The limit applies to what this REGISTER adds: refreshing or removing
	// never fails because an AoR is over a lowered limit.
	if excess := len(out) - r.MaxContacts; r.MaxContacts > 0 && excess > 0 && o.inserted {
		if r.MaxContactsMode != "evict_oldest" || excess > len(evictable) {
			return nil, fail(FailTooMany, fmt.Sprintf("%d contacts, limit %d", len(out), r.MaxContacts))
		}
		slices.SortStableFunc(evictable, func(a, b int) int { return out[a].Modified.Compare(out[b].Modified) })
		drop := make(map[int]bool, excess)
		for _, i := range evictable[:excess] {
			drop[i] = true
		}
		kept := out[:0:0]
		for i := range out {
			if !drop[i] {
				kept = append(kept, out[i])
			}
		}
		out = kept
		o.deleted = true
	}
	return out, nil
}

// matchBinding finds the binding a contact refers to: by +sip.instance
// (and reg-id) when the contact has one (RFC 5626 §6), else by URI
// equality (RFC 3261 §19.1.4).
func matchBinding(cur []usrloc.Binding, c *contact) int {
	var u *sip.Uri // parsed into only when the text alone cannot decide
	for i := range cur {
		b := &cur[i]
		if c.instance != "" {
			if b.Instance == c.instance && b.RegID == c.regID {
				return i
			}
			continue
		}
		if b.Instance != "" {
			continue
		}
		if b.Contact == c.raw {
			return i // a refresh repeats the contact as it was saved
		}
		if !mayEqualURI(b.Contact, c.uri) {
			continue // another device of the AoR: no parse needed to tell
		}
		if u == nil {
			u = new(sip.Uri)
		} else {
			*u = sip.Uri{}
		}
		if sip.ParseUri(b.Contact, u) == nil && URIEqual(u, c.uri) {
			return i
		}
	}
	return -1
}

func (r *Registrar) binding(p *request, c *contact, received, socket, connID string, now time.Time, ruid string) usrloc.Binding {
	return usrloc.Binding{
		AOR:       p.aor,
		Contact:   c.raw,
		Expires:   now.Add(time.Duration(c.expires) * time.Second),
		Q:         c.q,
		CallID:    p.callID,
		CSeq:      p.cseq,
		Received:  received,
		Socket:    socket,
		ConnID:    connID,
		Path:      p.path,
		Instance:  c.instance,
		RegID:     c.regID,
		UserAgent: p.ua,
		Methods:   c.methods,
		Flags:     natFlag(p, c),
		Modified:  now,
		RUID:      ruid,
	}
}

// okHeaders appends the headers of the 200 OK to hdrs: every current
// binding with its remaining expires (and q), Path echoed, Require
// outbound when it applies, Supported and Date.
func (r *Registrar) okHeaders(hdrs []sip.Header, res Result) []sip.Header {
	now := res.at
	if now.IsZero() { // a query: save read no clock
		now = r.now()
	}
	for i := range res.Bindings {
		hdrs = append(hdrs, sip.NewHeader("Contact", contactLine(&res.Bindings[i], now)))
	}
	for _, p := range res.Path {
		hdrs = append(hdrs, sip.NewHeader("Path", p))
	}
	if res.Outbound {
		hdrs = append(hdrs, sip.NewHeader("Require", "outbound"))
	}
	return append(hdrs, supportedHeader, r.date(now))
}

// supportedHeader is the Supported header of every 200 OK. sipgo never
// changes a header built by sip.NewHeader (and no one else can), so one
// value is shared by all replies.
var supportedHeader = sip.NewHeader("Supported", strings.Join(Supported, ", "))

// contactLine is a binding as the 200 OK lists it: the contact with its
// remaining expires, q and instance, built in one allocation.
func contactLine(b *usrloc.Binding, now time.Time) string {
	var stack [256]byte
	buf := append(stack[:0], '<')
	buf = append(buf, b.Contact...)
	buf = append(buf, ">;expires="...)
	buf = strconv.AppendInt(buf, int64(b.Remaining(now)), 10)
	if b.Q != usrloc.QUnset {
		buf = append(buf, ";q="...)
		buf = append(buf, FormatQ(b.Q)...)
	}
	if b.Instance != "" {
		buf = append(buf, `;+sip.instance="<`...)
		buf = append(buf, b.Instance...)
		buf = append(buf, `>"`...)
		if b.RegID > 0 {
			buf = append(buf, ";reg-id="...)
			buf = strconv.AppendInt(buf, int64(b.RegID), 10)
		}
	}
	return string(buf)
}

// date is the Date header for now. The header is kept for the second it
// names: every reply of that second shares it, as supportedHeader is shared.
func (r *Registrar) date(now time.Time) sip.Header {
	sec := now.Unix()
	if d := r.lastDate.Load(); d != nil && d.sec == sec {
		return d.header
	}
	d := &dateValue{sec: sec, header: sip.NewHeader("Date", now.UTC().Format(DateFormat))}
	r.lastDate.Store(d)
	return d.header
}

type dateValue struct {
	sec    int64
	header sip.Header
}

func callIDOf(m *core.Msg) string {
	if h := m.Req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// storable reports whether s can be kept in every store: valid UTF-8
// without control characters (PostgreSQL text refuses NUL and invalid
// UTF-8; logs and the admin API must not carry control characters).
func storable(s string) bool {
	// Eight bytes at a time while they are printable ASCII (what phones
	// send); the first word that is not goes the long way from there.
	const highs = 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&highs != 0 || ascii.CtlMask(w) != 0 {
			break
		}
	}
	s = s[i:]
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 && s[i] != '\t' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// cleanText makes informational text (User-Agent, Allow) storable instead
// of refusing the registration over it.
func cleanText(s string) string {
	if storable(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "?")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
