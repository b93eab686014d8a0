package app

import (
	"log/slog"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/devtls"
)

// TestDevCertRenewalSwitchesToTheReissuedCertificate: a server that runs
// into the last 30 days of its development certificate reissues it and
// serves the new one, without a restart; before then nothing changes.
func TestDevCertRenewalSwitchesToTheReissuedCertificate(t *testing.T) {
	now := time.Now()
	opts := devtls.Options{Dir: t.TempDir(), Hosts: []string{"localhost"}, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)}
	bundle, err := devtls.Ensure(opts)
	if err != nil {
		t.Fatal(err)
	}
	reloader, err := devtls.NewReloader(bundle.CertFile, bundle.KeyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	serial := func() string {
		cert, _ := reloader.GetCertificate(nil)
		return cert.Leaf.SerialNumber.String()
	}
	first := serial()
	r := &devCertRenewal{opts: opts, reloader: reloader, every: time.Hour}

	r.check()
	if serial() != first {
		t.Fatal("a certificate months from its expiry was replaced")
	}

	now = bundle.LeafNotAfter.Add(-29 * 24 * time.Hour)
	r.check()
	cert, _ := reloader.GetCertificate(nil)
	if cert.Leaf.SerialNumber.String() == first {
		t.Fatal("the certificate 29 days from its expiry is still served")
	}
	if !cert.Leaf.NotAfter.After(bundle.LeafNotAfter) {
		t.Fatalf("the new certificate expires %s, not after the old one's %s", cert.Leaf.NotAfter, bundle.LeafNotAfter)
	}
}
