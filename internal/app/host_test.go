package app

import (
	"net"
	"testing"
)

// TestAdvertisedHostLeavesOutPort443: the KVS C SDK connects only to port
// 443 and refuses endpoints that name a port (spec 1.4 and 9 item 1), so
// port 443 never appears in the advertised host, whether it comes from
// the listener or from a configured public host; other ports are kept.
func TestAdvertisedHostLeavesOutPort443(t *testing.T) {
	cases := []struct {
		configured string
		listener   string
		want       string
	}{
		{"", "0.0.0.0:443", "localhost"},
		{"", "[::]:443", "localhost"},
		{"", "192.0.2.7:443", "192.0.2.7"},
		{"", "[2001:db8::7]:443", "[2001:db8::7]"},
		{"", "0.0.0.0:8443", "localhost:8443"},
		{"", "192.0.2.7:8443", "192.0.2.7:8443"},
		{"signal.example.com:443", "0.0.0.0:8443", "signal.example.com"},
		{"signal.example.com.:443", "0.0.0.0:8443", "signal.example.com."},
		{"203.0.113.5:443", "0.0.0.0:8443", "203.0.113.5"},
		{"[2001:db8::5]:443", "0.0.0.0:8443", "[2001:db8::5]"},
		{"signal.example.com", "0.0.0.0:8443", "signal.example.com"},
		{"signal.example.com:8443", "0.0.0.0:443", "signal.example.com:8443"},
		{"[2001:db8::5]", "0.0.0.0:443", "[2001:db8::5]"},
		{"[2001:db8::5]:4443", "0.0.0.0:443", "[2001:db8::5]:4443"},
	}
	for _, tc := range cases {
		addr, err := net.ResolveTCPAddr("tcp", tc.listener)
		if err != nil {
			t.Fatal(err)
		}
		if got := advertisedHost(tc.configured, addr); got != tc.want {
			t.Errorf("advertisedHost(%q, %s) = %q, want %q", tc.configured, tc.listener, got, tc.want)
		}
	}
}
