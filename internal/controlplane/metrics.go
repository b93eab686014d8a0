package controlplane

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// throttled counts the calls a rate limit refused, by operation and
	// by the limit that refused them (account or channel).
	throttled *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_api_requests_total",
			Help: "REST operations served, by operation and AWS error name (empty on success).",
		}, []string{"operation", "error"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchboard_api_request_duration_seconds",
			Help:    "Time to serve a REST operation, by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"operation"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_api_throttled_total",
			Help: "REST operations refused by a control_plane rate limit, by operation and limit (account or channel).",
		}, []string{"operation", "limit"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.throttled} {
		if err := reg.Register(c); err != nil {
			return nil, errors.Join(errors.New("controlplane: register metrics"), err)
		}
	}
	return m, nil
}
