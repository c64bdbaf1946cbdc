package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/locus-sip/locus/core"
	"github.com/locus-sip/locus/modules/usrloc"
	dto "github.com/prometheus/client_model/go"
)

// Metric families the statistics are read from: the registry is the one
// source of truth, so /api/v1/stats and /metrics always agree.
const (
	metricRequests      = "locus_core_requests_total"
	metricInflight      = "locus_core_inflight_requests"
	metricOverload      = "locus_core_overload_rejections_total"
	metricRegistrations = "locus_registrar_registrations_total"
)

func (a *Admin) stats(w http.ResponseWriter, r *http.Request) {
	now := a.now()
	out := Stats{
		StartedAt:     a.started.UTC(),
		UptimeSeconds: int64(now.Sub(a.started) / time.Second),
		Requests:      map[string]map[string]uint64{},
		Listeners:     append([]string{}, a.host.Listeners()...),
	}
	if a.host.Metrics != nil {
		fams, err := a.host.Metrics.Gather()
		if err != nil {
			// Gather returns what it could collect along with the error.
			a.log.Warn("admin API: gathering metrics", "error", err)
		}
		for _, f := range fams {
			switch f.GetName() {
			case metricRequests:
				for _, m := range f.GetMetric() {
					n := uint64(m.GetCounter().GetValue())
					if n == 0 {
						continue
					}
					method, code := label(m, "method"), label(m, "code")
					if out.Requests[method] == nil {
						out.Requests[method] = map[string]uint64{}
					}
					out.Requests[method][code] += n
					out.RequestsTotal += n
				}
			case metricInflight:
				for _, m := range f.GetMetric() {
					out.Inflight += int64(m.GetGauge().GetValue())
				}
			case metricOverload:
				for _, m := range f.GetMetric() {
					out.OverloadRejections += uint64(m.GetCounter().GetValue())
				}
			case metricRegistrations:
				for _, m := range f.GetMetric() {
					if n := uint64(m.GetCounter().GetValue()); n > 0 {
						if out.Registrations == nil {
							out.Registrations = map[string]uint64{}
						}
						out.Registrations[label(m, "result")] += n
					}
				}
			}
		}
	}
	if c, ok := a.store().(usrloc.Counter); ok {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		aors, bindings, err := c.Count(ctx)
		cancel()
		if err != nil {
			a.log.Warn("admin API: counting the store", "error", err)
		} else {
			out.AORs, out.Bindings = &aors, &bindings
		}
	}
	if s := a.host.Script(); s != nil {
		if sc, ok := s.(interface{ Info() core.ScriptInfo }); ok {
			info := sc.Info()
			out.Script = &info
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
