package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/store"
)

// listNames mixes case, digits and punctuation so that byte order differs
// from a case-insensitive or natural order.
var listNames = []string{
	"beta", "Zeta", "alpha", "alpha-1", "alpha.1", "alpha_1", "alpha1",
	"alphabet", "alp", "0day", "_under", "-dash", "betamax", "b",
}

// expectList is the reference reading of ListOptions over sorted names.
func expectList(sorted []string, opts store.ListOptions) []string {
	var out []string
	for _, n := range sorted {
		if len(out) == opts.Limit {
			break
		}
		if strings.HasPrefix(n, opts.Prefix) && n > opts.After {
			out = append(out, n)
		}
	}
	return out
}

// testList: ListChannels orders by name bytes and applies Prefix, After
// and Limit together.
func testList(t *testing.T, open opener) {
	s := fresh(t, open)
	seed(t, s, "111111111111", listNames)
	sorted := sortedCopy(listNames)
	cases := []struct {
		name string
		opts store.ListOptions
	}{
		{"everything", store.ListOptions{Limit: 100}},
		{"limit", store.ListOptions{Limit: 3}},
		{"limit 1", store.ListOptions{Limit: 1}},
		{"limit equals count", store.ListOptions{Limit: len(listNames)}},
		{"prefix", store.ListOptions{Prefix: "alpha", Limit: 100}},
		{"prefix and limit", store.ListOptions{Prefix: "alpha", Limit: 2}},
		{"prefix is a whole name", store.ListOptions{Prefix: "beta", Limit: 100}},
		{"prefix matches nothing", store.ListOptions{Prefix: "gamma", Limit: 100}},
		{"prefix is case-sensitive", store.ListOptions{Prefix: "ALPHA", Limit: 100}},
		{"after a stored name", store.ListOptions{After: "alpha1", Limit: 100}},
		{"after a name not stored", store.ListOptions{After: "alpha0", Limit: 100}},
		{"after the last name", store.ListOptions{After: "betamax", Limit: 100}},
		{"after everything", store.ListOptions{After: "zzz", Limit: 100}},
		{"after before the first", store.ListOptions{After: "!", Limit: 100}},
		{"prefix and after inside it", store.ListOptions{Prefix: "alpha", After: "alpha.1", Limit: 100}},
		{"prefix and after before it", store.ListOptions{Prefix: "alpha", After: "a", Limit: 100}},
		{"prefix and after past it", store.ListOptions{Prefix: "alpha", After: "alphac", Limit: 100}},
		{"prefix, after and limit", store.ListOptions{Prefix: "alpha", After: "alpha-1", Limit: 2}},
		{"after equals prefix", store.ListOptions{Prefix: "alp", After: "alp", Limit: 100}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListChannels(t.Context(), "111111111111", tc.opts)
			if err != nil {
				t.Fatalf("ListChannels(%+v): %v", tc.opts, err)
			}
			want := expectList(sorted, tc.opts)
			if !slices.Equal(names(got), want) {
				t.Errorf("ListChannels(%+v) = %q, want %q", tc.opts, names(got), want)
			}
			for _, ch := range got {
				if d := diffChannel(ch, sample("111111111111", ch.Name)); d != "" {
					t.Errorf("listed %s: %s", ch.Name, d)
				}
			}
		})
	}
}

// testListPagination: paging with After = last name of the previous page
// returns every channel exactly once, in order.
func testListPagination(t *testing.T, open opener) {
	s := fresh(t, open)
	all := make([]string, 250)
	for i := range all {
		all[i] = fmt.Sprintf("ch-%03d", i)
	}
	shuffled := slices.Clone(all)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	seed(t, s, "111111111111", shuffled)
	seed(t, s, "111111111111", []string{"other-1", "other-2"}) // outside the prefix

	const pageSize = 7
	var seen []string
	after := ""
	for page := 0; ; page++ {
		if page > len(all) {
			t.Fatal("pagination does not end")
		}
		got, err := s.ListChannels(t.Context(), "111111111111",
			store.ListOptions{Prefix: "ch-", After: after, Limit: pageSize})
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if len(got) > pageSize {
			t.Fatalf("page %d has %d channels, limit %d", page, len(got), pageSize)
		}
		if len(got) == 0 {
			break
		}
		seen = append(seen, names(got)...)
		after = got[len(got)-1].Name
	}
	if !slices.Equal(seen, all) {
		t.Errorf("pages gave %d names (%q...), want the %d names in order once each", len(seen), seen[:min(len(seen), 10)], len(all))
	}
}

