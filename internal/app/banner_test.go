package app

import (
	"net"
	"strings"
	"testing"

	"github.com/switchboard-rtc/switchboard/internal/config"
)

// TestBannerNamesTheCredentialsFile: the banner says where generated keys
// are kept as one clean path, whether or not the data directory was given
// with a trailing slash.
func TestBannerNamesTheCredentialsFile(t *testing.T) {
	for _, dir := range []string{"data", "data/", "./data//"} {
		var out strings.Builder
		cfg := config.Default()
		cfg.Server.DataDir = dir
		a := &App{cfg: cfg, stdout: &out}
		a.printBanner(bannerInfo{
			addr:       &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443},
			publicHost: "localhost:8443",
			keys:       config.Keys{AccessKeyID: "AKIDEXAMPLE000000", SecretAccessKey: "secret"},
			generated:  true,
		})
		if want := "kept in data/credentials.json)"; !strings.Contains(out.String(), want) {
			t.Errorf("data dir %q: banner lacks %q:\n%s", dir, want, out.String())
		}
	}
}
