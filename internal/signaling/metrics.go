package signaling

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rtc/switchboard/internal/bus"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

const metricPrefix = "switchboard_signaling_"

// metrics are the hub's Prometheus collectors. Counters on the message path
// are resolved once so that relaying a message does no label lookup.
type metrics struct {
	connections     *prometheus.GaugeVec   // role
	connects        *prometheus.CounterVec // role
	refusals        *prometheus.CounterVec // reason
	relayed         *prometheus.CounterVec // type, outcome
	rejected        *prometheus.CounterVec // reason
	statusResponses *prometheus.CounterVec // error_type
	dropped         *prometheus.CounterVec // reason
	disconnects     *prometheus.CounterVec // reason
	alexaOffers     *prometheus.CounterVec // result
	paced           *prometheus.CounterVec // result

	pacedDrained, pacedGaveUp prometheus.Counter

	relayedBy map[relayKey]prometheus.Counter
}

type relayKey struct {
	action  string
	outcome bus.Outcome
}

func newMetrics(reg prometheus.Registerer, b bus.Bus, parked func() int) (*metrics, error) {
	m := &metrics{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metricPrefix + "connections", Help: "Open signaling WebSocket connections by role.",
		}, []string{"role"}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricPrefix + "connects_total", Help: "Accepted signaling WebSocket connections by role.",
		}, []string{"role"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricPrefix + "refusals_total", Help: "Signaling connections refused at the handshake, by reason.",
		}, []string{"reason"}),
		relayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricPrefix + "messages_relayed_total",
			Help: "Client messages accepted, by type and outcome (delivered to a connection or queued in a mailbox).",
		}, []string{"type", "outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricPrefix + "messages_rejected_total", Help: "Client messages refused, by reason (with or without a STATUS_RESPONSE).",
		}, []string{"reason"}),
		statusResponses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricPrefix + "status_responses_total", Help: "STATUS_RESPONSE errors sent, by errorType.",
		}, []string{"error_type"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricPrefix + "dropped_connections_total", Help: "Connections dropped by the server because they failed to keep up, by reason.",
		}, []string{"reason"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricPrefix + "disconnects_total", Help: "Closed signaling connections by reason.",
		}, []string{"reason"}),
		alexaOffers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricPrefix + "alexa_offers_total", Help: "SendAlexaOfferToMaster calls by result.",
		}, []string{"result"}),
		paced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricPrefix + "paced_senders_total",
			Help: "Times a reader waited for a connection whose send queue was over half full (a viewer for its master, a client for its own answers), by result: drained, or gave_up after 250 ms.",
		}, []string{"result"}),
		relayedBy: make(map[relayKey]prometheus.Counter),
	}
	m.pacedDrained, m.pacedGaveUp = m.paced.WithLabelValues("drained"), m.paced.WithLabelValues("gave_up")
	parkedGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: metricPrefix + "parked_connections",
		Help: "Open connections waiting for their client with no goroutine (parked in the poller).",
	}, func() float64 { return float64(parked()) })
	collectors := append(mailboxCollectors(b), parkedGauge,
		m.connections, m.connects, m.refusals, m.relayed, m.rejected, m.statusResponses,
		m.dropped, m.disconnects, m.alexaOffers, m.paced)
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("signaling: register metrics: %w", err)
		}
	}
	for _, action := range []string{kvsapi.ActionSDPOffer, kvsapi.ActionSDPAnswer, kvsapi.ActionICECandidate} {
		for _, o := range []bus.Outcome{bus.Delivered, bus.Queued, bus.Dropped} {
			m.relayedBy[relayKey{action, o}] = m.relayed.WithLabelValues(action, o.String())
		}
	}
	for _, role := range []bus.Role{bus.RoleMaster, bus.RoleViewer} {
		m.connections.WithLabelValues(role.String())
		m.connects.WithLabelValues(role.String())
	}
	return m, nil
}

// mailboxCollectors read the bus's counters at scrape time.
func mailboxCollectors(b bus.Bus) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: metricPrefix + "mailbox_messages", Help: "Messages waiting in mailboxes for absent recipients.",
		}, func() float64 { return float64(b.Stats().MailboxMessages) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: metricPrefix + "mailbox_bytes", Help: "Bytes waiting in mailboxes for absent recipients.",
		}, func() float64 { return float64(b.Stats().MailboxBytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: metricPrefix + "mailbox_expired_total", Help: "Queued messages dropped because their TTL passed.",
		}, func() float64 { return float64(b.Stats().Expired) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: metricPrefix + "mailbox_replaced_total", Help: "Queued offers and answers replaced by newer ones from the same sender.",
		}, func() float64 { return float64(b.Stats().Replaced) }),
	}
}

func (m *metrics) messageRelayed(action string, o bus.Outcome) {
	if c := m.relayedBy[relayKey{action, o}]; c != nil {
		c.Inc()
	}
}
