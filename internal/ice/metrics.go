package ice

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Label values.
const (
	relayUDP = "udp"
	relayTCP = "tcp"

	toPeer   = "to_peer"
	fromPeer = "from_peer"

	// Client transports (the listener an allocation was made on).
	transportUDP   = "udp"
	transportTCP   = "tcp"
	transportTLS   = "tls"
	transportHTTPS = "https"

	reasonBandwidth = "bandwidth"
	reasonSendError = "send_error"
	// reasonTCPConnsPerAllocation refuses a peer connection of a TCP
	// relay over turn.max_tcp_connections_per_allocation.
	reasonTCPConnsPerAllocation = "tcp_connections_per_allocation"
	// reasonPermissionsPerAllocation refuses a permission for one more
	// peer over turn.max_permissions_per_allocation.
	reasonPermissionsPerAllocation = "permissions_per_allocation"
)

// metrics are the relay's Prometheus collectors (prefix switchboard_turn_).
type metrics struct {
	allocations    *prometheus.GaugeVec
	allocated      *prometheus.CounterVec
	permissions    prometheus.Counter
	relayedBytes   *prometheus.CounterVec
	relayedPackets *prometheus.CounterVec
	refusals       *prometheus.CounterVec
	credFailures   *prometheus.CounterVec
	expiries       prometheus.Counter
	issued         prometheus.Counter
	throttled      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		allocations: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "switchboard_turn_allocations",
			Help: "Live TURN allocations, by client transport (udp, tcp, tls, https) and relay transport (udp, tcp).",
		}, []string{"transport", "relay"}),
		allocated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_turn_allocations_total",
			Help: "TURN allocations made, by client transport and relay transport.",
		}, []string{"transport", "relay"}),
		permissions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_turn_permissions_total",
			Help: "TURN permissions created (CreatePermission and ChannelBind).",
		}),
		relayedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_turn_relayed_bytes_total",
			Help: "Payload bytes relayed, by relay transport and direction (to_peer, from_peer).",
		}, []string{"relay", "direction"}),
		relayedPackets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_turn_relayed_packets_total",
			Help: "Datagrams (UDP) or reads and writes (TCP) relayed, by relay transport and direction.",
		}, []string{"relay", "direction"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_turn_refusals_total",
			Help: "Relay refusals by reason: peer_<class> (peer policy), quota_credential, quota_channel, quota_account (allocations over turn.max_allocations_per_credential, _channel, _account), bandwidth (datagrams dropped over the cap), send_error (datagrams a UDP relay socket failed to send), tcp_connections_per_allocation (peer connections of a TCP relay over its cap), permissions_per_allocation (permissions for one more peer over the cap), conn_limit and conn_limit_per_ip (TCP, TLS and HTTPS-port connections refused by the connection caps).",
		}, []string{"reason"}),
		credFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_turn_credential_failures_total",
			Help: "TURN requests refused for their credential, by reason (malformed, expired, retired_key: signed with a key out of service, bad_password).",
		}, []string{"reason"}),
		expiries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_turn_allocation_expiries_total",
			Help: "Allocations ended because their credential expired or its key retired.",
		}),
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_turn_credentials_issued_total",
			Help: "TURN credentials minted by GetIceServerConfig.",
		}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchboard_turn_get_ice_server_config_throttled_total",
			Help: "GetIceServerConfig calls refused by the per-channel rate limit.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.allocations, m.allocated, m.permissions, m.relayedBytes, m.relayedPackets,
		m.refusals, m.credFailures, m.expiries, m.issued, m.throttled} {
		if err := reg.Register(c); err != nil {
			return nil, errors.Join(errors.New("ice: register metrics"), err)
		}
	}
	return m, nil
}

// flow holds the counters of one relay transport and direction, resolved
// once so the per-packet path only adds.
type flow struct {
	bytes   prometheus.Counter
	packets prometheus.Counter
}

func (m *metrics) flow(relay, direction string) flow {
	return flow{bytes: m.relayedBytes.WithLabelValues(relay, direction), packets: m.relayedPackets.WithLabelValues(relay, direction)}
}

func (f flow) add(n int) {
	f.bytes.Add(float64(n))
	f.packets.Inc()
}

// addMany counts several datagrams at once.
func (f flow) addMany(packets, bytes int) {
	f.bytes.Add(float64(bytes))
	f.packets.Add(float64(packets))
}
