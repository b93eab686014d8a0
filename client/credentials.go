package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/switchboard-rtc/switchboard/sigv4"
)

// EnvCredentials reads credentials from the environment, as the AWS CLI
// does: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, for temporary
// credentials, AWS_SESSION_TOKEN.
type EnvCredentials struct{}

// Retrieve returns the environment's credentials, or ErrNoCredentials when
// the key id or the secret is unset.
func (EnvCredentials) Retrieve(context.Context) (sigv4.Credentials, error) {
	c := sigv4.Credentials{
		AccessKeyID:     os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    os.Getenv("AWS_SESSION_TOKEN"),
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return sigv4.Credentials{}, fmt.Errorf("client: %w in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", ErrNoCredentials)
	}
	return c, nil
}

// SharedCredentials reads a profile's credentials from the AWS shared
// files; see LoadSharedConfig. The files are read at every Retrieve, so
// that rotated keys are picked up.
type SharedCredentials struct {
	// Profile is the profile's name; AWS_PROFILE, or "default", when
	// empty.
	Profile string
}

// Retrieve returns the profile's credentials, or an error wrapping
// ErrNoCredentials when it has none.
func (s SharedCredentials) Retrieve(context.Context) (sigv4.Credentials, error) {
	cfg, err := LoadSharedConfig(s.Profile)
	if err != nil {
		return sigv4.Credentials{}, err
	}
	if cfg.Credentials.AccessKeyID == "" || cfg.Credentials.SecretAccessKey == "" {
		return sigv4.Credentials{}, fmt.Errorf("client: %w for profile %q in %s or %s", ErrNoCredentials, cfg.Profile, cfg.CredentialsFile, cfg.ConfigFile)
	}
	return cfg.Credentials, nil
}

// ChainCredentials returns a provider that asks each provider in turn
// and returns the first credentials found. A failure other than
// ErrNoCredentials (an unreadable file) stops the search.
func ChainCredentials(providers ...CredentialsProvider) CredentialsProvider {
	return CredentialsFunc(func(ctx context.Context) (sigv4.Credentials, error) {
		var misses []error
		for _, p := range providers {
			c, err := p.Retrieve(ctx)
			if err == nil {
				return c, nil
			}
			if !errors.Is(err, ErrNoCredentials) {
				return sigv4.Credentials{}, err
			}
			misses = append(misses, err)
		}
		if len(misses) == 0 {
			return sigv4.Credentials{}, fmt.Errorf("client: %w", ErrNoCredentials)
		}
		return sigv4.Credentials{}, errors.Join(misses...)
	})
}

// DefaultCredentials returns the lookup the AWS CLI does for a command
// without keys on its command line: with a profile named, that profile of
// the shared files; otherwise the environment, then the shared files'
// profile AWS_PROFILE (or "default").
func DefaultCredentials(profile string) CredentialsProvider {
	if profile != "" {
		return SharedCredentials{Profile: profile}
	}
	return ChainCredentials(EnvCredentials{}, SharedCredentials{})
}

// SharedConfig is what the AWS shared files say about one profile.
type SharedConfig struct {
	// Profile is the profile read.
	Profile string
	// CredentialsFile and ConfigFile are the files read (they may not
	// exist).
	CredentialsFile, ConfigFile string
	// Credentials are the profile's keys (aws_access_key_id,
	// aws_secret_access_key, aws_session_token), from the credentials
	// file, or else from the config file; empty when neither has them.
	Credentials sigv4.Credentials
	// Region is the profile's region setting.
	Region string
	// EndpointURL is the profile's endpoint_url setting.
	EndpointURL string
	// CABundle is the profile's ca_bundle setting.
	CABundle string
}

// LoadSharedConfig reads a profile from the AWS shared credentials file
// (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials, sections
// [NAME]) and config file (AWS_CONFIG_FILE, default ~/.aws/config,
// sections [profile NAME] and [default]). An empty profile means
// AWS_PROFILE, or "default". Missing files are not an error, but a
// profile named explicitly that neither file has is.
func LoadSharedConfig(profile string) (SharedConfig, error) {
	explicit := profile != "" || os.Getenv("AWS_PROFILE") != ""
	if profile == "" {
		profile = os.Getenv("AWS_PROFILE")
	}
	if profile == "" {
		profile = "default"
	}
	cfg := SharedConfig{
		Profile:         profile,
		CredentialsFile: sharedFile("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
		ConfigFile:      sharedFile("AWS_CONFIG_FILE", "config"),
	}
	creds, inCreds, err := readINISection(cfg.CredentialsFile, profile)
	if err != nil {
		return cfg, err
	}
	configSection := "profile " + profile
	if profile == "default" {
		configSection = "default"
	}
	conf, inConf, err := readINISection(cfg.ConfigFile, configSection)
	if err != nil {
		return cfg, err
	}
	if explicit && !inCreds && !inConf {
		return cfg, fmt.Errorf("client: the profile %q is in neither %s nor %s", profile, cfg.CredentialsFile, cfg.ConfigFile)
	}
	keys := conf
	if creds["aws_access_key_id"] != "" {
		keys = creds
	}
	cfg.Credentials = sigv4.Credentials{
		AccessKeyID:     keys["aws_access_key_id"],
		SecretAccessKey: keys["aws_secret_access_key"],
		SessionToken:    keys["aws_session_token"],
	}
	cfg.Region, cfg.EndpointURL, cfg.CABundle = conf["region"], conf["endpoint_url"], conf["ca_bundle"]
	return cfg, nil
}

// sharedFile is the path of a shared file: the environment variable's
// value (with ~ expanded), or ~/.aws/name.
func sharedFile(env, name string) string {
	home, _ := os.UserHomeDir()
	if p := os.Getenv(env); p != "" {
		if rest, ok := strings.CutPrefix(p, "~/"); ok && home != "" {
			return filepath.Join(home, rest)
		}
		return p
	}
	return filepath.Join(home, ".aws", name)
}

// readINISection returns the keys of one section of an INI file, and
// whether the section exists. Keys are lower-cased; comments (# and ;)
// and indented sub-settings are skipped. A missing file is empty.
func readINISection(path, section string) (map[string]string, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("client: %w", err)
	}
	defer f.Close()
	keys := map[string]string{}
	found, inside := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[' && strings.HasSuffix(line, "]"):
			name := strings.Join(strings.Fields(line[1:len(line)-1]), " ")
			inside = name == section
			found = found || inside
		case inside && raw[0] != ' ' && raw[0] != '\t':
			if k, v, ok := strings.Cut(line, "="); ok {
				keys[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, false, fmt.Errorf("client: reading %s: %w", path, err)
	}
	return keys, found, nil
}

var (
	_ CredentialsProvider = EnvCredentials{}
	_ CredentialsProvider = SharedCredentials{}
)
