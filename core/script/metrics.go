package script

import "github.com/prometheus/client_golang/prometheus"

// RegisterMetrics exposes the runtime's reload history on reg.
func (r *Runtime) RegisterMetrics(reg prometheus.Registerer) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "locus_script_reloads_total",
			Help: "Script reloads that swapped in a new generation.",
		}, func() float64 { return float64(r.reloads.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "locus_script_reload_failures_total",
			Help: "Script reloads refused (compile or load errors); the previous generation kept serving.",
		}, func() float64 { return float64(r.reloadFailures.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "locus_script_generation",
			Help: "Generation number of the script serving requests.",
		}, func() float64 { return float64(r.cur.Load().ID) }),
	)
}
