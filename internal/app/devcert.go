package app

import (
	"context"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/devtls"
)

// devCertCheckEvery is how often a running server looks at its
// development certificate. devtls reissues one within 30 days of its
// expiry, so a daily look keeps a server that runs for months on a valid
// certificate.
const devCertCheckEvery = 24 * time.Hour

// devCertRenewal keeps the development certificate of a running server
// current: it runs devtls.Ensure again from time to time and has the
// reloader switch to a certificate it reissued. Operators' certificates
// are theirs to renew; the reloader picks those up by itself.
type devCertRenewal struct {
	opts     devtls.Options
	reloader *devtls.Reloader
	every    time.Duration
}

// run checks the certificate every r.every until ctx ends.
func (r *devCertRenewal) run(ctx context.Context) {
	ticker := time.NewTicker(r.every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			r.check()
		}
	}
}

// check reissues the certificate when devtls says it is due and switches
// the server to it. A failure is logged and the current certificate kept:
// the next check tries again.
func (r *devCertRenewal) check() {
	log := r.opts.Logger.With("component", "tls")
	bundle, err := devtls.Ensure(r.opts)
	if err != nil {
		log.Warn("development certificate not renewed; keeping the current one", "error", err)
		return
	}
	if !bundle.IssuedLeaf {
		return
	}
	if err := r.reloader.Reload(); err != nil {
		log.Warn("renewed development certificate not loaded; keeping the current one", "error", err)
		return
	}
	log.Info("development certificate renewed", "not_after", bundle.LeafNotAfter.UTC().Format(time.RFC3339))
}
