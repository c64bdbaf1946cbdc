package core

import (
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus metrics. Modules register theirs on
// the same registry (Host.Metrics), named locus_<module>_<name>_<unit>.
type Metrics struct {
	requests       *prometheus.CounterVec
	scriptDuration prometheus.Histogram
	overloaded     prometheus.Counter
	shed           prometheus.Counter
	// requestCounters caches the counters of common method/code pairs:
	// WithLabelValues hashes its labels on every call.
	requestCounters map[reqKey]prometheus.Counter
}

type reqKey struct {
	method sip.RequestMethod
	code   int
}

// NewMetrics registers the engine's metrics on reg; eng's in-flight gauge
// reads the engine.
func NewMetrics(reg prometheus.Registerer, eng *Engine) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "locus_core_requests_total",
			Help: "SIP requests handled, by method and the status code of locus's final reply (0: none, as for ACK or a dropped request).",
		}, []string{"method", "code"}),
		scriptDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "locus_script_duration_seconds",
			Help:    "Time spent running ksr_request_route for one request.",
			Buckets: []float64{0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25},
		}),
		overloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "locus_core_overload_rejections_total",
			Help: "Requests answered 503 because too many were in progress or no script state was free.",
		}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "locus_core_udp_shed_total",
			Help: "UDP requests dropped unread because they waited in the socket buffer longer than sip.udp_max_queue_delay (overload).",
		}),
		requestCounters: map[reqKey]prometheus.Counter{},
	}
	inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "locus_core_inflight_requests",
		Help: "SIP requests being processed now.",
	}, func() float64 { return float64(eng.Inflight()) })
	reg.MustRegister(m.requests, m.scriptDuration, m.overloaded, m.shed, inflight)
	for _, method := range []sip.RequestMethod{sip.REGISTER, sip.OPTIONS, sip.INVITE, sip.ACK, sip.BYE, sip.MESSAGE, sip.SUBSCRIBE, sip.NOTIFY} {
		for _, code := range []int{0, 200, 302, 400, 401, 403, 404, 407, 423, 483, 500, 503} {
			m.requestCounters[reqKey{method, code}] = m.requests.WithLabelValues(string(method), strconv.Itoa(code))
		}
	}
	return m
}

func (m *Metrics) observe(method sip.RequestMethod, code int, script time.Duration) {
	if m == nil {
		return
	}
	if c, ok := m.requestCounters[reqKey{method, code}]; ok {
		c.Inc()
	} else {
		m.requests.WithLabelValues(string(method), strconv.Itoa(code)).Inc()
	}
	if script > 0 {
		m.scriptDuration.Observe(script.Seconds())
	}
}
