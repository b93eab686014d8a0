package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/switchboard-rtc/switchboard/internal/store"
)

// errRefused is what the suite's mutate and check functions return to say
// no; the store must hand it back unchanged.
var errRefused = errors.New("storetest: refused by the callback")

// testUpdate: UpdateChannel applies mutate, returns what it stored, and
// writes nothing when mutate fails.
func testUpdate(t *testing.T, open opener) {
	cases := []struct {
		name    string
		mutate  func(*store.Channel) error
		want    func(store.Channel) store.Channel // nil: stored channel unchanged
		wantErr error
	}{
		{
			name: "changes fields",
			mutate: func(ch *store.Channel) error {
				ch.MessageTTL, ch.Version, ch.Status = 120, "v2", "UPDATING"
				ch.Tags["added"] = "yes"
				delete(ch.Tags, "env")
				return nil
			},
			want: func(ch store.Channel) store.Channel {
				ch.MessageTTL, ch.Version, ch.Status = 120, "v2", "UPDATING"
				ch.Tags = map[string]string{"team": "video", "added": "yes"}
				return ch
			},
		},
		{
			name:   "clears tags",
			mutate: func(ch *store.Channel) error { ch.Tags = nil; return nil },
			want:   func(ch store.Channel) store.Channel { ch.Tags = nil; return ch },
		},
		{
			name:   "no change",
			mutate: func(*store.Channel) error { return nil },
			want:   func(ch store.Channel) store.Channel { return ch },
		},
		{
			name: "mutate fails after changing its copy",
			mutate: func(ch *store.Channel) error {
				ch.Version, ch.Tags["env"] = "lost", "lost"
				return fmt.Errorf("wrapped: %w", errRefused)
			},
			wantErr: errRefused,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := fresh(t, open)
			orig := sample("111111111111", "cam")
			mustCreate(t, s, orig)
			var seen store.Channel
			got, err := s.UpdateChannel(t.Context(), "111111111111", "cam", func(ch *store.Channel) error {
				seen = ch.Clone()
				return tc.mutate(ch)
			})
			if d := diffChannel(seen, orig); d != "" {
				t.Errorf("mutate was given %s", d)
			}
			stored := mustGet(t, s, "111111111111", "cam")
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("UpdateChannel = %v, want %v", err, tc.wantErr)
				}
				if d := diffChannel(stored, orig); d != "" {
					t.Errorf("failed update changed the channel: %s", d)
				}
				return
			}
			if err != nil {
				t.Fatalf("UpdateChannel: %v", err)
			}
			want := tc.want(orig.Clone())
			if d := diffChannel(got, want); d != "" {
				t.Errorf("returned channel: %s", d)
			}
			if d := diffChannel(stored, got); d != "" {
				t.Errorf("stored channel differs from the returned one: %s", d)
			}
		})
	}
	t.Run("not found", func(t *testing.T) {
		s := fresh(t, open)
		mustCreate(t, s, sample("111111111111", "cam"))
		for _, key := range [][2]string{{"111111111111", "absent"}, {"999999999999", "cam"}} {
			called := false
			_, err := s.UpdateChannel(t.Context(), key[0], key[1], func(*store.Channel) error { called = true; return nil })
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("UpdateChannel(%s/%s) = %v, want ErrNotFound", key[0], key[1], err)
			}
			if called {
				t.Errorf("UpdateChannel(%s/%s) called mutate for a missing channel", key[0], key[1])
			}
		}
		if _, err := s.GetChannel(t.Context(), "111111111111", "absent"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update of a missing channel created it: GetChannel = %v", err)
		}
	})
}

// testUpdateConcurrent: read-modify-write through UpdateChannel loses no
// update, and each caller gets back the value its own update stored.
func testUpdateConcurrent(t *testing.T, open opener) {
	s := fresh(t, open)
	const writers, start = 50, 60
	ch := sample("111111111111", "counter")
	ch.MessageTTL = start
	ch.Tags = map[string]string{"n": "0"}
	mustCreate(t, s, ch)

	results := make([]store.Channel, writers)
	errs := concurrently(writers, func(i int) error {
		var err error
		results[i], err = s.UpdateChannel(t.Context(), "111111111111", "counter", func(ch *store.Channel) error {
			n, err := strconv.Atoi(ch.Tags["n"])
			if err != nil {
				return err
			}
			ch.Tags["n"] = strconv.Itoa(n + 1)
			ch.MessageTTL++
			return nil
		})
		return err
	})
	var ttls []int
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
		if results[i].Tags["n"] != strconv.Itoa(results[i].MessageTTL-start) {
			t.Errorf("writer %d got a torn value: TTL %d, tag n=%s", i, results[i].MessageTTL, results[i].Tags["n"])
		}
		ttls = append(ttls, results[i].MessageTTL)
	}
	slices.Sort(ttls)
	for i, ttl := range ttls {
		if ttl != start+1+i {
			t.Fatalf("returned TTLs %v: want each of %d..%d exactly once", ttls, start+1, start+writers)
		}
	}
	got := mustGet(t, s, "111111111111", "counter")
	if got.MessageTTL != start+writers || got.Tags["n"] != strconv.Itoa(writers) {
		t.Errorf("after %d increments: TTL %d, tag n=%s; want %d and %d",
			writers, got.MessageTTL, got.Tags["n"], start+writers, writers)
	}
}

// testNoAliasing: no map handed in or out of the store is shared with what
// it keeps.
func testNoAliasing(t *testing.T, open opener) {
	cases := []struct {
		name string
		// poke gets a map that crossed the store's boundary and scribbles on
		// it after the call returned.
		poke func(t *testing.T, s store.Store) map[string]string
	}{
		{"map given to CreateChannel", func(t *testing.T, s store.Store) map[string]string {
			ch := sample("111111111111", "other")
			mustCreate(t, s, ch)
			return ch.Tags
		}},
		{"map returned by GetChannel", func(t *testing.T, s store.Store) map[string]string {
			return mustGet(t, s, "111111111111", "cam").Tags
		}},
		{"map returned by ListChannels", func(t *testing.T, s store.Store) map[string]string {
			chs, err := s.ListChannels(t.Context(), "111111111111", store.ListOptions{Limit: 1})
			if err != nil || len(chs) != 1 {
				t.Fatalf("ListChannels = %d channels, %v", len(chs), err)
			}
			return chs[0].Tags
		}},
		{"map returned by UpdateChannel", func(t *testing.T, s store.Store) map[string]string {
			ch, err := s.UpdateChannel(t.Context(), "111111111111", "cam", func(*store.Channel) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			return ch.Tags
		}},
		{"map kept by mutate", func(t *testing.T, s store.Store) map[string]string {
			var kept map[string]string
			ret, err := s.UpdateChannel(t.Context(), "111111111111", "cam", func(ch *store.Channel) error {
				kept = ch.Tags
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			kept["scribble"] = "x"
			if _, ok := ret.Tags["scribble"]; ok {
				t.Error("the channel returned by UpdateChannel shares its Tags with mutate's copy")
			}
			return kept
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := fresh(t, open)
			orig := sample("111111111111", "cam")
			mustCreate(t, s, orig.Clone())
			m := tc.poke(t, s)
			m["team"], m["scribble"] = "changed", "x"
			delete(m, "env")
			for _, name := range []string{"cam", "other"} {
				got, err := s.GetChannel(t.Context(), "111111111111", name)
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if !sameTags(got.Tags, orig.Tags) {
					t.Errorf("stored tags of %s became %v, want %v", name, got.Tags, orig.Tags)
				}
			}
		})
	}
}
