package ice

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"testing"
)

func TestCheckFileLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   func(*Config)
		soft  uint64
		known bool
		warn  bool
	}{
		{"enough", withCaps(1000, 0), 1000 + fileHeadroom, true, false},
		{"short by one", withCaps(1000, 0), 1000 + fileHeadroom - 1, true, true},
		{"default cap, 1024 files", func(*Config) {}, 1024, true, true},
		{"no cap", withCaps(0, 0), 1024, true, false},
		{"limit unknown", withCaps(1000, 0), 0, false, false},
		{"no stream listener", func(c *Config) { c.TCPAddr, c.TLSAddr = "", "" }, 1024, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			svc := newProvider(t, testConfig(tc.cfg), Deps{Logger: slog.New(slog.NewTextHandler(&out, nil))})
			svc.checkFileLimit(tc.soft, tc.known)
			logged := out.String()
			if !tc.warn {
				if logged != "" {
					t.Fatalf("logged %q", logged)
				}
				return
			}
			if n := strings.Count(logged, "\n"); n != 1 || !strings.Contains(logged, "level=WARN") {
				t.Fatalf("want one warning, got %q", logged)
			}
			for _, want := range []string{"turn.max_tcp_connections", "max_tcp_connections=" + strconv.Itoa(svc.cfg.MaxTCPConnections), "open_file_limit=" + strconv.FormatUint(tc.soft, 10)} {
				if !strings.Contains(logged, want) {
					t.Errorf("the warning lacks %q: %s", want, logged)
				}
			}
		})
	}
}
