package bolt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/switchboard-rtc/switchboard/internal/fsutil"
	"github.com/switchboard-rtc/switchboard/internal/store"
)

// Defaults applied by Open to zero-valued Options fields.
const (
	// DefaultLockTimeout is how long Open waits for the file lock.
	DefaultLockTimeout = time.Second
	// DefaultBatchDelay is how long a write waits for others to share its
	// commit. It is short so that a lone writer barely notices it; under
	// load, batches also fill while the previous commit is being synced.
	DefaultBatchDelay = 2 * time.Millisecond
	// DefaultMaxBatchSize is the largest number of writes in one commit.
	DefaultMaxBatchSize = 1000
)

// schemaVersion is the layout version written to and expected in the meta
// bucket.
const schemaVersion = 1

// Bucket and key names of the layout described in the package comment.
var (
	bucketMeta     = []byte("meta")
	bucketAccounts = []byte("accounts")
	bucketSecrets  = []byte("secrets")
	bucketDeleted  = []byte("deleted")
	keySchema      = []byte("schema")
)

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Logger receives the store's log records; nil discards them.
	Logger *slog.Logger
	// LockTimeout bounds how long Open waits for the lock on the file when
	// another process (or another Store in this process) holds it; Open then
	// fails with ErrLocked. Zero means DefaultLockTimeout.
	LockTimeout time.Duration
	// BatchDelay is how long a batch of overlapping channel writes waits
	// for more writes to join its commit, so that they share one fsync (a
	// write with nothing else in flight never waits). Zero means
	// DefaultBatchDelay; a negative value starts each batch at once.
	BatchDelay time.Duration
	// MaxBatchSize caps the number of writes in one commit. Zero means
	// DefaultMaxBatchSize.
	MaxBatchSize int
}

// withDefaults validates o and fills in its zero fields.
func (o Options) withDefaults() (Options, error) {
	if o.LockTimeout < 0 {
		return o, fmt.Errorf("bolt: negative lock timeout %s", o.LockTimeout)
	}
	if o.MaxBatchSize < 0 {
		return o, fmt.Errorf("bolt: negative max batch size %d", o.MaxBatchSize)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	switch {
	case o.BatchDelay == 0:
		o.BatchDelay = DefaultBatchDelay
	case o.BatchDelay < 0:
		o.BatchDelay = 0
	}
	if o.MaxBatchSize == 0 {
		o.MaxBatchSize = DefaultMaxBatchSize
	}
	return o, nil
}

// Store is a store.Store kept in one bbolt file. Create it with Open and
// release it with Close.
type Store struct {
	db      *bbolt.DB
	log     *slog.Logger
	closed  atomic.Bool
	writers atomic.Int32 // channel writes in flight, to decide on batching

	sweepMu   sync.Mutex
	sweepNext sweepPos // where the next sweep of expired deletion records starts
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it if needed) the database file at path, whose
// directory must exist, and checks or initialises its layout. It fails with
// ErrLocked when the file is in use elsewhere and with ErrSchema when the
// file's layout is not one this version knows.
func Open(path string, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:      opts.LockTimeout,
		FreelistType: bbolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("bolt: open %s: %w (gave up after %s; is another switchboard running on this data directory?)",
			path, ErrLocked, opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	db.MaxBatchDelay = opts.BatchDelay
	db.MaxBatchSize = opts.MaxBatchSize
	if err := db.Update(initLayout); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	log := opts.Logger.With("component", "store.bolt")
	if created {
		// Make the new file's directory entry durable too. A failure is
		// only logged: the file works, and every write to it is synced.
		if err := fsutil.SyncDir(filepath.Dir(path)); err != nil {
			log.Warn("could not sync the data directory", "path", path, "err", err)
		}
	}
	log.Info("store opened", "path", path, "schema", schemaVersion, "created", created)
	return &Store{db: db, log: log}, nil
}

// initLayout creates the buckets of a new file, or checks the schema
// version of an existing one.
func initLayout(tx *bbolt.Tx) error {
	if meta := tx.Bucket(bucketMeta); meta != nil {
		return checkSchema(meta.Get(keySchema))
	}
	foreign := false
	_ = tx.ForEach(func([]byte, *bbolt.Bucket) error {
		foreign = true
		return nil
	})
	if foreign {
		return fmt.Errorf("%w: file has buckets but no meta bucket", ErrSchema)
	}
	for _, name := range [][]byte{bucketMeta, bucketAccounts, bucketSecrets} {
		if _, err := tx.CreateBucket(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return tx.Bucket(bucketMeta).Put(keySchema, []byte(strconv.Itoa(schemaVersion)))
}

// checkSchema accepts only the schema version this code writes.
func checkSchema(raw []byte) error {
	v, err := strconv.Atoi(string(raw))
	if err != nil {
		return fmt.Errorf("%w: unreadable schema version %q", ErrSchema, raw)
	}
	if v != schemaVersion {
		return fmt.Errorf("%w: file has schema %d, this build knows %d", ErrSchema, v, schemaVersion)
	}
	return nil
}

// Ping reports whether the file can be read.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	err := s.view(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return fmt.Errorf("%w: meta bucket missing", ErrSchema)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt: ping: %w", err)
	}
	return nil
}

// Close waits for running transactions, then releases the file and its
// lock. A second Close returns nil.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: close: %w", err)
	}
	s.log.Info("store closed")
	return nil
}

// ready is the common entry check of every method: the store must be open
// and the context not done.
func (s *Store) ready(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return ctx.Err()
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(*bbolt.Tx) error) error {
	return mapErr(s.db.View(fn))
}

// update runs fn in its own write transaction.
func (s *Store) update(fn func(*bbolt.Tx) error) error {
	return mapErr(s.db.Update(fn))
}

// batch runs fn in a write transaction that it may share with concurrent
// callers; fn may be run more than once (see the package comment). A write
// with no other channel write in flight commits at once instead of waiting
// BatchDelay for company that is not coming; as soon as writes overlap,
// they batch.
func (s *Store) batch(fn func(*bbolt.Tx) error) error {
	defer s.writers.Add(-1)
	if s.writers.Add(1) == 1 {
		return mapErr(s.db.Update(fn))
	}
	return mapErr(s.db.Batch(fn))
}

// mapErr turns bbolt's closed-database error into store.ErrClosed, which is
// what a caller racing with Close should see.
func mapErr(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return store.ErrClosed
	}
	return err
}
