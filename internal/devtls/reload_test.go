package devtls

import (
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// servedSerial is the serial number of the certificate r hands out now.
func servedSerial(t *testing.T, r *Reloader) *big.Int {
	t.Helper()
	c, err := r.GetCertificate(nil)
	if err != nil || c == nil || c.Leaf == nil {
		t.Fatalf("GetCertificate: %v, %v", c, err)
	}
	return c.Leaf.SerialNumber
}

// waitForSerial polls r until it serves want or the deadline passes.
func waitForSerial(t *testing.T, r *Reloader, want *big.Int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for servedSerial(t, r).Cmp(want) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still serving %v, want %v", servedSerial(t, r), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pairFiles copies a bundle's server pair to cert.pem and key.pem in a
// fresh directory, as an operator's --tls-cert/--tls-key would be.
func pairFiles(t *testing.T, b *Bundle) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	copyFile(t, b.CertFile, certFile)
	copyFile(t, b.KeyFile, keyFile)
	return certFile, keyFile
}

func TestNewReloaderErrors(t *testing.T) {
	a := mustEnsure(t, Options{Dir: newDir(t)})
	b := mustEnsure(t, Options{Dir: newDir(t)})
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name          string
		cert, key     string
		wantErr       error
		wantFileNamed string
	}{
		{name: "certificate missing", cert: missing, key: a.KeyFile, wantErr: fs.ErrNotExist, wantFileNamed: missing},
		{name: "key missing", cert: a.CertFile, key: missing, wantErr: fs.ErrNotExist, wantFileNamed: missing},
		{name: "mismatched pair", cert: a.CertFile, key: b.KeyFile, wantFileNamed: b.KeyFile},
		{name: "key given as certificate", cert: a.KeyFile, key: a.KeyFile, wantFileNamed: a.KeyFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReloader(tt.cert, tt.key, nil)
			if err == nil {
				t.Fatal("NewReloader succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantFileNamed) {
				t.Errorf("error %q does not name %s", err, tt.wantFileNamed)
			}
		})
	}
}

func TestReloaderPicksUpRewrittenPair(t *testing.T) {
	tests := []struct {
		name  string
		write func(path string, data []byte) error
	}{
		{name: "replaced by rename", write: func(p string, d []byte) error { return writeAtomic(p, d, 0o600) }},
		{name: "rewritten in place", write: func(p string, d []byte) error { return os.WriteFile(p, d, 0o600) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := mustEnsure(t, Options{Dir: newDir(t)})
			second := mustEnsure(t, Options{Dir: newDir(t)})
			certFile, keyFile := pairFiles(t, first)
			r, err := NewReloader(certFile, keyFile, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := servedSerial(t, r), readCert(t, first.CertFile).SerialNumber; got.Cmp(want) != 0 {
				t.Fatalf("serving %v, want %v", got, want)
			}

			// Handshakes keep asking for the certificate while it changes.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						if c, err := r.GetCertificate(nil); c == nil || err != nil {
							t.Errorf("GetCertificate: %v, %v", c, err)
							return
						}
					}
				})
			}
			rewritePair(t, tt.write, second, certFile, keyFile)
			waitForSerial(t, r, readCert(t, second.CertFile).SerialNumber)
			close(stop)
			wg.Wait()
		})
	}
}

func rewritePair(t *testing.T, write func(string, []byte) error, from *Bundle, certFile, keyFile string) {
	t.Helper()
	for src, dst := range map[string]string{from.KeyFile: keyFile, from.CertFile: certFile} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := write(dst, data); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReloaderKeepsCertificateDuringPartialUpdate(t *testing.T) {
	first := mustEnsure(t, Options{Dir: newDir(t)})
	second := mustEnsure(t, Options{Dir: newDir(t)})
	certFile, keyFile := pairFiles(t, first)
	r, err := NewReloader(certFile, keyFile, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	r.interval = 0 // look at the files on every call
	oldSerial := readCert(t, first.CertFile).SerialNumber

	// New key, old certificate: the pair does not load; keep serving.
	copyViaRename(t, second.KeyFile, keyFile)
	if got := servedSerial(t, r); got.Cmp(oldSerial) != 0 {
		t.Fatalf("serving %v during a partial update, want the old %v", got, oldSerial)
	}
	// Files vanish: keep serving.
	if err := os.Remove(certFile); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, r); got.Cmp(oldSerial) != 0 {
		t.Fatalf("serving %v with the certificate file gone, want the old %v", got, oldSerial)
	}
	if err := r.Reload(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Reload with a missing file: %v, want not-exist", err)
	}
	// The certificate arrives: switch.
	copyViaRename(t, second.CertFile, certFile)
	if got, want := servedSerial(t, r), readCert(t, second.CertFile).SerialNumber; got.Cmp(want) != 0 {
		t.Fatalf("serving %v after the update, want %v", got, want)
	}
}

func TestReloaderReloadNow(t *testing.T) {
	first := mustEnsure(t, Options{Dir: newDir(t)})
	second := mustEnsure(t, Options{Dir: newDir(t)})
	certFile, keyFile := pairFiles(t, first)
	r, err := NewReloader(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.interval = time.Hour // only Reload may notice
	copyViaRename(t, second.KeyFile, keyFile)
	copyViaRename(t, second.CertFile, certFile)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, want := servedSerial(t, r), readCert(t, second.CertFile).SerialNumber; got.Cmp(want) != 0 {
		t.Fatalf("serving %v after Reload, want %v", got, want)
	}
}

func copyViaRename(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
