package sanity

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/internal/ascii"
)

// Checks is a set of message checks: Kamailio's msg_checks bit flags.
type Checks uint32

// The checks, with Kamailio's values (sanity_mod.h).
const (
	CheckRURIVersion     Checks = 1 << iota // 1: R-URI SIP version is 2.0
	CheckRURIScheme                         // 2: R-URI scheme is supported
	CheckRequiredHeaders                    // 4: From, To, Call-ID, CSeq, Via present, not repeated
	CheckViaVersion                         // 8: disabled in Kamailio; accepted, does nothing
	CheckViaProtocol                        // 16: disabled in Kamailio; accepted, does nothing
	CheckCSeqMethod                         // 32: CSeq method equals the request method
	CheckCSeqValue                          // 64: CSeq number is a 32-bit unsigned integer
	CheckContentLength                      // 128: Content-Length equals the body length
	CheckExpires                            // 256: Expires is a 32-bit unsigned integer
	CheckProxyRequire                       // 512: Proxy-Require tags are all supported
	CheckParseURIs                          // 1024: the URIs chosen by URIChecks are usable
	CheckDigest                             // 2048: credentials are well-formed Digest ones
	CheckDupTags                            // 4096: From and To carry at most one tag
	CheckAuthorization                      // 8192: Digest credentials, if any, are well-formed
	CheckVia1                               // 16384: the first Via has a host

	// AllChecks is every known check.
	AllChecks Checks = 1<<15 - 1
	// DefaultChecks is Kamailio's default_checks (3047).
	DefaultChecks = CheckRURIVersion | CheckRURIScheme | CheckRequiredHeaders | CheckCSeqMethod |
		CheckCSeqValue | CheckContentLength | CheckExpires | CheckProxyRequire | CheckDigest
)

// URIChecks chooses the URIs CheckParseURIs looks at: Kamailio's uri_checks.
type URIChecks uint32

// The URIs, with Kamailio's values.
const (
	URIRequest URIChecks = 1 << iota // 1: Request-URI
	URIFrom                          // 2: From URI
	URITo                            // 4: To URI
	URIContact                       // 8: every Contact URI

	// AllURIChecks is every URI.
	AllURIChecks URIChecks = 1<<4 - 1
	// DefaultURIChecks is Kamailio's uri_checks (7).
	DefaultURIChecks = URIRequest | URIFrom | URITo
)

var checkNames = [...]string{
	"ruri_sip_version", "ruri_scheme", "required_headers", "via_sip_version", "via_protocol",
	"cseq_method", "cseq_value", "content_length", "expires_value", "proxy_require",
	"parse_uris", "digest", "duplicate_tags", "authorization", "via1",
}

// String names a single check (for logs); a set is shown as its number.
func (c Checks) String() string {
	for i, n := range checkNames {
		if c == 1<<i {
			return n
		}
	}
	return strconv.FormatUint(uint64(c), 10)
}

// ErrFlags is returned by ParseFlags for values with unknown bits.
var ErrFlags = errors.New("sanity: check flags out of range")

// ParseFlags converts script integers to checks, refusing unknown bits
// (the known ones are contiguous, so a range check suffices).
func ParseFlags(msgChecks, uriChecks int) (Checks, URIChecks, error) {
	if msgChecks < 0 || msgChecks > int(AllChecks) {
		return 0, 0, fmt.Errorf("%w: msg_checks %d (valid: 0-%d)", ErrFlags, msgChecks, AllChecks)
	}
	if uriChecks < 0 || uriChecks > int(AllURIChecks) {
		return 0, 0, fmt.Errorf("%w: uri_checks %d (valid: 0-%d)", ErrFlags, uriChecks, AllURIChecks)
	}
	return Checks(msgChecks), URIChecks(uriChecks), nil
}

// Failure is a failed check and the reply Kamailio's sanity module sends
// for it.
type Failure struct {
	Check Checks
	// Code and Reason are the reply. Code 0: Kamailio sends none, because
	// the request lacks what a reply needs or the module stays silent; the
	// reason is then only for logs.
	Code   int
	Reason string
	// Unsupported lists the Proxy-Require option tags not supported (420).
	Unsupported []string
}

