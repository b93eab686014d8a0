package devtls

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCertPool(t *testing.T) {
	b := mustEnsure(t, Options{Dir: newDir(t)})
	pool, err := b.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	want := x509.NewCertPool()
	want.AddCert(readCert(t, b.CAFile))
	if !pool.Equal(want) {
		t.Error("pool does not hold exactly the CA")
	}

	missing := &Bundle{CAFile: filepath.Join(t.TempDir(), "ca.pem")}
	if _, err := missing.CertPool(); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing.CAFile) {
		t.Errorf("missing CA file: %v", err)
	}
	empty := &Bundle{CAFile: filepath.Join(t.TempDir(), "ca.pem")}
	if err := os.WriteFile(empty.CAFile, []byte("nothing"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := empty.CertPool(); !errors.Is(err, ErrBadPEM) || !strings.Contains(err.Error(), empty.CAFile) {
		t.Errorf("CA file without certificate: %v", err)
	}
}

func TestTrustInstructions(t *testing.T) {
	b := mustEnsure(t, Options{Dir: newDir(t)})
	text := b.TrustInstructions()
	for _, want := range []string{b.CAFile, b.CAFingerprint, "AWS_CA_BUNDLE=" + b.CAFile, "--cacert " + b.CAFile} {
		if !strings.Contains(text, want) {
			t.Errorf("instructions lack %q:\n%s", want, text)
		}
	}
}
