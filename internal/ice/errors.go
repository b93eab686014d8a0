package ice

import "errors"

// Sentinel errors. They are returned wrapped; test them with errors.Is.
var (
	// ErrPeerRefused means the relay policy refused a peer address.
	ErrPeerRefused = errors.New("ice: peer address refused by relay policy")
	// ErrQuota means an allocation quota (per credential or per channel)
	// is reached.
	ErrQuota = errors.New("ice: allocation quota reached")
	// ErrBadUsername means a TURN username is not one this server minted.
	ErrBadUsername = errors.New("ice: malformed TURN username")
	// ErrRelayFamily means no relay address of the requested family is
	// configured.
	ErrRelayFamily = errors.New("ice: no relay address of the requested family")
	// ErrNoRelayPort means no free port was found in the relay port range.
	ErrNoRelayPort = errors.New("ice: no free relay port")
	// ErrTCPRelayOverUDP means a client on UDP asked for a TCP relay,
	// which RFC 6062 (section 5.1) reserves for clients on TCP or TLS.
	ErrTCPRelayOverUDP = errors.New("ice: TCP relays are for clients on TCP or TLS")
	// ErrTCPConnLimit means a TCP relay holds as many peer connections as
	// turn.max_tcp_connections_per_allocation allows.
	ErrTCPConnLimit = errors.New("ice: peer connection limit of the TCP relay reached (turn.max_tcp_connections_per_allocation)")
	// ErrMissingDependency means New was given a Deps without something
	// the configuration needs.
	ErrMissingDependency = errors.New("ice: missing dependency")
)
