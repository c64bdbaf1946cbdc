// Package usrloc is locus's location service: bindings of an AoR to its
// contacts, kept in a pluggable Store with a read cache in front.
package usrloc

import (
	"time"
)

// QUnset marks a binding registered without a q value.
const QUnset = -1

// Binding is one AoR → contact mapping with everything the registrar
// learned when it was saved, as Kamailio's ucontact holds it.
type Binding struct {
	AOR     string
	Contact string    // the contact URI as registered
	Expires time.Time // absolute expiry
	Q       int       // q × 1000 (0–1000), or QUnset
	CallID  string
	CSeq    uint32
	// Received is where the REGISTER came from: "proto:ip:port".
	Received string
	// Socket is the local socket it arrived on: "proto:ip:port".
	Socket string
	// ConnID identifies the stream connection (TCP, TLS, WS) it came on.
	ConnID    string
	Path      []string // Path header values, in order (RFC 3327)
	Instance  string   // +sip.instance, with its angle brackets and quotes removed
	RegID     int      // reg-id (RFC 5626), 0 if absent
	UserAgent string
	Methods   string // the contact's "methods" parameter or the REGISTER's Allow, "" for any
	Flags     uint32
	Modified  time.Time
	RUID      string // unique id of the binding record
}

// FlagNAT marks a binding saved from behind NAT (its REGISTER's Via or a
// private Contact did not match the address it came from): requests reach
// the device at Received, not at its Contact.
const FlagNAT uint32 = 1 << 0

// Expired reports whether b has expired at now.
func (b *Binding) Expired(now time.Time) bool { return !now.Before(b.Expires) }

// Remaining is b's remaining lifetime in whole seconds at now, at least 0.
func (b *Binding) Remaining(now time.Time) int {
	d := b.Expires.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// Live returns the bindings not expired at now, in a new slice.
func Live(bs []Binding, now time.Time) []Binding {
	out := make([]Binding, 0, len(bs))
	for _, b := range bs {
		if !b.Expired(now) {
			out = append(out, b)
		}
	}
	return out
}

// SplitExpired separates the bindings of one AoR expired at now from the
// others, for a store's Expire: the expired ones are appended to gone,
// with the table and, for those stored without one, the AoR set; keep
// holds the others in order, in bs's own array.
func SplitExpired(gone []Expired, table, aor string, bs []Binding, now time.Time) (keep []Binding, _ []Expired) {
	keep = bs[:0]
	for _, b := range bs {
		if !b.Expired(now) {
			keep = append(keep, b)
			continue
		}
		if b.AOR == "" {
			b.AOR = aor
		}
		gone = append(gone, Expired{Table: table, Binding: b})
	}
	return keep, gone
}
