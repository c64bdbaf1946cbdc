package pv

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/hdr"
)

// Errors of Parse and Set.
var (
	// ErrUnknown is returned for a name that is no pseudo-variable locus knows.
	ErrUnknown = errors.New("pv: unknown pseudo-variable")
	// ErrReadOnly is returned when setting a pseudo-variable that cannot be set.
	ErrReadOnly = errors.New("pv: read-only pseudo-variable")
	// ErrBadValue is returned for a value a writable pseudo-variable cannot take.
	ErrBadValue = errors.New("pv: invalid value")
)

// Kind identifies a pseudo-variable.
type Kind uint8

// The pseudo-variables locus knows, with their Kamailio names.
const (
	Invalid     Kind = iota
	Method           // $rm
	RURI             // $ru
	RUser            // $rU
	RHost            // $rd
	RPort            // $rp
	FromURI          // $fu
	FromUser         // $fU
	FromHost         // $fd
	FromName         // $fn
	ToURI            // $tu
	ToUser           // $tU
	ToHost           // $td
	ToName           // $tn
	CallID           // $ci
	CSeq             // $cs
	UserAgent        // $ua
	SrcIP            // $si
	SrcPort          // $sp
	Proto            // $pr, $proto
	LocalIP          // $Ri
	LocalPort        // $Rp
	Body             // $rb
	Header           // $hdr(name)
	Var              // $var(name)
	DstURI           // $du
	ReplyStatus      // $rs (reply routes)
	ReplyReason      // $rr (reply routes)
	Class            // $name(inner) or $name of another module (PVProvider)
)

// names are the pseudo-variables without an inner name. Names are case
// sensitive, as in Kamailio ($ru and $rU differ).
var names = map[string]Kind{
	"$rm": Method, "$ru": RURI, "$rU": RUser, "$rd": RHost, "$rp": RPort,
	"$fu": FromURI, "$fU": FromUser, "$fd": FromHost, "$fn": FromName,
	"$tu": ToURI, "$tU": ToUser, "$td": ToHost, "$tn": ToName,
	"$ci": CallID, "$cs": CSeq, "$ua": UserAgent,
	"$si": SrcIP, "$sp": SrcPort, "$pr": Proto, "$proto": Proto,
	"$Ri": LocalIP, "$Rp": LocalPort, "$rb": Body, "$du": DstURI,
	"$rs": ReplyStatus, "$rr": ReplyReason,
}

// Spec is a parsed pseudo-variable name.
type Spec struct {
	Kind Kind
	// Arg is the inner name of $hdr(name), $var(name) and $name(inner).
	Arg string
	// Index is the i of $(name(inner)[i]).
	Index int
	class core.PVClass
}

// Writable reports whether the script may set the pseudo-variable.
func (s Spec) Writable() bool {
	switch s.Kind {
	case RURI, RUser, RHost, RPort, Var, DstURI:
		return true
	}
	return false
}

// Parse parses a pseudo-variable name such as "$ru", "$hdr(Expires)" or
// "$var(user)". It does not allocate unless the name is unknown, so
// callers need not cache its result.
func Parse(name string) (Spec, error) {
	if !strings.HasSuffix(name, ")") {
		if k, ok := names[name]; ok {
			return Spec{Kind: k}, nil
		}
	} else if arg, ok := inner(name, "$var("); ok && validVarName(arg) {
		return Spec{Kind: Var, Arg: arg}, nil
	} else if arg, ok := inner(name, "$hdr("); ok && hdr.ValidName(arg) {
		return Spec{Kind: Header, Arg: arg}, nil
	}
	return Spec{}, fmt.Errorf("%w %q", ErrUnknown, clip(name))
}

// clip shortens a script-supplied name for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// inner returns the x of prefix+x+")"; name ends in ")".
func inner(name, prefix string) (string, bool) {
	if len(name) <= len(prefix)+1 || !strings.HasPrefix(name, prefix) {
		return "", false
	}
	return name[len(prefix) : len(name)-1], true
}

// validVarName reports whether s may name a $var: letters, digits, '_',
// '-' and '.'.
func validVarName(s string) bool {
	if len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return s != ""
}

// Type is the type of a pseudo-variable's value.
type Type uint8

// Value types. Null is Kamailio's $null: the pseudo-variable has no value.
const (
	Null Type = iota
	Str
	Int
)

// Value is the value of a pseudo-variable.
type Value struct {
	Type Type
	S    string // when Type is Str
	N    int    // when Type is Int
}

// StrValue returns a string value.
func StrValue(s string) Value { return Value{Type: Str, S: s} }

// IntValue returns an integer value.
func IntValue(n int) Value { return Value{Type: Int, N: n} }

func (v Value) String() string {
	switch v.Type {
	case Str:
		return strconv.Quote(v.S)
	case Int:
		return strconv.Itoa(v.N)
	}
	return "<null>"
}

