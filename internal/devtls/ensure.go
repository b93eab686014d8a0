package devtls

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/fsutil"
)

// Names of the files Ensure keeps in Options.Dir.
const (
	caCertName   = "ca.pem"
	caKeyName    = "ca-key.pem"
	leafCertName = "server.pem"
	leafKeyName  = "server-key.pem"
	lockName     = ".lock"
)

// File modes: private keys are readable by the owner only; certificates are
// public by nature.
const (
	dirMode  fs.FileMode = 0o700
	keyMode  fs.FileMode = 0o600
	certMode fs.FileMode = 0o644
)

const (
	// lockWait bounds how long Ensure waits for another process that is
	// working on the same directory.
	lockWait = time.Minute
	// backdate moves NotBefore into the past so that clients whose clocks
	// run a little slow accept a certificate issued moments ago.
	backdate = time.Hour
)

// Options configures Ensure.
type Options struct {
	// Dir is the directory that holds the CA and the server certificate,
	// normally DATA_DIR/tls. It is created (mode 0700) if missing, and also
	// holds the lock file ".lock" that serialises concurrent calls.
	Dir string
	// Hosts are names the server certificate must cover besides localhost,
	// 127.0.0.1 and ::1, which are always included: typically the machine's
	// host name and the public host name. Each entry is a DNS name or an IP
	// literal (brackets and IPv6 zones are accepted and stripped); empty
	// entries are ignored, duplicates merged and DNS names lower-cased.
	Hosts []string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger receives what Ensure creates or repairs; nil discards it.
	Logger *slog.Logger
}

// Bundle locates the development TLS files and says what Ensure had to
// create. All paths are absolute.
type Bundle struct {
	// CAFile is Dir/ca.pem, the file clients must trust (AWS_CA_BUNDLE,
	// curl --cacert, browsers, the KVS C SDK's CA path).
	CAFile string
	// CertFile is Dir/server.pem, the server (leaf) certificate.
	CertFile string
	// KeyFile is Dir/server-key.pem, the server's private key.
	KeyFile string
	// CreatedCA reports that this call wrote a new CA certificate, which
	// clients have yet to trust.
	CreatedCA bool
	// IssuedLeaf reports that this call issued a new server certificate.
	IssuedLeaf bool
	// CAFingerprint is the SHA-256 fingerprint of the CA certificate, as
	// colon-separated upper-case hex, for users to compare before trusting.
	CAFingerprint string
	// LeafNotAfter is when the server certificate expires.
	LeafNotAfter time.Time
}

// ensurer carries the state of one Ensure call.
type ensurer struct {
	dir  string
	now  time.Time
	sans sanSet
	log  *slog.Logger
}

// Ensure makes sure that opts.Dir holds a development CA and a server
// certificate signed by it that covers the wanted hosts, creating or
// reissuing what is missing, unusable or about to expire, and returns where
// they are. An existing CA is always reused; a CA whose files are damaged
// or do not belong together is reported as an error and left alone, since
// clients may trust it. Concurrent calls on one directory, from any number
// of goroutines or processes, are serialised by a lock file.
func Ensure(opts Options) (*Bundle, error) {
	if opts.Dir == "" {
		return nil, ErrNoDir
	}
	sans, err := wantedSANs(opts.Hosts)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("devtls: resolve %s: %w", opts.Dir, err)
	}
	e := &ensurer{dir: dir, sans: sans, log: componentLogger(opts.Logger)}
	if err := e.prepareDir(); err != nil {
		return nil, err
	}
	unlock, err := lockPath(e.path(lockName), lockWait)
	if err != nil {
		return nil, err
	}
	defer unlock()

	e.now = time.Now()
	if opts.Now != nil {
		e.now = opts.Now()
	}
	removeTemps(dir, caCertName, caKeyName, leafCertName, leafKeyName)
	return e.run()
}

func (e *ensurer) run() (*Bundle, error) {
	ca, createdCA, err := e.loadOrCreateCA()
	if err != nil {
		return nil, err
	}
	leaf, issued, err := e.ensureLeaf(ca)
	if err != nil {
		return nil, err
	}
	return &Bundle{
		CAFile:        e.path(caCertName),
		CertFile:      e.path(leafCertName),
		KeyFile:       e.path(leafKeyName),
		CreatedCA:     createdCA,
		IssuedLeaf:    issued,
		CAFingerprint: fingerprint(ca.cert),
		LeafNotAfter:  leaf.NotAfter,
	}, nil
}

// ensureLeaf returns the current server certificate, issuing a new one when
// checkLeaf finds a reason to.
func (e *ensurer) ensureLeaf(ca *authority) (*x509.Certificate, bool, error) {
	leaf, reason, err := e.checkLeaf(ca)
	if err != nil {
		return nil, false, err
	}
	if reason == "" {
		e.log.Debug("reusing server certificate", "file", e.path(leafCertName), "not_after", leaf.NotAfter)
		return leaf, false, nil
	}
	leaf, err = e.issueLeaf(ca, reason)
	return leaf, err == nil, err
}

// prepareDir creates the directory with mode 0700 (and any missing
// parents), or tightens the mode of an existing one that others can enter.
// Each new directory is synced into its parent: the files renamed into it
// are durable only if it is, and losing it in a crash would mean a new CA
// that no client trusts yet. As for the files (see writeAtomic), the sync
// is best effort: when only it fails (fsutil.ErrNotDurable) the directory
// exists and works, and we go on.
func (e *ensurer) prepareDir() error {
	if err := fsutil.MkdirAll(e.dir, dirMode); err != nil && !errors.Is(err, fsutil.ErrNotDurable) {
		return fileErr("create directory", e.dir, err)
	}
	fi, err := os.Stat(e.dir)
	if err != nil {
		return fileErr("stat", e.dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("devtls: %s is not a directory", e.dir)
	}
	if runtime.GOOS == "windows" || fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(e.dir, dirMode); err != nil {
		e.log.Warn("cannot restrict directory permissions", "dir", e.dir, "mode", fi.Mode().Perm(), "error", err)
		return nil
	}
	e.log.Info("restricted directory permissions to 0700", "dir", e.dir, "was", fi.Mode().Perm())
	return nil
}

func (e *ensurer) path(name string) string { return filepath.Join(e.dir, name) }

func componentLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.With("component", "devtls")
}
