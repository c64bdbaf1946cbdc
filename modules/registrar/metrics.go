package registrar

import "github.com/prometheus/client_golang/prometheus"

// failureNames label rejected registrations.
var failureNames = [...]string{
	FailNone: "", FailNotRegister: "not_register", FailBadAOR: "bad_aor", FailDomain: "domain",
	FailUnsupported: "unsupported", FailStar: "bad_wildcard", FailBadExpires: "bad_expires",
	FailBadQ: "bad_q", FailBadContact: "bad_contact", FailBadRegID: "bad_reg_id",
	FailTooBrief: "too_brief", FailOutOfOrder: "out_of_order", FailTooMany: "too_many_contacts",
	FailStore: "store", FailInternal: "internal",
}

var resultNames = map[int]string{Inserted: "inserted", Updated: "updated", Deleted: "deleted", Queried: "queried"}

type metrics struct {
	ok       [Queried + 1]prometheus.Counter // by save result; an array, not a map: one per REGISTER
	rejected [len(failureNames)]prometheus.Counter
	lookups  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	regs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "locus_registrar_registrations_total",
		Help: "REGISTER requests processed by save, by result (inserted, updated, deleted, queried, rejected) and the reason of a rejection.",
	}, []string{"result", "reason"})
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "locus_registrar_lookups_total",
		Help: "Lookups, by result (found, not_found, method_not_allowed, error).",
	}, []string{"result"})
	reg.MustRegister(regs, lookups)
	m := &metrics{lookups: lookups}
	for code, name := range resultNames {
		m.ok[code] = regs.WithLabelValues(name, "")
	}
	for f, name := range failureNames {
		if f != int(FailNone) {
			m.rejected[f] = regs.WithLabelValues("rejected", name)
		}
	}
	for _, r := range []string{"found", "not_found", "method_not_allowed", "error"} {
		lookups.WithLabelValues(r)
	}
	return m
}

func (m *metrics) saved(code int, err error) {
	if m == nil {
		return
	}
	if re, ok := err.(*Error); ok && re.Failure != FailNone {
		m.rejected[re.Failure].Inc()
		return
	}
	if code >= 0 && code < len(m.ok) && m.ok[code] != nil {
		m.ok[code].Inc()
	}
}

func (m *metrics) lookedUp(code int) {
	if m == nil {
		return
	}
	switch code {
	case Found:
		m.lookups.WithLabelValues("found").Inc()
	case NotFound:
		m.lookups.WithLabelValues("not_found").Inc()
	case MethodNotAllow:
		m.lookups.WithLabelValues("method_not_allowed").Inc()
	default:
		m.lookups.WithLabelValues("error").Inc()
	}
}
