package devtls

import (
	"bytes"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// allFiles lists the files Ensure manages.
var allFiles = []string{caCertName, caKeyName, leafCertName, leafKeyName}

// testLogger sends package logs to the test's output (shown with -v or on
// failure).
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newDir returns a not yet existing DATA_DIR/tls inside a fresh temporary
// directory.
func newDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "data", "tls")
}

// mustEnsure runs Ensure and fails the test on error.
func mustEnsure(t *testing.T, opts Options) *Bundle {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	b, err := Ensure(opts)
	if err != nil {
		t.Fatalf("Ensure(%s): %v", opts.Dir, err)
	}
	return b
}

// fixedNow returns an Options.Now that always answers t.
func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

// snapshot reads the managed files that exist in dir.
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, name := range allFiles {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			files[name] = data
		}
	}
	return files
}

// sameFiles fails unless the named files hold the same bytes in both
// snapshots.
func sameFiles(t *testing.T, before, after map[string][]byte, names ...string) {
	t.Helper()
	for _, n := range names {
		if !bytes.Equal(before[n], after[n]) {
			t.Errorf("%s changed", n)
		}
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCertPEM(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// verifyLeaf checks that the bundle's server certificate chains to its CA
// at time now for serverName.
func verifyLeaf(t *testing.T, b *Bundle, serverName string, now time.Time) {
	t.Helper()
	pool, err := b.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	leaf := readCert(t, b.CertFile)
	_, err = leaf.Verify(x509.VerifyOptions{
		Roots:       pool,
		DNSName:     serverName,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		t.Errorf("server certificate does not verify for %q: %v", serverName, err)
	}
}