// testListAccountsIsolated: an account never sees another account's
// channels, even when one account ID is a prefix of the other.
func testListAccountsIsolated(t *testing.T, open opener) {
	s := fresh(t, open)
	accounts := map[string][]string{
		"1":            {"a", "shared"},
		"11":           {"b", "c", "shared"},
		"111111111111": {"d", "shared"},
		"2":            {"e"},
	}
	for acct, ns := range accounts {
		seed(t, s, acct, ns)
	}
	for acct, ns := range accounts {
		t.Run("account "+acct, func(t *testing.T) {
			got, err := s.ListChannels(t.Context(), acct, store.ListOptions{Limit: 100})
			if err != nil {
				t.Fatalf("ListChannels: %v", err)
			}
			if want := sortedCopy(ns); !slices.Equal(names(got), want) {
				t.Errorf("ListChannels = %q, want %q", names(got), want)
			}
			for _, ch := range got {
				if ch.Account != acct {
					t.Errorf("listed channel %s has Account %q", ch.Name, ch.Account)
				}
			}
			if n, err := s.CountChannels(t.Context(), acct); err != nil || n != len(ns) {
				t.Errorf("CountChannels = %d, %v; want %d", n, err, len(ns))
			}
		})
	}
	t.Run("unknown account", func(t *testing.T) {
		got, err := s.ListChannels(t.Context(), "3", store.ListOptions{Limit: 100})
		if err != nil || len(got) != 0 {
			t.Errorf("ListChannels = %q, %v; want empty, nil", names(got), err)
		}
	})
}

// testListInvalidLimit: a Limit that is not positive is an error.
func testListInvalidLimit(t *testing.T, open opener) {
	s := fresh(t, open)
	mustCreate(t, s, sample("111111111111", "cam"))
	for _, limit := range []int{0, -1} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			if _, err := s.ListChannels(t.Context(), "111111111111", store.ListOptions{Limit: limit}); err == nil {
				t.Errorf("ListChannels with Limit %d succeeded, want an error", limit)
			}
		})
	}
}

// testCount: CountChannels follows creates and deletes, per account.
func testCount(t *testing.T, open opener) {
	s := fresh(t, open)
	steps := []struct {
		name string
		do   func(t *testing.T)
		want map[string]int
	}{
		{"empty store", func(*testing.T) {}, map[string]int{"111111111111": 0}},
		{"five created", func(t *testing.T) {
			seed(t, s, "111111111111", []string{"a", "b", "c", "d", "e"})
		}, map[string]int{"111111111111": 5, "222222222222": 0}},
		{"refused create", func(t *testing.T) {
			_ = s.CreateChannel(t.Context(), sample("111111111111", "a"), 0)
			_ = s.CreateChannel(t.Context(), sample("111111111111", "f"), 5)
		}, map[string]int{"111111111111": 5}},
		{"two deleted", func(t *testing.T) {
			for _, n := range []string{"b", "d"} {
				if _, err := s.DeleteChannel(t.Context(), "111111111111", n, approve[store.Channel]); err != nil {
					t.Fatal(err)
				}
			}
		}, map[string]int{"111111111111": 3}},
		{"other account", func(t *testing.T) {
			mustCreate(t, s, sample("222222222222", "a"))
		}, map[string]int{"111111111111": 3, "222222222222": 1}},
		{"all deleted", func(t *testing.T) {
			for _, n := range []string{"a", "c", "e"} {
				if _, err := s.DeleteChannel(t.Context(), "111111111111", n, approve[store.Channel]); err != nil {
					t.Fatal(err)
				}
			}
		}, map[string]int{"111111111111": 0, "222222222222": 1}},
		{"created again", func(t *testing.T) {
			mustCreate(t, s, later(sample("111111111111", "a"), time.Second))
		}, map[string]int{"111111111111": 1}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do(t)
			for acct, want := range st.want {
				if n, err := s.CountChannels(t.Context(), acct); err != nil || n != want {
					t.Errorf("CountChannels(%s) = %d, %v; want %d", acct, n, err, want)
				}
			}
		})
	}
	if _, err := s.DeleteChannel(t.Context(), "111111111111", "zz", approve[store.Channel]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteChannel of a missing channel = %v, want ErrNotFound", err)
	}
	if n, _ := s.CountChannels(t.Context(), "111111111111"); n != 1 {
		t.Errorf("a failed delete changed the count to %d", n)
	}
}
