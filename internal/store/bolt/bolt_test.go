package bolt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-rtc/switchboard/internal/store"
	"github.com/switchboard-rtc/switchboard/internal/store/storetest"
)

// openTemp opens a store on a new file in a temporary directory and closes
// it when the test ends.
func openTemp(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchboard.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// checkGoroutines fails the test if goroutines started during it are still
// running shortly after it ends.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				t.Errorf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestConformance(t *testing.T) {
	checkGoroutines(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(filepath.Join(t.TempDir(), "switchboard.db"), Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestOptions(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{"zero value", Options{}, false},
		{"explicit", Options{LockTimeout: time.Second, BatchDelay: time.Millisecond, MaxBatchSize: 10}, false},
		{"no batch wait", Options{BatchDelay: -1}, false},
		{"negative lock timeout", Options{LockTimeout: -time.Second}, true},
		{"negative batch size", Options{MaxBatchSize: -1}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "switchboard.db"), tc.opts)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Open = %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				_ = s.Close()
			}
		})
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchboard.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ch := store.Channel{Account: "1", Name: "cam", Version: "v1", Tags: map[string]string{"k": "v"}}
	if err := s.CreateChannel(t.Context(), ch, 0); err != nil {
		t.Fatal(err)
	}
	secret, err := s.Secret(t.Context(), "turn", func() ([]byte, error) { return []byte("s3cret"), nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.GetChannel(t.Context(), "1", "cam")
	if err != nil || got.Version != "v1" || got.Tags["k"] != "v" {
		t.Errorf("GetChannel after reopen = %+v, %v", got, err)
	}
	again, err := s.Secret(t.Context(), "turn", func() ([]byte, error) { return nil, errors.New("must not be called") })
	if err != nil || string(again) != string(secret) {
		t.Errorf("Secret after reopen = %q, %v; want %q", again, err, secret)
	}
}

func TestOpenRejectsUnknownLayout(t *testing.T) {
	cases := []struct {
		name  string
		setup func(tx *bbolt.Tx) error
	}{
		{"newer schema", func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			return b.Put(keySchema, []byte("2"))
		}},
		{"garbled schema", func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			return b.Put(keySchema, []byte("one"))
		}},
		{"someone else's buckets", func(tx *bbolt.Tx) error {
			_, err := tx.CreateBucket([]byte("widgets"))
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "switchboard.db")
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(tc.setup); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if s, err := Open(path, Options{}); !errors.Is(err, ErrSchema) {
				if err == nil {
					s.Close()
				}
				t.Errorf("Open = %v, want ErrSchema", err)
			}
			// The refused file was released: bbolt can open it again.
			db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 100 * time.Millisecond})
			if err != nil {
				t.Fatalf("file still locked after a refused Open: %v", err)
			}
			db.Close()
		})
	}
}

func TestInvalidKeys(t *testing.T) {
	s, _ := openTemp(t, Options{})
	cases := []struct {
		name string
		err  error
	}{
		{"empty account", s.CreateChannel(t.Context(), store.Channel{Name: "cam"}, 0)},
		{"empty name", s.CreateChannel(t.Context(), store.Channel{Account: "1"}, 0)},
		{"empty secret name", func() error {
			_, err := s.Secret(t.Context(), "", func() ([]byte, error) { return []byte("x"), nil })
			return err
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, ErrInvalidKey) {
				t.Errorf("error = %v, want ErrInvalidKey", tc.err)
			}
		})
	}
}

func TestUpdateMustNotChangeKey(t *testing.T) {
	s, _ := openTemp(t, Options{})
	if err := s.CreateChannel(t.Context(), store.Channel{Account: "1", Name: "cam", Version: "v1"}, 0); err != nil {
		t.Fatal(err)
	}
	for _, mutate := range []func(*store.Channel){
		func(ch *store.Channel) { ch.Name = "renamed" },
		func(ch *store.Channel) { ch.Account = "2" },
	} {
		_, err := s.UpdateChannel(t.Context(), "1", "cam", func(ch *store.Channel) error {
			ch.Version = "v2"
			mutate(ch)
			return nil
		})
		if !errors.Is(err, ErrKeyChanged) {
			t.Errorf("UpdateChannel = %v, want ErrKeyChanged", err)
		}
	}
	if got, _ := s.GetChannel(t.Context(), "1", "cam"); got.Version != "v1" {
		t.Errorf("refused update was written: Version %q", got.Version)
	}
}

// TestCountMatchesKeys checks the O(1) channel counter against the keys
// actually stored, after a mix of creates, refusals and deletes.
func TestCountMatchesKeys(t *testing.T) {
	s, _ := openTemp(t, Options{})
	ctx := t.Context()
	for i := range 60 {
		acct := fmt.Sprint(i % 3)
		// Later each time, so that re-creating a deleted name is allowed.
		created := time.UnixMilli(int64(i))
		_ = s.CreateChannel(ctx, store.Channel{Account: acct, Name: fmt.Sprintf("c%d", i%25), CreatedAt: created}, 15)
		if i%4 == 0 {
			_, _ = s.DeleteChannel(ctx, acct, fmt.Sprintf("c%d", (i+7)%25), func(store.Channel) error { return nil })
		}
	}
	assertCountsMatchKeys(t, s)
}

