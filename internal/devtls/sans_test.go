package devtls

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func TestWantedSANs(t *testing.T) {
	base := []string{"127.0.0.1", "::1"}
	tests := []struct {
		name      string
		hosts     []string
		wantNames []string
		wantIPs   []string
		wantErr   error
	}{
		{name: "defaults only", wantNames: []string{"localhost"}, wantIPs: base},
		{name: "empty entries ignored", hosts: []string{"", "  "}, wantNames: []string{"localhost"}, wantIPs: base},
		{name: "name lower-cased, trailing dot dropped", hosts: []string{"My-Box.Example."}, wantNames: []string{"localhost", "my-box.example"}, wantIPs: base},
		{name: "duplicates merged", hosts: []string{"a.example", "A.EXAMPLE", "localhost", "127.0.0.1"}, wantNames: []string{"localhost", "a.example"}, wantIPs: base},
		{name: "bracketed IPv6", hosts: []string{"[2001:db8::1]"}, wantNames: []string{"localhost"}, wantIPs: append(base, "2001:db8::1")},
		{name: "IPv6 zone dropped", hosts: []string{"fe80::1%eth0"}, wantNames: []string{"localhost"}, wantIPs: append(base, "fe80::1")},
		{name: "IPv4-mapped unmapped", hosts: []string{"::ffff:192.0.2.1", "192.0.2.1"}, wantNames: []string{"localhost"}, wantIPs: append(base, "192.0.2.1")},
		{name: "underscore allowed", hosts: []string{"my_host"}, wantNames: []string{"localhost", "my_host"}, wantIPs: base},
		{name: "space", hosts: []string{"my host"}, wantErr: ErrInvalidHost},
		{name: "port", hosts: []string{"example.com:8443"}, wantErr: ErrInvalidHost},
		{name: "wildcard", hosts: []string{"*.example.com"}, wantErr: ErrInvalidHost},
		{name: "URL", hosts: []string{"https://example.com"}, wantErr: ErrInvalidHost},
		{name: "empty label", hosts: []string{"a..b"}, wantErr: ErrInvalidHost},
		{name: "leading hyphen", hosts: []string{"-a.example"}, wantErr: ErrInvalidHost},
		{name: "non-ASCII", hosts: []string{"bücher.example"}, wantErr: ErrInvalidHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wantedSANs(tt.hosts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !slices.Equal(got.dns, tt.wantNames) {
				t.Errorf("names %v, want %v", got.dns, tt.wantNames)
			}
			var ips []netip.Addr
			for _, s := range tt.wantIPs {
				ips = append(ips, netip.MustParseAddr(s))
			}
			if !slices.Equal(got.ips, ips) {
				t.Errorf("addresses %v, want %v", got.ips, ips)
			}
		})
	}
}