func (f *Failure) Error() string {
	if f.Code == 0 {
		return fmt.Sprintf("sanity: %s: %s (no reply)", f.Check, f.Reason)
	}
	return fmt.Sprintf("sanity: %s: %d %s", f.Check, f.Code, f.Reason)
}

func fail(c Checks, code int, reason string) *Failure {
	return &Failure{Check: c, Code: code, Reason: reason}
}

// order is Kamailio's order of the checks; the first failure ends a run.
var order = []Checks{
	CheckRURIVersion, CheckRURIScheme, CheckRequiredHeaders, CheckVia1, CheckViaVersion,
	CheckViaProtocol, CheckCSeqMethod, CheckCSeqValue, CheckContentLength, CheckExpires,
	CheckProxyRequire, CheckParseURIs, CheckDigest, CheckAuthorization, CheckDupTags,
}

// Check runs the chosen checks on req in Kamailio's order and returns the
// first failure, or nil when the request passes. It changes nothing.
func (s *Sanity) Check(req *sip.Request, checks Checks, uris URIChecks) *Failure {
	hs := headers{req: req}
	for _, c := range order {
		if checks&c == 0 {
			continue
		}
		if f := s.run(c, req, &hs, uris); f != nil {
			return f
		}
	}
	return nil
}

func (s *Sanity) run(c Checks, req *sip.Request, hs *headers, uris URIChecks) *Failure {
	switch c {
	case CheckRURIVersion:
		return checkRURIVersion(req)
	case CheckRURIScheme:
		return checkRURIScheme(req)
	case CheckRequiredHeaders:
		return checkRequiredHeaders(req, hs)
	case CheckVia1:
		return checkVia1(req)
	case CheckCSeqMethod:
		return checkCSeqMethod(req, hs)
	case CheckCSeqValue:
		return checkCSeqValue(hs)
	case CheckContentLength:
		return checkContentLength(req, hs)
	case CheckExpires:
		return checkExpires(hs)
	case CheckProxyRequire:
		return s.checkProxyRequire(hs)
	case CheckParseURIs:
		return checkParseURIs(req, hs, uris)
	case CheckDigest, CheckAuthorization:
		return checkCredentials(hs, c)
	case CheckDupTags:
		return checkDupTags(req)
	}
	// CheckViaVersion and CheckViaProtocol are disabled in Kamailio.
	return nil
}

// CheckMsg runs Check on the current request and, when it fails, answers
// as Kamailio's sanity does: the failure's reply (none for an ACK); a
// failure Kamailio leaves unanswered marks the request dropped, so the
// engine adds no reply of its own. With NoReply the reply is only
// recorded, for KSR.sanity.sanity_reply or KSR.sl.sl_reply_error. The
// error is from sending the reply.
func (s *Sanity) CheckMsg(m *core.Msg, checks Checks, uris URIChecks) (*Failure, error) {
	f := s.Check(m.Req, checks, uris)
	if f == nil || m.Req.IsAck() {
		return f, nil
	}
	if f.Code == 0 {
		m.Dropped = true
		return f, nil
	}
	var hdrs []sip.Header
	if len(f.Unsupported) > 0 {
		hdrs = append(hdrs, sip.NewHeader("Unsupported", strings.Join(f.Unsupported, ", ")))
	}
	if s.NoReply {
		// Kamailio adds the Unsupported header to whatever reply follows.
		m.SetError(f.Code, f.Reason)
		m.ReplyHeaders = append(m.ReplyHeaders, hdrs...)
		return f, nil
	}
	return f, m.Reply(f.Code, f.Reason, hdrs...)
}

