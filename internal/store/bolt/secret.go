package bolt

import (
	"bytes"
	"context"
	"fmt"

	"go.etcd.io/bbolt"
)

// Secret returns the secret stored under name, generating and storing it
// first when there is none. generate runs outside any transaction, so a
// slow generator holds up no other write; when callers race, the first
// value to commit is the one every caller gets.
func (s *Store) Secret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("bolt: secret: %w", ErrInvalidKey)
	}
	got, err := s.loadSecret(name)
	if err != nil || got != nil {
		return got, err
	}
	fresh, err := generate()
	if err != nil {
		return nil, fmt.Errorf("bolt: generate secret %q: %w", name, err)
	}
	if len(fresh) == 0 {
		return nil, fmt.Errorf("bolt: generate secret %q: generator returned no bytes", name)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	err = s.update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSecrets)
		if v := b.Get([]byte(name)); v != nil {
			got = bytes.Clone(v) // another caller won the race
			return nil
		}
		got = bytes.Clone(fresh)
		return b.Put([]byte(name), fresh)
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: store secret %q: %w", name, err)
	}
	return got, nil
}

// DeleteSecret implements store.Store.
func (s *Store) DeleteSecret(ctx context.Context, name string) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("bolt: delete secret: %w", ErrInvalidKey)
	}
	err := s.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSecrets).Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("bolt: delete secret %q: %w", name, err)
	}
	return nil
}

// loadSecret returns a copy of the stored secret, or nil when there is none.
func (s *Store) loadSecret(name string) ([]byte, error) {
	var got []byte
	err := s.view(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketSecrets).Get([]byte(name)); v != nil {
			got = bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: load secret %q: %w", name, err)
	}
	return got, nil
}
