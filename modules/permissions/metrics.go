package permissions

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	allowed, denied prometheus.Counter
	reloadOK        prometheus.Counter
	reloadFailed    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, p *Permissions) *metrics {
	checks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "locus_permissions_checks_total",
		Help: "Address checks (allow_source_address, allow_address and the _group forms), by result: allowed, denied.",
	}, []string{"result"})
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "locus_permissions_reloads_total",
		Help: "Loads of the address groups file that changed the groups (ok) or were refused (failed).",
	}, []string{"result"})
	rules := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "locus_permissions_rules",
		Help: "Address group entries in use.",
	}, func() float64 {
		if t := p.Table(); t != nil {
			return float64(t.Len())
		}
		return 0
	})
	reg.MustRegister(checks, reloads, rules)
	return &metrics{
		allowed: checks.WithLabelValues("allowed"), denied: checks.WithLabelValues("denied"),
		reloadOK: reloads.WithLabelValues("ok"), reloadFailed: reloads.WithLabelValues("failed"),
	}
}

func (m *metrics) checked(ok bool) {
	switch {
	case m == nil:
	case ok:
		m.allowed.Inc()
	default:
		m.denied.Inc()
	}
}

func (m *metrics) reloaded(changed bool, err error) {
	switch {
	case err != nil:
		m.reloadFailed.Inc()
	case changed:
		m.reloadOK.Inc()
	}
}
