package usrloc

import (
	"context"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of the location service; nil when not provisioned with a registry.
type metrics struct {
	storeDuration *prometheus.HistogramVec
	storeErrors   *prometheus.CounterVec
	expired       prometheus.Counter
	cacheHits     prometheus.Counter
	cacheMisses   prometheus.Counter
	// ops holds each operation's series, resolved once: a label lookup
	// per store call is measurable on the REGISTER path.
	ops [len(opNames)]opMetrics
}

// opNames are the operations op records.
var opNames = [...]string{"get", "update", "expire"}

type opMetrics struct {
	duration prometheus.Observer
	errors   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, st Store) *metrics {
	m := &metrics{
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "locus_usrloc_store_duration_seconds",
			Help:    "Latency of location store operations, by operation (get, update, expire).",
			Buckets: []float64{0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1},
		}, []string{"op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "locus_usrloc_store_errors_total",
			Help: "Location store operations that failed, by operation.",
		}, []string{"op"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "locus_usrloc_expired_bindings_total",
			Help: "Bindings removed because they expired.",
		}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "locus_usrloc_cache_hits_total",
			Help: "Lookups answered from the read cache.",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "locus_usrloc_cache_misses_total",
			Help: "Lookups that went to the store although the cache is on.",
		}),
	}
	reg.MustRegister(m.storeDuration, m.storeErrors, m.expired, m.cacheHits, m.cacheMisses)
	if c, ok := st.(Counter); ok {
		count := func(aors bool) func() float64 {
			return func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				a, b, err := c.Count(ctx)
				if err != nil {
					return math.NaN()
				}
				if aors {
					return float64(a)
				}
				return float64(b)
			}
		}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "locus_usrloc_aors", Help: "AoRs in the location store."}, count(true)),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "locus_usrloc_bindings", Help: "Bindings in the location store (expired ones not yet swept included)."}, count(false)),
		)
	}
	for i, op := range opNames {
		m.ops[i] = opMetrics{duration: m.storeDuration.WithLabelValues(op), errors: m.storeErrors.WithLabelValues(op)}
	}
	return m
}

// op records one store operation's latency and outcome.
func (m *metrics) op(name string, start time.Time, err error) {
	if m == nil {
		return
	}
	for i := range opNames {
		if opNames[i] == name {
			m.ops[i].duration.Observe(time.Since(start).Seconds())
			if err != nil {
				m.ops[i].errors.Inc()
			}
			return
		}
	}
	m.storeDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	if err != nil {
		m.storeErrors.WithLabelValues(name).Inc()
	}
}

func (m *metrics) cache(hit bool) {
	if m == nil {
		return
	}
	if hit {
		m.cacheHits.Inc()
	} else {
		m.cacheMisses.Inc()
	}
}
