package devtls

import (
	"crypto/tls"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// reloadCheckInterval is how often, at most, GetCertificate looks at the
// files for changes.
const reloadCheckInterval = time.Second

// Reloader serves a certificate pair read from two PEM files and replaces it
// when either file changes (modification time, size or identity), for
// tls.Config.GetCertificate. It fits the generated development pair as well
// as an operator's --tls-cert/--tls-key, renewed in place by an ACME client
// for instance. A pair that fails to load (say, a half-finished update: new
// key, old certificate) is logged and the previous one kept; the files are
// tried again once they change again. Safe for concurrent use.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger
	interval          time.Duration

	cert      atomic.Pointer[tls.Certificate]
	lastCheck atomic.Int64 // unix nanoseconds of the last look at the files

	mu      sync.Mutex // serialises reloads; guards the fields below
	loaded  pairStamp  // files behind cert
	failed  pairStamp  // files that last failed to load
	lastErr string     // last stat error logged, to log each problem once
}

// NewReloader loads the pair once and fails if it cannot: a server should
// not start with an unusable certificate. logger may be nil.
func NewReloader(certFile, keyFile string, logger *slog.Logger) (*Reloader, error) {
	r := &Reloader{
		certFile: certFile,
		keyFile:  keyFile,
		log:      componentLogger(logger),
		interval: reloadCheckInterval,
	}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// GetCertificate returns the current certificate, first reloading the files
// if they changed since the last look (at most one look per second). It
// never fails once NewReloader succeeded.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.maybeReload()
	return r.cert.Load(), nil
}

// Reload reads the files now, whether or not they changed, and switches to
// them if they load (for a SIGHUP handler, say). On error the previous
// certificate stays in use.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	stamp, err := statPair(r.certFile, r.keyFile)
	if err != nil {
		return err
	}
	return r.load(stamp)
}

// maybeReload looks at the files when the check interval has passed and
// no other handshake is already looking.
func (r *Reloader) maybeReload() {
	now := time.Now().UnixNano()
	if now-r.lastCheck.Load() < int64(r.interval) || !r.mu.TryLock() {
		return
	}
	defer r.mu.Unlock()
	r.lastCheck.Store(now)
	stamp, err := statPair(r.certFile, r.keyFile)
	if err != nil {
		if msg := err.Error(); msg != r.lastErr {
			r.lastErr = msg
			r.log.Warn("cannot check certificate files; keeping the current certificate", "error", err)
		}
		return
	}
	r.lastErr = ""
	if stamp.same(r.loaded) || stamp.same(r.failed) {
		return
	}
	if err := r.load(stamp); err != nil {
		r.failed = stamp
		r.log.Warn("cannot reload certificate; keeping the current one", "error", err)
	}
}

// load reads and installs the pair; stamp must have been taken before the
// reads, so that a write racing with them shows up as a later change.
// r.mu must be held.
func (r *Reloader) load(stamp pairStamp) error {
	certPEM, err := readFile(r.certFile)
	if err != nil {
		return err
	}
	keyPEM, err := readFile(r.keyFile)
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("devtls: load %s and %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert.Store(&cert)
	r.loaded, r.failed = stamp, pairStamp{}
	if cert.Leaf != nil {
		r.log.Info("loaded certificate", "file", r.certFile,
			"subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
	}
	return nil
}

// fileStamp identifies one version of a file.
type fileStamp struct {
	info fs.FileInfo
}

func (a fileStamp) same(b fileStamp) bool {
	if a.info == nil || b.info == nil {
		return false
	}
	return a.info.ModTime().Equal(b.info.ModTime()) && a.info.Size() == b.info.Size() && os.SameFile(a.info, b.info)
}

// pairStamp identifies one version of a certificate pair.
type pairStamp struct{ cert, key fileStamp }

func (a pairStamp) same(b pairStamp) bool { return a.cert.same(b.cert) && a.key.same(b.key) }

func statPair(certFile, keyFile string) (pairStamp, error) {
	c, err := os.Stat(certFile)
	if err != nil {
		return pairStamp{}, fileErr("stat", certFile, err)
	}
	k, err := os.Stat(keyFile)
	if err != nil {
		return pairStamp{}, fileErr("stat", keyFile, err)
	}
	return pairStamp{cert: fileStamp{c}, key: fileStamp{k}}, nil
}
