package app

import (
	"net"
	"strconv"
)

// advertisedHost returns the host[:port] clients are told to use. A
// configured public host wins; otherwise the listener's address, with
// "localhost" standing in for an unspecified address. Port 443 is left out
// either way, because the KVS C SDK cannot parse endpoints with a port: an
// operator who writes "signal.example.com:443" means what the C SDK needs.
func advertisedHost(configured string, addr net.Addr) string {
	if configured != "" {
		return withoutPort443(configured)
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	if port == "443" {
		return hostForURL(host)
	}
	return net.JoinHostPort(host, port)
}

// withoutPort443 drops ":443" from a host[:port] that has it, keeping the
// brackets of an IPv6 address.
func withoutPort443(hostport string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || port != "443" {
		return hostport
	}
	return hostForURL(host)
}

func hostForURL(host string) string {
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		return "[" + host + "]"
	}
	return host
}

// hostOnly strips the port from host[:port].
func hostOnly(hostport string) string {
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		return host
	}
	return hostport
}

func itoa(n int) string { return strconv.Itoa(n) }