// Reply sends the reply recorded by a failed check in NoReply mode, or
// 500 when none was recorded: KSR.sanity.sanity_reply. Without NoReply
// (the checks replied already), for an ACK or a dropped request it does
// nothing.
func (s *Sanity) Reply(m *core.Msg) error {
	if !s.NoReply || m.Req.IsAck() || m.Dropped {
		return nil
	}
	code, reason := m.ErrCode, m.ErrReason
	if code < 300 || code > 699 {
		code, reason = 500, "Server Sanity Failure"
	}
	return m.Reply(code, reason)
}

// checkRURIVersion: a version without "/" gets no reply, as in Kamailio.
func checkRURIVersion(req *sip.Request) *Failure {
	v := req.SipVersion
	if v == "" {
		return nil
	}
	i := strings.IndexByte(v, '/')
	if i < 0 {
		return fail(CheckRURIVersion, 0, "no / in the SIP version")
	}
	if v[i+1:] != "2.0" {
		return fail(CheckRURIVersion, 505, "Version Not Supported (R-URI)")
	}
	return nil
}

// checkRURIScheme answers an unknown scheme with 416 as RFC 3261 §8.2.2.1
// asks. (Kamailio's own URI parser refuses unknown schemes first, so it
// answers them 400 Bad Request URI.)
func checkRURIScheme(req *sip.Request) *Failure {
	u := &req.Recipient
	if !knownScheme(u.Scheme) {
		return fail(CheckRURIScheme, 416, "Unsupported URI Scheme in Request URI")
	}
	if !uriOK(u) {
		return fail(CheckRURIScheme, 400, "Bad Request URI")
	}
	return nil
}

// knownScheme lists the schemes Kamailio's URI parser accepts.
func knownScheme(s string) bool {
	switch s {
	case "sip", "sips", "tel", "tels", "urn":
		return true
	}
	return false
}

// uriOK is what can still go wrong in a URI sipgo accepted.
func uriOK(u *sip.Uri) bool {
	switch u.Scheme {
	case "sip", "sips":
		return u.Host != ""
	case "tel", "tels", "urn":
		return u.Raw() != ""
	}
	return false
}

// checkRequiredHeaders: without these a reply cannot be built, and
// Kamailio sends none; nor does it answer repeated ones.
func checkRequiredHeaders(req *sip.Request, hs *headers) *Failure {
	switch {
	case req.From() == nil:
		return fail(CheckRequiredHeaders, 0, "missing From")
	case req.To() == nil:
		return fail(CheckRequiredHeaders, 0, "missing To")
	case req.CallID() == nil:
		return fail(CheckRequiredHeaders, 0, "missing Call-ID")
	case req.CSeq() == nil:
		return fail(CheckRequiredHeaders, 0, "missing CSeq")
	case req.Via() == nil:
		return fail(CheckRequiredHeaders, 0, "missing Via")
	}
	switch {
	case hs.count(kFrom) > 1:
		return fail(CheckRequiredHeaders, 0, "repeated From")
	case hs.count(kTo) > 1:
		return fail(CheckRequiredHeaders, 0, "repeated To")
	case hs.count(kCallID) > 1:
		return fail(CheckRequiredHeaders, 0, "repeated Call-ID")
	case hs.count(kCSeq) > 1:
		return fail(CheckRequiredHeaders, 0, "repeated CSeq")
	}
	return nil
}

// checkVia1 also refuses a host with a colon that is no IPv6 address,
// which sipgo keeps ("Via: SIP/2.0/UDP :5060" has host ":5060").
func checkVia1(req *sip.Request) *Failure {
	v := req.Via()
	if v == nil || v.Host == "" || (strings.Contains(v.Host, ":") && net.ParseIP(core.Unbracket(v.Host)) == nil) {
		return fail(CheckVia1, 0, "no usable first Via")
	}
	return nil
}

// cseqParts splits the first CSeq header into number and method.
func cseqParts(hs *headers) (num, method string, ok bool) {
	h := hs.first(kCSeq)
	if h == nil {
		return "", "", false
	}
	if c, ok := h.(*sip.CSeqHeader); ok {
		// Parsed by sipgo: no need to format and split it again.
		return strconv.FormatUint(uint64(c.SeqNo), 10), ascii.TrimSPHT(string(c.MethodName)), true
	}
	v := ascii.TrimSPHT(h.Value())
	i := ascii.IndexAny(v, " \t")
	if i < 0 {
		return v, "", true
	}
	return v[:i], ascii.TrimSPHT(v[i:]), true
}