// strOrNull is a string value, Null when empty: Kamailio's $null for a
// missing user, host, display name or address.
func strOrNull(s string) Value {
	if s == "" {
		return Value{}
	}
	return StrValue(s)
}

// Get returns the value of the pseudo-variable s for the request m. The
// types follow Kamailio's KEMI: $sp, $Rp and $var integers are Int; the
// rest, $cs and $rp included, are Str.
func (p *PV) Get(m *core.Msg, s Spec) Value {
	req := m.Req
	switch s.Kind {
	case Method:
		return StrValue(string(req.Method))
	case RURI:
		return StrValue(uriString(&req.Recipient))
	case RUser:
		if !isSIP(&req.Recipient) {
			return Value{}
		}
		return strOrNull(req.Recipient.User)
	case RHost:
		if !isSIP(&req.Recipient) {
			return Value{}
		}
		return strOrNull(req.Recipient.Host)
	case RPort:
		if !isSIP(&req.Recipient) {
			return Value{}
		}
		if req.Recipient.Port > 0 {
			return StrValue(strconv.Itoa(req.Recipient.Port))
		}
		return StrValue(defaultPort(&req.Recipient))
	case FromURI, FromUser, FromHost, FromName:
		f := req.From()
		if f == nil {
			return Value{}
		}
		return addressPart(s.Kind-FromURI, f.DisplayName, &f.Address)
	case ToURI, ToUser, ToHost, ToName:
		t := req.To()
		if t == nil {
			return Value{}
		}
		return addressPart(s.Kind-ToURI, t.DisplayName, &t.Address)
	case CallID:
		if h := req.CallID(); h != nil {
			return strOrNull(string(*h))
		}
		return Value{}
	case CSeq:
		if h := req.CSeq(); h != nil {
			return StrValue(strconv.FormatUint(uint64(h.SeqNo), 10))
		}
		return Value{}
	case UserAgent:
		return header(req, "User-Agent")
	case SrcIP:
		return strOrNull(m.SrcIP)
	case SrcPort:
		if m.SrcIP == "" {
			return Value{}
		}
		return IntValue(m.SrcPort)
	case Proto:
		if m.Transport == "" {
			return StrValue("none")
		}
		return StrValue(m.Transport)
	case LocalIP:
		return strOrNull(m.LocalIP)
	case LocalPort:
		if m.LocalIP == "" {
			return Value{}
		}
		return IntValue(m.LocalPort)
	case Body:
		// Kamailio's $rb is "" for a request without a body, not $null.
		return StrValue(string(req.Body()))
	case Header:
		return header(req, s.Arg)
	case Var:
		return varValue(m.Vars, s.Arg)
	case DstURI:
		return strOrNull(m.DstURI)
	case ReplyStatus:
		if m.Res == nil {
			return Value{}
		}
		return IntValue(m.Res.StatusCode)
	case ReplyReason:
		if m.Res == nil {
			return Value{}
		}
		return strOrNull(m.Res.Reason)
	case Class:
		switch v := s.class(m, s.Arg, s.Index).(type) {
		case string:
			return StrValue(v)
		case int:
			return IntValue(v)
		}
	}
	return Value{}
}

// addressPart returns part i (URI, user, host, display name, in Kind
// order) of a From or To header.
func addressPart(i Kind, display string, u *sip.Uri) Value {
	switch i {
	case 0:
		return StrValue(uriString(u))
	case 1:
		if !isSIP(u) {
			return Value{}
		}
		return strOrNull(u.User)
	case 2:
		if !isSIP(u) {
			return Value{}
		}
		return strOrNull(u.Host)
	default:
		return strOrNull(display)
	}
}

func header(req *sip.Request, name string) Value {
	if v, ok := hdr.Get(req, name); ok {
		return StrValue(v)
	}
	return Value{}
}

// varValue reads a $var. As in Kamailio, a $var never set reads 0, not
// $null.
func varValue(vars map[string]any, name string) Value {
	switch x := vars[name].(type) {
	case nil:
		return IntValue(0)
	case string:
		return StrValue(x)
	case int:
		return IntValue(x)
	case int64:
		return IntValue(int(x))
	case int32:
		return IntValue(int(x))
	case bool:
		if x {
			return IntValue(1)
		}
		return IntValue(0)
	default:
		return StrValue(fmt.Sprint(x))
	}
}

// IsNull reports whether s has no value ($null) for m.
func (p *PV) IsNull(m *core.Msg, s Spec) bool {
	return p.Get(m, s).Type == Null
}

