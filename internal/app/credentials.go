package app

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/internal/config"
)

// credentialsFile holds the generated root keys inside the data directory.
const credentialsFile = "credentials.json"

type storedKeys struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

// rootKeys returns the root key pair: the configured one, or the one
// generated on first start and kept (mode 0600) in the data directory.
// generated reports whether this call created it.
func rootKeys(cfg config.Config) (keys config.Keys, generated bool, err error) {
	if cfg.Credentials.AccessKeyID != "" {
		return cfg.Credentials, false, nil
	}
	path := filepath.Join(cfg.Server.DataDir, credentialsFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		var k storedKeys
		if err := json.Unmarshal(data, &k); err != nil {
			return config.Keys{}, false, fmt.Errorf("read %s: %w (delete it to generate new keys)", path, err)
		}
		return config.Keys{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return config.Keys{}, false, fmt.Errorf("read %s: %w", path, err)
	}
	k := storedKeys{AccessKeyID: "SBAK" + randomString(16, upperAlnum), SecretAccessKey: randomString(40, secretAlphabet)}
	data, _ = json.MarshalIndent(k, "", "  ")
	if err := writeFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return config.Keys{}, false, err
	}
	return config.Keys{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}, true, nil
}

// credentialSource indexes the root keys and every configured account.
func credentialSource(cfg config.Config, root config.Keys) (*auth.StaticSource, error) {
	creds := []auth.Credential{{AccessKeyID: root.AccessKeyID, SecretAccessKey: root.SecretAccessKey, Account: cfg.Server.AccountID}}
	for _, a := range cfg.Accounts {
		creds = append(creds, auth.Credential{AccessKeyID: a.AccessKeyID, SecretAccessKey: a.SecretAccessKey, Account: a.ID})
	}
	return auth.NewStaticSource(creds)
}

const (
	upperAlnum     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// randomString draws n characters uniformly from alphabet.
func randomString(n int, alphabet string) string {
	out := make([]byte, n)
	limit := 256 - 256%len(alphabet) // reject bytes that would bias the draw
	var b [1]byte
	for i := 0; i < n; {
		_, _ = rand.Read(b[:])
		if int(b[0]) < limit {
			out[i] = alphabet[int(b[0])%len(alphabet)]
			i++
		}
	}
	return string(out)
}

// writeFileAtomic writes data to path through a temporary file and a
// rename, so a crash never leaves a partial file. The directory is synced
// after the rename: until then the rename may be lost in a crash, and for
// the credentials that would mean new keys at the next start, after the
// old ones were printed and handed to clients.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: cannot set mode %v: %w", path, perm, err)
	}
	err = fillAndClose(tmp, data)
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// fillAndClose writes data to f, flushes it to disk and closes f.
func fillAndClose(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir flushes a directory's entries to disk, which makes a rename or a
// new entry in it durable. Windows cannot sync a directory (and NTFS
// journals its metadata), so there it does nothing. A variable so that
// tests can watch it.
var syncDir = func(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// makeDataDir creates the data directory (mode 0700). A new one has its
// parent synced too, so that after a crash the directory, and with it the
// credentials printed at the first start, is still there.
func makeDataDir(dir string) error {
	dir = filepath.Clean(dir)
	_, err := os.Stat(dir)
	created := errors.Is(err, fs.ErrNotExist)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !created {
		return nil
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
}