// checkCSeqMethod compares case-insensitively: sipgo upper-cases the
// request-line method, so an exact comparison would refuse valid
// extension methods (RFC 4475 intmeth).
func checkCSeqMethod(req *sip.Request, hs *headers) *Failure {
	_, method, ok := cseqParts(hs)
	switch {
	case !ok:
		return fail(CheckCSeqMethod, 0, "missing CSeq")
	case method == "":
		return fail(CheckCSeqMethod, 400, "Missing method in CSeq header")
	case !strings.EqualFold(method, string(req.Method)):
		return fail(CheckCSeqMethod, 400, "CSeq method does not match request method")
	}
	return nil
}

func checkCSeqValue(hs *headers) *Failure {
	if _, ok := hs.first(kCSeq).(*sip.CSeqHeader); ok {
		return nil // sipgo parsed the number as a uint32
	}
	num, _, ok := cseqParts(hs)
	switch {
	case !ok:
		return fail(CheckCSeqValue, 0, "missing CSeq")
	case num == "":
		return fail(CheckCSeqValue, 400, "Missing number in CSeq header")
	case !isUint32(num):
		return fail(CheckCSeqValue, 400, "CSeq number is illegal")
	}
	return nil
}

// checkContentLength compares every Content-Length header with the body
// sipgo read: the raw message is gone, but several headers that disagree
// (RFC 4475 mcl01) still show.
func checkContentLength(req *sip.Request, hs *headers) *Failure {
	body := len(req.Body())
	for h := range hs.all(kContentLength, kContentLength) {
		n, err := strconv.ParseUint(ascii.TrimSPHT(h.Value()), 10, 32)
		if err != nil {
			return fail(CheckContentLength, 400, "Content-Length Failure")
		}
		if n != uint64(body) {
			return fail(CheckContentLength, 400, "Content-Length mis-match")
		}
	}
	return nil
}

// checkExpires reads the value as Kamailio does: the number ends at the
// first white space. Every Expires header is checked, not just the first.
func checkExpires(hs *headers) *Failure {
	for h := range hs.all(kExpires, kExpires) {
		v := ascii.TrimSPHT(h.Value())
		if v == "" {
			return fail(CheckExpires, 400, "Bad Expires Header")
		}
		if i := ascii.IndexAny(v, " \t"); i >= 0 {
			v = v[:i]
		}
		if !isUint32(v) {
			return fail(CheckExpires, 400, "Expires value is illegal")
		}
	}
	return nil
}

// checkProxyRequire lists every unsupported tag in the 420 (Kamailio names
// the first only) and compares tags case-insensitively.
func (s *Sanity) checkProxyRequire(hs *headers) *Failure {
	var unsupported []string
	for h := range hs.all(kProxyRequire, kProxyRequire) {
		if ascii.TrimSPHT(h.Value()) == "" {
			return fail(CheckProxyRequire, 400, "Bad Proxy Require Header")
		}
		for tag := range strings.SplitSeq(h.Value(), ",") {
			tag = ascii.TrimSPHT(tag)
			if tag == "" {
				continue
			}
			// The tag goes into the reply: refuse what is not a token.
			if !isToken(tag) {
				return fail(CheckProxyRequire, 400, "Bad Proxy Require Header")
			}
			if !s.supported(tag) && !containsFold(unsupported, tag) {
				unsupported = append(unsupported, tag)
			}
		}
	}
	if len(unsupported) > 0 {
		f := fail(CheckProxyRequire, 420, "Bad Proxy Require Extension")
		f.Unsupported = unsupported
		return f
	}
	return nil
}