// Set sets the pseudo-variable s for the request m. Writable are $var(name)
// (any value; Null stores 0, as Kamailio does) and the Request-URI and its
// parts: $ru (a whole URI), $rU (user; "" or Null removes it), $rd (host)
// and $rp (port as Int or digits; "" or Null removes it). A value that would
// not make a valid Request-URI is refused with ErrBadValue and changes
// nothing.
func (p *PV) Set(m *core.Msg, s Spec, v Value) error {
	switch s.Kind {
	case Var:
		if m.Vars == nil {
			m.Vars = make(map[string]any)
		}
		switch v.Type {
		case Str:
			m.Vars[s.Arg] = v.S
		case Int:
			m.Vars[s.Arg] = v.N
		default:
			m.Vars[s.Arg] = 0
		}
		return nil
	case RURI:
		if v.Type != Str {
			return fmt.Errorf("%w: $ru takes a string", ErrBadValue)
		}
		u, err := parseRURI(v.S)
		if err != nil {
			return fmt.Errorf("%w: $ru: %v", ErrBadValue, err)
		}
		m.Req.Recipient = u
		return nil
	case RUser:
		return setUser(&m.Req.Recipient, v)
	case RHost:
		return setHost(&m.Req.Recipient, v)
	case RPort:
		return setPort(&m.Req.Recipient, v)
	case DstURI:
		if v.Type == Null || v.Type == Str && v.S == "" {
			m.DstURI = ""
			return nil
		}
		if v.Type != Str {
			return fmt.Errorf("%w: $du takes a string", ErrBadValue)
		}
		u, err := parseRURI(v.S)
		if err != nil || !isSIP(&u) {
			return fmt.Errorf("%w: $du: want a SIP URI", ErrBadValue)
		}
		m.DstURI = v.S
		return nil
	case Invalid:
		return ErrUnknown
	}
	return ErrReadOnly
}

// Unset sets s to Null: it removes the Request-URI's user or port and sets
// a $var to 0. $ru and $rd cannot be unset.
func (p *PV) Unset(m *core.Msg, s Spec) error {
	return p.Set(m, s, Value{})
}

func setUser(u *sip.Uri, v Value) error {
	if !isSIP(u) {
		return fmt.Errorf("%w: $rU: %v", ErrBadValue, errNotSIPURI)
	}
	var user string
	switch v.Type {
	case Str:
		user = v.S
	case Int:
		return fmt.Errorf("%w: $rU takes a string", ErrBadValue)
	}
	if user != "" && !validUser(user) {
		return fmt.Errorf("%w: $rU: %v", ErrBadValue, errBadUser)
	}
	u.User = user
	if user == "" {
		u.Password = ""
	}
	return nil
}

func setHost(u *sip.Uri, v Value) error {
	if !isSIP(u) {
		return fmt.Errorf("%w: $rd: %v", ErrBadValue, errNotSIPURI)
	}
	if v.Type != Str {
		return fmt.Errorf("%w: $rd takes a string", ErrBadValue)
	}
	host, err := normHost(v.S)
	if err != nil {
		return fmt.Errorf("%w: $rd: %v", ErrBadValue, err)
	}
	u.Host = host
	return nil
}

func setPort(u *sip.Uri, v Value) error {
	if !isSIP(u) {
		return fmt.Errorf("%w: $rp: %v", ErrBadValue, errNotSIPURI)
	}
	port := 0
	switch v.Type {
	case Int:
		if v.N < 1 || v.N > 65535 {
			return fmt.Errorf("%w: $rp: %v", ErrBadValue, errBadPort)
		}
		port = v.N
	case Str:
		if v.S != "" {
			n, err := parsePort(v.S)
			if err != nil {
				return fmt.Errorf("%w: $rp: %v", ErrBadValue, err)
			}
			port = n
		}
	}
	u.Port = port
	return nil
}

// ParseName parses name as KSR.pv does: the names Parse knows, then the
// pseudo-variable classes other modules provide ($au, $ulc(...)). Other
// modules that format text with pseudo-variables (xlog) resolve names
// through it, so a name means the same everywhere.
func (p *PV) ParseName(name string) (Spec, error) { return p.parse(name) }

// parse parses name as Parse does, then as a pseudo-variable class of
// another module: $name, $name(inner) or $(name(inner)[index]).
func (p *PV) parse(name string) (Spec, error) {
	s, err := Parse(name)
	if err == nil || len(p.classes) == 0 {
		return s, err
	}
	body, ok := strings.CutPrefix(name, "$")
	if !ok {
		return s, err
	}
	index := 0
	if strings.HasPrefix(body, "(") && strings.HasSuffix(body, ")") {
		body = body[1 : len(body)-1]
		if i := strings.LastIndexByte(body, '['); i > 0 && strings.HasSuffix(body, "]") {
			n, aerr := strconv.Atoi(body[i+1 : len(body)-1])
			if aerr != nil || n < 0 {
				return s, err
			}
			body, index = body[:i], n
		}
	}
	cls, arg := body, ""
	if i := strings.IndexByte(body, '('); i > 0 && strings.HasSuffix(body, ")") {
		cls, arg = body[:i], body[i+1:len(body)-1]
	}
	if c, ok := p.classes[cls]; ok {
		return Spec{Kind: Class, Arg: arg, Index: index, class: c}, nil
	}
	return s, err
}
