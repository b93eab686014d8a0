package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/config"
	"github.com/switchboard-rtc/switchboard/internal/ice"
	"github.com/switchboard-rtc/switchboard/internal/store/bolt"
)

// ErrServerRunning reports a data directory whose database a running
// server holds.
var ErrServerRunning = errors.New("the database is in use: stop the server first")

// RevokeTURNKeys deletes, from the database in the configured data
// directory, the keys that sign the embedded relay's credentials, so
// that every TURN credential minted so far is refused once the server
// starts again with new keys (see ice.RevokeKeys): the answer to a key
// that leaked. The server must be stopped, which frees its database and
// leaves no relay verifying with the old keys from memory.
func RevokeTURNKeys(ctx context.Context, cfg config.Config, now time.Time) error {
	path := filepath.Join(cfg.Server.DataDir, "switchboard.db")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no database to revoke keys in (is the data directory right?): %w", err)
	}
	st, err := bolt.Open(path, bolt.Options{})
	if errors.Is(err, bolt.ErrLocked) {
		return fmt.Errorf("%s: %w, revoke, then start it again", path, ErrServerRunning)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	return ice.RevokeKeys(ctx, st, time.Duration(cfg.Turn.SecretRotation), now)
}