// assertCountsMatchKeys compares every account's counter with its keys and
// checks that no empty account bucket is left behind.
func assertCountsMatchKeys(t *testing.T, s *Store) {
	t.Helper()
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketAccounts).ForEachBucket(func(acct []byte) error {
			b := tx.Bucket(bucketAccounts).Bucket(acct)
			keys := b.Stats().KeyN
			if uint64(keys) != b.Sequence() || keys == 0 {
				t.Errorf("account %s: counter %d, keys %d", acct, b.Sequence(), keys)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenFailsClearly(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not bolt "), 2000), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, path string }{
		{"not a bbolt file", garbage},
		{"missing directory", filepath.Join(dir, "absent", "switchboard.db")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// TestDeletionRecordSurvivesReopen: the creation time of a deleted channel
// still bars an earlier or equal one after the file is closed and opened
// again, and the record goes once the name is in use again.
func TestDeletionRecordSurvivesReopen(t *testing.T) {
	s, path := openTemp(t, Options{})
	ch := store.Channel{Account: "1", Name: "cam", CreatedAt: time.UnixMilli(1_700_000_000_000)}
	if err := s.CreateChannel(t.Context(), ch, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteChannel(t.Context(), "1", "cam", func(store.Channel) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.CreateChannel(t.Context(), ch, 0); !errors.Is(err, store.ErrCreatedTooEarly) {
		t.Fatalf("CreateChannel after reopen = %v, want ErrCreatedTooEarly", err)
	}
	ch.CreatedAt = ch.CreatedAt.Add(time.Millisecond)
	if err := s.CreateChannel(t.Context(), ch, 0); err != nil {
		t.Fatalf("CreateChannel 1 ms later: %v", err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketDeleted); b != nil && b.Bucket([]byte("1")) != nil {
			t.Error("the deletion record outlived the re-creation of its name")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFileWithoutDeletedBucket: a file written before deletion records
// existed (schema 1 with channels, but no "deleted" bucket; built here with
// bbolt directly, byte for byte what such a build wrote) opens, serves its
// channels, and takes a delete and a re-creation, which now honour the
// record the delete leaves.
func TestFileWithoutDeletedBucket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switchboard.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	const stored = `{"v":1,"arn":"arn:aws:kinesisvideo:us-west-2:1:channel/cam/1710003845123",` +
		`"type":"SINGLE_MASTER","status":"ACTIVE","createdAt":"2024-03-09T17:04:05.123Z","messageTtl":60,"version":"v1"}`
	err = db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		if err := meta.Put([]byte("schema"), []byte("1")); err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("secrets")); err != nil {
			return err
		}
		accounts, err := tx.CreateBucket([]byte("accounts"))
		if err != nil {
			return err
		}
		acct, err := accounts.CreateBucket([]byte("1"))
		if err != nil {
			return err
		}
		for _, name := range []string{"cam", "door"} {
			if err := acct.Put([]byte(name), []byte(strings.Replace(stored, "/cam/", "/"+name+"/", 1))); err != nil {
				return err
			}
		}
		return acct.SetSequence(2)
	})
	if err == nil {
		err = db.Close()
	}
	if err != nil {
		t.Fatal(err)
	}

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open of a file without the deleted bucket: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ch, err := s.GetChannel(t.Context(), "1", "cam")
	if err != nil || ch.Version != "v1" {
		t.Fatalf("GetChannel = %+v, %v", ch, err)
	}
	// A create looks for the missing bucket (the check, the cleanup of its
	// name, the sweep) and must not trip on it.
	if err := s.CreateChannel(t.Context(), store.Channel{Account: "1", Name: "porch", CreatedAt: ch.CreatedAt}, 0); err != nil {
		t.Fatalf("CreateChannel of a new name: %v", err)
	}
	if _, err := s.DeleteChannel(t.Context(), "1", "cam", func(store.Channel) error { return nil }); err != nil {
		t.Fatalf("DeleteChannel: %v", err)
	}
	if err := s.CreateChannel(t.Context(), ch, 0); !errors.Is(err, store.ErrCreatedTooEarly) {
		t.Fatalf("re-creation at the deleted channel's time = %v, want ErrCreatedTooEarly", err)
	}
	ch.CreatedAt = ch.CreatedAt.Add(time.Millisecond)
	if err := s.CreateChannel(t.Context(), ch, 0); err != nil {
		t.Fatalf("re-creation 1 ms later: %v", err)
	}
	if n, err := s.CountChannels(t.Context(), "1"); err != nil || n != 3 {
		t.Errorf("CountChannels = %d, %v; want 3", n, err)
	}
	assertCountsMatchKeys(t, s)
}
