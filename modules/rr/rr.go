package rr

import (
	"github.com/emiago/sipgo/sip"
	"github.com/locus-sip/locus/core"
)

// Return codes of loose_route, as Kamailio's rr module has them.
const (
	// Routed: the request carried a Route set and its next hop is now
	// the top Route (or the Request-URI once locus's entries are gone).
	Routed = 1
	// NoRoute: no Route header, the request is not routed by them.
	NoRoute = -1
)

// RecordRoute asks for locus's Record-Route in the forwarded request; tm
// writes it per branch, doubled when the branch leaves over another
// transport or socket than the request came in on.
func (r *RR) RecordRoute(m *core.Msg) int {
	if m.Req.IsAck() || m.Req.IsCancel() || m.Req.Method == sip.REGISTER {
		return -1
	}
	m.RecordRouted = true
	return 1
}

// LooseRoute processes the Route set of an in-dialog (or preloaded)
// request as RFC 3261 §16.4 says: a Request-URI that is one of locus's
// own Record-Route entries (a strict router upstream) is replaced by the
// last Route; then every top Route that names locus is removed. The next
// hop is the remaining top Route, else the Request-URI.
func (r *RR) LooseRoute(m *core.Msg) int {
	req := m.Req
	routes := req.GetHeaders("Route")
	if len(routes) == 0 {
		return NoRoute
	}
	ru := &req.Recipient
	if ru.User == "" && r.isMyself(ru.Host, ru.Port) {
		// The previous hop was a strict router: the Request-URI is the
		// Record-Route locus put in, the real target is the last Route.
		if last, ok := routes[len(routes)-1].(*sip.RouteHeader); ok {
			req.Recipient = *last.Address.Clone()
			removeLast(req, "Route")
		}
	}
	for {
		top, ok := req.GetHeader("Route").(*sip.RouteHeader)
		if !ok || !r.isMyself(top.Address.Host, top.Address.Port) {
			break
		}
		req.RemoveHeader("Route")
	}
	return Routed
}

// removeLast removes the last header of name, keeping the others in order.
func removeLast(req *sip.Request, name string) {
	hs := req.GetHeaders(name)
	if len(hs) == 0 {
		return
	}
	for req.RemoveHeader(name) {
	}
	core.InsertAfterVia(req, hs[:len(hs)-1]...)
}
