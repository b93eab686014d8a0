package app

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/switchboard-rtc/switchboard/internal/auth"
	"github.com/switchboard-rtc/switchboard/internal/config"
	"github.com/switchboard-rtc/switchboard/internal/fsutil"
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
		// The file is ours, but it may have been edited or cut short; its
		// problems are reported as its own, not as a setting's.
		var k storedKeys
		if err := json.Unmarshal(data, &k); err != nil {
			return config.Keys{}, false, fmt.Errorf("generated keys in %s: %w (delete the file to generate new keys)", path, err)
		}
		c := auth.Credential{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, Account: cfg.Server.AccountID}
		if err := auth.CheckCredential(c); err != nil {
			return config.Keys{}, false, fmt.Errorf("generated keys in %s: %w (delete the file to generate new keys)", path, err)
		}
		return config.Keys{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		// err names the file already.
		return config.Keys{}, false, fmt.Errorf("generated keys: %w", err)
	}
	k := storedKeys{AccessKeyID: "SBAK" + randomString(16, upperAlnum), SecretAccessKey: randomString(40, secretAlphabet)}
	data, _ = json.MarshalIndent(k, "", "  ")
	// Every failure is fatal, a failed directory sync (fsutil.ErrNotDurable)
	// included: if a crash undid the rename, the next start would generate
	// other keys than the ones this start prints and hands to clients.
	if err := fsutil.WriteFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return config.Keys{}, false, fmt.Errorf("write %s: %w", path, err)
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

// makeDataDir creates the data directory (mode 0700) and any missing
// parents, and syncs each new directory into its parent: the credentials
// printed at the first start live in it, so a crash must not take it away.
// A failed sync is an error here, as it is for the credentials themselves.
func makeDataDir(dir string) error {
	if err := fsutil.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
}
