package htable

import "github.com/prometheus/client_golang/prometheus"

// registerMetrics exports each table's size and counters; they read the
// table's own counters, so the hot path updates nothing extra.
func registerMetrics(reg prometheus.Registerer, h *HTable) {
	if reg == nil {
		return
	}
	for _, t := range h.tables {
		labels := prometheus.Labels{"table": t.Name()}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name:        "locus_htable_items",
				Help:        "Items in the table, expired ones not yet swept included.",
				ConstLabels: labels,
			}, func() float64 { return float64(t.Len()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "locus_htable_expired_items_total",
				Help:        "Items removed because they expired.",
				ConstLabels: labels,
			}, func() float64 { e, _ := t.Stats(); return float64(e) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "locus_htable_refused_items_total",
				Help:        "New items refused because the table held max_items.",
				ConstLabels: labels,
			}, func() float64 { _, r := t.Stats(); return float64(r) }),
		)
	}
}
