package auth

import "github.com/prometheus/client_golang/prometheus"

var resultNames = map[Result]string{
	OK: "ok", Error: "error", InvalidPassword: "wrong_password", UserUnknown: "unknown_user",
	StaleNonce: "stale_nonce", NoCredentials: "no_credentials", NonceReused: "nonce_reused",
	UserMismatch: "user_mismatch",
}

type metrics struct {
	results    map[Result]prometheus.Counter
	challenges prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	results := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "locus_auth_results_total",
		Help: "Digest credential checks, by result (ok, wrong_password, unknown_user, stale_nonce, no_credentials, nonce_reused, user_mismatch, error).",
	}, []string{"result"})
	challenges := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "locus_auth_challenges_total",
		Help: "Challenges (401 or 407) sent.",
	})
	reg.MustRegister(results, challenges)
	m := &metrics{results: map[Result]prometheus.Counter{}, challenges: challenges}
	for r, name := range resultNames {
		m.results[r] = results.WithLabelValues(name)
	}
	return m
}

func (m *metrics) result(r Result) {
	if m == nil {
		return
	}
	if c, ok := m.results[r]; ok {
		c.Inc()
	}
}

func (m *metrics) challenge() {
	if m != nil {
		m.challenges.Inc()
	}
}
