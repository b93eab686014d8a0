package auth

import (
	"context"
	"fmt"
	"regexp"

	"github.com/switchboard-rtc/switchboard/sigv4"
)

// StaticSource is a fixed set of long-term credentials, from configuration.
type StaticSource struct {
	byKey map[string]Credential
}

var _ CredentialSource = (*StaticSource)(nil)

var (
	accessKeyPattern = regexp.MustCompile(`^[A-Za-z0-9]{16,128}$`)
	accountPattern   = regexp.MustCompile(`^[0-9]{12}$`)
)

// NewStaticSource checks the credentials and indexes them by access key id.
// An access key id may appear only once.
func NewStaticSource(creds []Credential) (*StaticSource, error) {
	s := &StaticSource{byKey: make(map[string]Credential, len(creds))}
	for _, c := range creds {
		if err := CheckCredential(c); err != nil {
			return nil, err
		}
		if _, dup := s.byKey[c.AccessKeyID]; dup {
			return nil, fmt.Errorf("access key id %s is configured twice", c.AccessKeyID)
		}
		s.byKey[c.AccessKeyID] = c
	}
	return s, nil
}

// CheckCredential validates the shape of a configured credential.
func CheckCredential(c Credential) error {
	switch {
	case !accessKeyPattern.MatchString(c.AccessKeyID):
		return fmt.Errorf("access key id %q must be 16 to 128 letters and digits", c.AccessKeyID)
	case len(c.SecretAccessKey) < 16:
		return fmt.Errorf("secret access key of %s must be at least 16 characters", c.AccessKeyID)
	case !accountPattern.MatchString(c.Account):
		return fmt.Errorf("account id %q of %s must be 12 digits", c.Account, c.AccessKeyID)
	}
	return nil
}

// LookupCredential returns the credential of accessKeyID.
func (s *StaticSource) LookupCredential(_ context.Context, accessKeyID string) (Credential, error) {
	c, ok := s.byKey[accessKeyID]
	if !ok {
		return Credential{}, fmt.Errorf("access key %q: %w", accessKeyID, sigv4.ErrUnknownAccessKey)
	}
	return c, nil
}
