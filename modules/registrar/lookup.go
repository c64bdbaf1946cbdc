package registrar

import (
	"context"
	"errors"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/usrloc"
)

// Lookup results, Kamailio's return codes.
const (
	Found          = 1
	NotFound       = -1
	MethodNotAllow = -2
	LookupError    = -3
)

// aorOf returns the AoR to look up: uri when given, else the R-URI.
func (r *Registrar) aorOf(m *core.Msg, uri string) (string, string, error) {
	if uri != "" {
		var u sip.Uri
		if err := sip.ParseUri(uri, &u); err != nil {
			return "", "", err
		}
		a, err := AOR(&u, r.CaseSensitiveUser)
		return a, u.Host, err
	}
	a, err := AOR(&m.Req.Recipient, r.CaseSensitiveUser)
	return a, m.Req.Recipient.Host, err
}

// Lookup finds the AoR's bindings, rewrites the Request-URI to the best
// one (highest q, then most recent), sets the destination when the
// binding must be reached elsewhere than its contact (Path, NAT), and adds
// the others as branches.
func (r *Registrar) Lookup(ctx context.Context, m *core.Msg, table, uri string) (int, error) {
	code, err := r.lookup(ctx, m, table, uri)
	r.metrics.lookedUp(code)
	return code, err
}

func (r *Registrar) lookup(ctx context.Context, m *core.Msg, table, uri string) (int, error) {
	aor, host, err := r.aorOf(m, uri)
	if err != nil {
		return LookupError, err
	}
	if !r.Serves(host) {
		return NotFound, nil
	}
	r.mayBlock(m)
	bs, err := r.ul.Lookup(ctx, table, aor)
	if err != nil {
		return LookupError, err
	}
	if len(bs) == 0 {
		return NotFound, nil
	}
	method := m.Req.Method.String()
	cands := make([]*usrloc.Binding, 0, len(bs))
	for i := range bs {
		if allows(bs[i].Methods, method) {
			cands = append(cands, &bs[i])
		}
	}
	if len(cands) == 0 {
		return MethodNotAllow, nil
	}
	sort.SliceStable(cands, func(a, b int) bool {
		qa, qb := effectiveQ(cands[a].Q), effectiveQ(cands[b].Q)
		if qa != qb {
			return qa > qb
		}
		return cands[a].Modified.After(cands[b].Modified)
	})
	branches := make([]core.Branch, 0, len(cands))
	for _, b := range cands {
		br := branchOf(b)
		br.AOR, br.Table = aor, table
		branches = append(branches, br)
	}
	var ru sip.Uri
	if err := sip.ParseUri(branches[0].URI, &ru); err != nil {
		return LookupError, err
	}
	m.Req.Recipient = ru
	m.DstURI = branches[0].Dst
	m.DstConn = branches[0].ConnID
	m.Binding = &branches[0]
	m.Branches = append(m.Branches[:0], branches[1:]...)
	return Found, nil
}

// effectiveQ orders bindings without q as q=1.0.
func effectiveQ(q int) int {
	if q == usrloc.QUnset {
		return 1000
	}
	return q
}

// allows reports whether the methods list ("" for any) includes method.
func allows(methods, method string) bool {
	if methods == "" {
		return true
	}
	for _, m := range strings.Split(methods, ",") {
		if strings.EqualFold(strings.TrimSpace(m), method) {
			return true
		}
	}
	return false
}

// branchOf turns a binding into a target. The destination is the first
// Path hop when there is a Path (RFC 3327), else the address the REGISTER
// came from when the contact does not point there (NAT), else empty.
func branchOf(b *usrloc.Binding) core.Branch {
	br := core.Branch{
		URI: b.Contact, Q: b.Q, Path: b.Path, Socket: b.Socket, ConnID: b.ConnID,
		Instance: b.Instance, RUID: b.RUID,
	}
	if len(b.Path) > 0 {
		br.Dst = nameAddrURI(b.Path[0])
		return br
	}
	if dst, ok := natDestination(b); ok {
		br.Dst = dst
	}
	return br
}

// natDestination returns "sip:ip:port;transport=proto" for the received
// address of a binding saved from behind NAT, when the contact's host and
// port differ from it.
func natDestination(b *usrloc.Binding) (string, bool) {
	if b.Flags&usrloc.FlagNAT == 0 {
		return "", false
	}
	proto, addr, ok := strings.Cut(b.Received, ":")
	if !ok {
		return "", false
	}
	rip, rport, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	var cu sip.Uri
	if err := sip.ParseUri(b.Contact, &cu); err != nil {
		return "", false
	}
	cport := cu.Port
	if cport == 0 {
		cport = 5060
		if strings.EqualFold(cu.Scheme, "sips") || proto == "tls" {
			cport = 5061
		}
	}
	if core.Unbracket(cu.Host) == rip && strconv.Itoa(cport) == rport {
		return "", false
	}
	host := rip
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "sip:" + host + ":" + rport + ";transport=" + proto, true
}

// Registered reports whether the AoR has live bindings.
func (r *Registrar) Registered(ctx context.Context, m *core.Msg, table, uri string) (bool, error) {
	aor, _, err := r.aorOf(m, uri)
	if err != nil {
		return false, err
	}
	r.mayBlock(m)
	bs, err := r.ul.Lookup(ctx, table, aor)
	return len(bs) > 0, err
}

// ErrNoBinding is returned by Unregister when nothing matched.
var ErrNoBinding = errors.New("registrar: no such binding")

// Unregister removes the AoR's bindings, or only the one with ruid.
func (r *Registrar) Unregister(ctx context.Context, table, uri, ruid string) (int, error) {
	aor, err := ParseAOR(uri, r.CaseSensitiveUser)
	if err != nil {
		return 0, err
	}
	n := 0
	_, err = r.ul.Update(ctx, table, aor, func(cur []usrloc.Binding) ([]usrloc.Binding, error) {
		n = 0
		var out []usrloc.Binding
		for _, b := range cur {
			if ruid == "" || b.RUID == ruid {
				n++
				continue
			}
			out = append(out, b)
		}
		return out, nil
	})
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, ErrNoBinding
	}
	return n, nil
}

// nameAddrURI returns the URI of a name-addr ("<sip:p.example.com;lr>")
// or the trimmed value of a bare URI.
func nameAddrURI(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return v[i+1 : i+j]
		}
	}
	return v
}
