package pike

import "github.com/prometheus/client_golang/prometheus"

// registerMetrics exports the detector's counters; they are read from the
// detector at scrape time, so checks update nothing extra.
func registerMetrics(reg prometheus.Registerer, d *Detector) {
	if reg == nil {
		return
	}
	counter := func(result string, f func(Counters) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "locus_pike_checks_total",
			Help:        "Requests checked, by result: ok, flooding (a source already flooding), new_flood (a source that just went over its rate).",
			ConstLabels: prometheus.Labels{"result": result},
		}, func() float64 { return float64(f(d.Counters())) })
	}
	reg.MustRegister(
		counter("ok", func(c Counters) uint64 { return c.OK }),
		counter("flooding", func(c Counters) uint64 { return c.Flooding }),
		counter("new_flood", func(c Counters) uint64 { return c.NewFlood }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "locus_pike_tracked_ips",
			Help: "Source addresses remembered.",
		}, func() float64 { return float64(d.Counters().Tracked) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "locus_pike_flooding_ips",
			Help: "Source addresses flooding now.",
		}, func() float64 { return float64(d.Counters().Blocked) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "locus_pike_evicted_ips_total",
			Help: "Source addresses forgotten early because max_entries was reached.",
		}, func() float64 { return float64(d.Counters().Evicted) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "locus_pike_expired_ips_total",
			Help: "Source addresses forgotten after remove_latency without a request.",
		}, func() float64 { return float64(d.Counters().Expired) }),
	)
}