func (s *Sanity) supported(tag string) bool { return containsFold(s.ProxyRequire, tag) }

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// checkParseURIs: a missing From or To gets no reply, a bad one 400.
func checkParseURIs(req *sip.Request, hs *headers, uris URIChecks) *Failure {
	if uris&URIRequest != 0 && !uriOK(&req.Recipient) {
		return fail(CheckParseURIs, 400, "Bad Request URI")
	}
	if uris&URIFrom != 0 {
		if f := checkAddress(hs, kFrom, "Invalid From Header"); f != nil {
			return f
		}
	}
	if uris&URITo != 0 {
		// Kamailio's reason reads "Ivalid To Header".
		if f := checkAddress(hs, kTo, "Invalid To Header"); f != nil {
			return f
		}
	}
	if uris&URIContact != 0 {
		for h := range hs.all(kContact, kContact) {
			u, ok := contactURI(h)
			if !ok {
				return fail(CheckParseURIs, 400, "Bad Contact Header")
			}
			if u != nil && !uriOK(u) {
				return fail(CheckParseURIs, 400, "Bad Contact URI")
			}
		}
	}
	return nil
}

func checkAddress(hs *headers, k kind, reason string) *Failure {
	h := hs.first(k)
	if h == nil {
		return fail(CheckParseURIs, 0, "missing "+kindNames[k][0])
	}
	var u *sip.Uri
	switch a := h.(type) {
	case *sip.FromHeader:
		u = &a.Address
	case *sip.ToHeader:
		u = &a.Address
	default:
		u = new(sip.Uri)
		params := sip.NewParams()
		if _, err := sip.ParseAddressValue(h.Value(), u, &params); err != nil {
			return fail(CheckParseURIs, 400, reason)
		}
	}
	if !uriOK(u) {
		return fail(CheckParseURIs, 400, reason)
	}
	return nil
}

// contactURI returns a Contact's URI, nil for "*".
func contactURI(h sip.Header) (*sip.Uri, bool) {
	if c, ok := h.(*sip.ContactHeader); ok {
		if c.Address.Wildcard {
			return nil, true
		}
		return &c.Address, true
	}
	if ascii.TrimSPHT(h.Value()) == "*" {
		return nil, true
	}
	var u sip.Uri
	params := sip.NewParams()
	if _, err := sip.ParseAddressValue(h.Value(), &u, &params); err != nil {
		return nil, false
	}
	return &u, true
}

// checkCredentials checks Authorization, then Proxy-Authorization,
// headers. A scheme other than Digest fails CheckDigest without a reply,
// as in Kamailio, and is skipped by CheckAuthorization (Kamailio stops
// there; locus goes on to the other headers).
func checkCredentials(hs *headers, c Checks) *Failure {
	for h := range hs.all(kAuthorization, kProxyAuthorization) {
		cred, err := parseCredentials(h.Value())
		if errors.Is(err, errNotDigest) {
			if c == CheckDigest {
				return fail(c, 0, "credentials are not Digest")
			}
			continue
		}
		if err != nil {
			return fail(c, 400, "Bad Auth Header")
		}
		if f := cred.check(c); f != nil {
			return f
		}
	}
	return nil
}

// checkDupTags counts tag parameters. sipgo keeps one value per parameter
// name, so only tags spelt differently ("tag", "TAG") can still show.
func checkDupTags(req *sip.Request) *Failure {
	from, to := req.From(), req.To()
	if from == nil || to == nil {
		return fail(CheckDupTags, 0, "missing From or To")
	}
	if countTags(from.Params) > 1 {
		return fail(CheckDupTags, 400, "Many From Tag Params")
	}
	if countTags(to.Params) > 1 {
		return fail(CheckDupTags, 400, "Many To Tag Params")
	}
	return nil
}

func countTags(p sip.HeaderParams) int {
	n := 0
	for _, kv := range p {
		if strings.EqualFold(kv.K, "tag") {
			n++
		}
	}
	return n
}

// isUint32 accepts what Kamailio's str2valid_uint accepts: 1-10 digits,
// at most 4294967295.
func isUint32(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// isToken reports whether s is an RFC 3261 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
