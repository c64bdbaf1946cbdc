package registrar

import (
	"context"
	"strings"
	"time"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/usrloc"
	lua "github.com/yuin/gopher-lua"
)

// profile is a snapshot of an AoR's bindings loaded by reg_fetch_contacts
// (or the expired binding in an event route), read through $ulc.
type profile struct {
	aor      string
	bindings []usrloc.Binding
	at       time.Time
}

func profileKey(name string) string { return "registrar:ulc:" + name }

// FetchContacts loads the AoR's bindings into profile name of m, for
// $ulc(name=>attr). It returns the number of bindings.
func (r *Registrar) FetchContacts(ctx context.Context, m *core.Msg, table, uri, name string) (int, error) {
	aor, err := ParseAOR(uri, r.CaseSensitiveUser)
	if err != nil {
		return 0, err
	}
	r.mayBlock(m)
	bs, err := r.ul.Lookup(ctx, table, aor)
	if err != nil {
		return 0, err
	}
	m.Set(profileKey(name), &profile{aor: aor, bindings: bs, at: r.now()})
	return len(bs), nil
}

// FreeContacts drops a profile.
func (r *Registrar) FreeContacts(m *core.Msg, name string) {
	m.Set(profileKey(name), nil)
}

// PVClasses provides $ulc(profile=>attr) and $(ulc(profile=>attr)[i]).
func (r *Registrar) PVClasses() map[string]core.PVClass {
	return map[string]core.PVClass{"ulc": r.ulc}
}

func (r *Registrar) ulc(m *core.Msg, inner string, index int) any {
	name, attr, ok := strings.Cut(inner, "=>")
	if !ok {
		return nil
	}
	p, _ := m.Get(profileKey(strings.TrimSpace(name))).(*profile)
	if p == nil {
		return nil
	}
	attr = strings.TrimSpace(attr)
	switch attr {
	case "aor":
		return p.aor
	case "count":
		return len(p.bindings)
	}
	if index < 0 || index >= len(p.bindings) {
		return nil
	}
	b := &p.bindings[index]
	switch attr {
	case "addr", "contact":
		return b.Contact
	case "path":
		return strings.Join(b.Path, ",")
	case "received":
		return b.Received
	case "expires":
		return b.Remaining(p.at)
	case "callid":
		return b.CallID
	case "cseq":
		return int(b.CSeq)
	case "q":
		if b.Q == usrloc.QUnset {
			return -1
		}
		return b.Q
	case "flags", "cflags":
		return int(b.Flags)
	case "user_agent":
		return b.UserAgent
	case "socket":
		return b.Socket
	case "modified":
		return int(b.Modified.Unix())
	case "methods":
		return b.Methods
	case "ruid":
		return b.RUID
	case "reg_id":
		return b.RegID
	case "instance":
		return b.Instance
	case "conid":
		return b.ConnID
	}
	return nil
}

// Event is the event route function the registrar calls.
const Event = "ksr_registrar_event"

// ExpiredEvent is the event name for a binding removed by expiry.
const ExpiredEvent = "usrloc:contact-expired"

// expired runs the script's event route for a binding that expired, with
// the binding readable as $ulc(exp=>attr).
func (r *Registrar) expired(x usrloc.Expired, script core.ScriptCaller) {
	if script == nil {
		return
	}
	b := x.Binding
	m := core.NewEventMsg(ExpiredEvent)
	m.Set(profileKey("exp"), &profile{aor: b.AOR, bindings: []usrloc.Binding{b}, at: r.now()})
	if err := script.Call(m, Event, lua.LString(ExpiredEvent)); err != nil {
		r.log.Warn("event route failed", "event", ExpiredEvent, "aor", b.AOR, "error", err)
	}
}
