package devtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/fsutil"
)

const day = 24 * time.Hour

func TestEnsureCreatesCAAndLeaf(t *testing.T) {
	dir := newDir(t)
	b := mustEnsure(t, Options{Dir: dir, Hosts: []string{"Host.Example", "192.0.2.7", "localhost", "::ffff:127.0.0.1"}})

	if !b.CreatedCA || !b.IssuedLeaf {
		t.Fatalf("CreatedCA=%v IssuedLeaf=%v, want both true", b.CreatedCA, b.IssuedLeaf)
	}
	for got, want := range map[string]string{b.CAFile: caCertName, b.CertFile: leafCertName, b.KeyFile: leafKeyName} {
		if !filepath.IsAbs(got) || got != filepath.Join(dir, want) {
			t.Errorf("path %q, want absolute %s", got, filepath.Join(dir, want))
		}
	}
	ca := readCert(t, b.CAFile)
	checkCA(t, ca)
	if b.CAFingerprint != fingerprint(ca) {
		t.Errorf("CAFingerprint %s, want %s", b.CAFingerprint, fingerprint(ca))
	}
	leaf := readCert(t, b.CertFile)
	checkLeafShape(t, leaf)
	if want := []string{"localhost", "host.example"}; !slices.Equal(leaf.DNSNames, want) {
		t.Errorf("DNSNames %v, want %v", leaf.DNSNames, want)
	}
	wantIPs := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("192.0.2.7")}
	if !slices.EqualFunc(leaf.IPAddresses, wantIPs, net.IP.Equal) {
		t.Errorf("IPAddresses %v, want %v", leaf.IPAddresses, wantIPs)
	}
	if !b.LeafNotAfter.Equal(leaf.NotAfter) {
		t.Errorf("LeafNotAfter %v, want %v", b.LeafNotAfter, leaf.NotAfter)
	}
	for _, name := range []string{"localhost", "host.example", "127.0.0.1", "::1", "192.0.2.7"} {
		verifyLeaf(t, b, name, time.Now())
	}
}

func checkCA(t *testing.T, ca *x509.Certificate) {
	t.Helper()
	if cn := ca.Subject.CommonName; !strings.HasPrefix(cn, "Switchboard Development CA (") || !strings.HasSuffix(cn, ")") {
		t.Errorf("CA common name %q", cn)
	}
	if !ca.IsCA || !ca.BasicConstraintsValid || ca.MaxPathLen != 0 || !ca.MaxPathLenZero {
		t.Errorf("CA constraints: IsCA=%v valid=%v MaxPathLen=%d zero=%v", ca.IsCA, ca.BasicConstraintsValid, ca.MaxPathLen, ca.MaxPathLenZero)
	}
	if ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("CA key usage %b", ca.KeyUsage)
	}
	checkP256(t, ca)
	if life := ca.NotAfter.Sub(ca.NotBefore); life < 3650*day || life > 3654*day {
		t.Errorf("CA lifetime %v, want 10 years", life)
	}
	if ca.SerialNumber.Sign() <= 0 || ca.SerialNumber.BitLen() < 64 {
		t.Errorf("CA serial %v does not look random", ca.SerialNumber)
	}
}

func checkLeafShape(t *testing.T, leaf *x509.Certificate) {
	t.Helper()
	if leaf.IsCA || !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("leaf IsCA=%v ExtKeyUsage=%v", leaf.IsCA, leaf.ExtKeyUsage)
	}
	checkP256(t, leaf)
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < 396*day || life > 398*day {
		t.Errorf("leaf lifetime %v, want about 397 days and at most 398", life)
	}
}

func checkP256(t *testing.T, c *x509.Certificate) {
	t.Helper()
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("%s: public key %T, want ECDSA P-256", c.Subject.CommonName, c.PublicKey)
	}
}

func TestEnsureReusesEverything(t *testing.T) {
	dir := newDir(t)
	first := mustEnsure(t, Options{Dir: dir, Hosts: []string{"host.example"}})
	before := snapshot(t, dir)
	second := mustEnsure(t, Options{Dir: dir, Hosts: []string{"host.example"}})
	if second.CreatedCA || second.IssuedLeaf {
		t.Fatalf("second call: CreatedCA=%v IssuedLeaf=%v, want both false", second.CreatedCA, second.IssuedLeaf)
	}
	sameFiles(t, before, snapshot(t, dir), allFiles...)
	if second.CAFingerprint != first.CAFingerprint || !second.LeafNotAfter.Equal(first.LeafNotAfter) {
		t.Errorf("bundle changed: %+v then %+v", first, second)
	}
}

func TestEnsureFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	dir := newDir(t)
	mustEnsure(t, Options{Dir: dir})
	want := map[string]fs.FileMode{"": dirMode, caKeyName: 0o600, leafKeyName: 0o600, caCertName: 0o644, leafCertName: 0o644}
	for name, mode := range want {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%q: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
}

func TestEnsureRestrictsLoosePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	dir := newDir(t)
	mustEnsure(t, Options{Dir: dir})
	for _, p := range []string{filepath.Join(dir, caKeyName), filepath.Join(dir, leafKeyName)} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mustEnsure(t, Options{Dir: dir})
	for name, mode := range map[string]fs.FileMode{"": dirMode, caKeyName: keyMode, leafKeyName: keyMode} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%q: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
}

func TestEnsureLeafRenewal(t *testing.T) {
	foreign := mustEnsure(t, Options{Dir: newDir(t)})
	t0 := time.Now()
	tests := []struct {
		name       string
		hosts      []string
		later      time.Duration // second call's clock, relative to the first
		mutate     func(t *testing.T, dir string)
		wantIssued bool
	}{
		{name: "nothing changed"},
		{name: "same hosts spelled differently", hosts: []string{"LOCALHOST.", "[::1]", "::ffff:127.0.0.1", " ", ""}},
		{name: "still fresh after 300 days", later: 300 * day},
		{name: "host added", hosts: []string{"switchboard.example.com"}, wantIssued: true},
		{name: "address added", hosts: []string{"2001:db8::7"}, wantIssued: true},
		{name: "expiring within 30 days", later: 370 * day, wantIssued: true},
		{name: "expired", later: 400 * day, wantIssued: true},
		{name: "certificate missing", mutate: removeFile(leafCertName), wantIssued: true},
		{name: "key missing", mutate: removeFile(leafKeyName), wantIssued: true},
		{name: "certificate garbage", mutate: writeFile(leafCertName, "not a certificate"), wantIssued: true},
		{name: "key garbage", mutate: writeFile(leafKeyName, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), wantIssued: true},
		{name: "key of another pair", mutate: copyFrom(foreign, leafKeyName), wantIssued: true},
		{name: "pair signed by another CA", mutate: copyFrom(foreign, leafCertName, leafKeyName), wantIssued: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newDir(t)
			mustEnsure(t, Options{Dir: dir, Now: fixedNow(t0)})
			if tt.mutate != nil {
				tt.mutate(t, dir)
			}
			before := snapshot(t, dir)
			now := t0.Add(tt.later)
			b := mustEnsure(t, Options{Dir: dir, Hosts: tt.hosts, Now: fixedNow(now)})
			if b.CreatedCA || b.IssuedLeaf != tt.wantIssued {
				t.Fatalf("CreatedCA=%v IssuedLeaf=%v, want false and %v", b.CreatedCA, b.IssuedLeaf, tt.wantIssued)
			}
			after := snapshot(t, dir)
			sameFiles(t, before, after, caCertName, caKeyName)
			if !tt.wantIssued {
				sameFiles(t, before, after, leafCertName, leafKeyName)
			}
			verifyLeaf(t, b, "localhost", now)
			for _, h := range tt.hosts {
				if h = strings.TrimSpace(h); h != "" {
					verifyLeaf(t, b, strings.Trim(strings.TrimSuffix(h, "."), "[]"), now)
				}
			}
		})
	}
}

func removeFile(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(name, content string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFrom(b *Bundle, names ...string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		for _, n := range names {
			copyFile(t, filepath.Join(filepath.Dir(b.CAFile), n), filepath.Join(dir, n))
		}
	}
}

func TestEnsureRejectsBrokenCA(t *testing.T) {
	foreign := mustEnsure(t, Options{Dir: newDir(t)})
	t0 := time.Now()
	tests := []struct {
		name     string
		mutate   func(t *testing.T, dir string)
		later    time.Duration
		wantErr  error
		wantText string // a file the message must name, relative to the directory
	}{
		{name: "key of another CA", mutate: copyFrom(foreign, caKeyName), wantErr: ErrCAKeyMismatch, wantText: caKeyName},
		{name: "certificate of another CA", mutate: copyFrom(foreign, caCertName), wantErr: ErrCAKeyMismatch, wantText: caCertName},
		{name: "key missing", mutate: removeFile(caKeyName), wantErr: ErrCAKeyMissing, wantText: caKeyName},
		{name: "certificate garbage", mutate: writeFile(caCertName, "garbage"), wantErr: ErrBadPEM, wantText: caCertName},
		{name: "key garbage", mutate: writeFile(caKeyName, "garbage"), wantErr: ErrBadPEM, wantText: caKeyName},
		{name: "certificate corrupt", mutate: writeFile(caCertName, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), wantText: "parse "},
		{name: "not a CA", mutate: leafAsCA, wantErr: ErrNotCA, wantText: caCertName},
		{name: "expired", later: 11 * 365 * day, wantErr: ErrCAExpired, wantText: caCertName},
		{name: "not yet valid", later: -2 * time.Hour, wantErr: ErrCAExpired, wantText: caCertName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newDir(t)
			mustEnsure(t, Options{Dir: dir, Now: fixedNow(t0)})
			if tt.mutate != nil {
				tt.mutate(t, dir)
			}
			before := snapshot(t, dir)
			_, err := Ensure(Options{Dir: dir, Now: fixedNow(t0.Add(tt.later)), Logger: testLogger(t)})
			if err == nil {
				t.Fatal("Ensure succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantText) || !strings.HasPrefix(err.Error(), "devtls: ") {
				t.Errorf("error %q does not name %q", err, tt.wantText)
			}
			sameFiles(t, before, snapshot(t, dir), allFiles...)
		})
	}
}

// leafAsCA puts the server pair in the place of the CA pair.
func leafAsCA(t *testing.T, dir string) {
	copyFile(t, filepath.Join(dir, leafCertName), filepath.Join(dir, caCertName))
	copyFile(t, filepath.Join(dir, leafKeyName), filepath.Join(dir, caKeyName))
}

func TestEnsureUnreadableKey(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("needs Unix permissions that apply to the test user")
	}
	dir := newDir(t)
	b := mustEnsure(t, Options{Dir: dir})
	keyPath := filepath.Join(filepath.Dir(b.CAFile), caKeyName)
	if err := os.Chmod(keyPath, 0); err != nil {
		t.Fatal(err)
	}
	_, err := Ensure(Options{Dir: dir})
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("error %v, want permission denied", err)
	}
	if want := "devtls: read " + keyPath + ": permission denied"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestEnsureRebuildsCACertificateFromKey(t *testing.T) {
	dir := newDir(t)
	first := mustEnsure(t, Options{Dir: dir})
	before := snapshot(t, dir)
	if err := os.Remove(first.CAFile); err != nil {
		t.Fatal(err)
	}
	b := mustEnsure(t, Options{Dir: dir})
	if !b.CreatedCA {
		t.Error("CreatedCA false after rebuilding ca.pem")
	}
	sameFiles(t, before, snapshot(t, dir), caKeyName)
	verifyLeaf(t, b, "localhost", time.Now())
}

func TestEnsureRemovesLeftoverTempFiles(t *testing.T) {
	dir := newDir(t)
	mustEnsure(t, Options{Dir: dir})
	stale := filepath.Join(dir, fsutil.TempPrefix(caKeyName)+"123")
	other := filepath.Join(dir, "notes.txt")
	for _, p := range []string{stale, other} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mustEnsure(t, Options{Dir: dir})
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("leftover temporary file still there: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("unrelated file removed: %v", err)
	}
}

func TestEnsureOptionErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr error
	}{
		{name: "no directory", opts: Options{}, wantErr: ErrNoDir},
		{name: "host with a space", opts: Options{Dir: newDir(t), Hosts: []string{"bad host"}}, wantErr: ErrInvalidHost},
		{name: "host with a port", opts: Options{Dir: newDir(t), Hosts: []string{"example.com:443"}}, wantErr: ErrInvalidHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Ensure(tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if tt.opts.Dir != "" {
				if _, err := os.Stat(tt.opts.Dir); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("directory created despite invalid options: %v", err)
				}
			}
		})
	}
}

func TestEnsureDirIsAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tls")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Ensure(Options{Dir: path})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v, want one naming %s", err, path)
	}
}
