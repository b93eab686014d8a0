// Package storetest is the conformance suite of the store contract. Every
// store.Store backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
//	}
//
// The package owns the executable reading of each sentence of the contract
// in package store; it does not test what is particular to one backend
// (durability across crashes, file locking, performance), which belongs to
// that backend's own tests.
package storetest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/store"
)

// Run runs the whole suite as named subtests. open must return a fresh,
// empty store each time it is called; the suite closes every store it
// opens. Subtests run one after another, so a backend whose "fresh" store
// is a flushed shared server is fine.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	groups := []struct {
		name string
		run  func(t *testing.T, open opener)
	}{
		{"CreateGet", testCreateGet},
		{"CreateExists", testCreateExists},
		{"CreateLimit", testCreateLimit},
		{"CreateConcurrent", testCreateConcurrent},
		{"GetNotFound", testGetNotFound},
		{"List", testList},
		{"ListPagination", testListPagination},
		{"ListAccountsIsolated", testListAccountsIsolated},
		{"ListInvalidLimit", testListInvalidLimit},
		{"Count", testCount},
		{"Update", testUpdate},
		{"UpdateConcurrent", testUpdateConcurrent},
		{"NoAliasing", testNoAliasing},
		{"Delete", testDelete},
		{"DeleteConcurrent", testDeleteConcurrent},
		{"CreateAfterDelete", testCreateAfterDelete},
		{"Secret", testSecret},
		{"SecretConcurrent", testSecretConcurrent},
		{"Ping", testPing},
		{"Closed", testClosed},
		{"CanceledContext", testCanceledContext},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) { g.run(t, open) })
	}
}

// opener is the open function given to Run.
type opener = func(t *testing.T) store.Store

// fresh opens a store that is closed when the test ends.
func fresh(t *testing.T, open opener) store.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// sample returns a channel with every field set.
func sample(account, name string) store.Channel {
	return store.Channel{
		Account:    account,
		Name:       name,
		ARN:        fmt.Sprintf("arn:aws:kinesisvideo:us-west-2:%s:channel/%s/1700000000123", account, name),
		Type:       "SINGLE_MASTER",
		Status:     "ACTIVE",
		CreatedAt:  time.Date(2024, 3, 9, 17, 4, 5, 123_456_789, time.FixedZone("UTC+2", 2*3600)),
		MessageTTL: 60,
		Version:    "v-" + name,
		Tags:       map[string]string{"team": "video", "env": "test"},
	}
}

// mustCreate creates ch with no limit or fails the test.
func mustCreate(t *testing.T, s store.Store, ch store.Channel) {
	t.Helper()
	if err := s.CreateChannel(t.Context(), ch, 0); err != nil {
		t.Fatalf("CreateChannel(%s/%s): %v", ch.Account, ch.Name, err)
	}
}

// mustGet reads a channel or fails the test.
func mustGet(t *testing.T, s store.Store, account, name string) store.Channel {
	t.Helper()
	ch, err := s.GetChannel(t.Context(), account, name)
	if err != nil {
		t.Fatalf("GetChannel(%s/%s): %v", account, name, err)
	}
	return ch
}

// seed creates sample channels with the given names, several at a time.
func seed(t *testing.T, s store.Store, account string, names []string) {
	t.Helper()
	errs := concurrently(len(names), func(i int) error {
		return s.CreateChannel(t.Context(), sample(account, names[i]), 0)
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("seed %s/%s: %v", account, names[i], err)
		}
	}
}

// concurrently runs fn(0..n-1) on n goroutines started together and
// returns their errors by index.
func concurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// diffChannel describes how got differs from want, or returns "". CreatedAt
// must agree to the millisecond, and nil and empty Tags are equal.
func diffChannel(got, want store.Channel) string {
	var d []string
	field := func(name string, g, w any) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	field("Account", got.Account, want.Account)
	field("Name", got.Name, want.Name)
	field("ARN", got.ARN, want.ARN)
	field("Type", got.Type, want.Type)
	field("Status", got.Status, want.Status)
	field("MessageTTL", got.MessageTTL, want.MessageTTL)
	field("Version", got.Version, want.Version)
	if skew := got.CreatedAt.Sub(want.CreatedAt).Abs(); skew >= time.Millisecond {
		d = append(d, fmt.Sprintf("CreatedAt = %v, want %v", got.CreatedAt, want.CreatedAt))
	}
	if !sameTags(got.Tags, want.Tags) {
		d = append(d, fmt.Sprintf("Tags = %v, want %v", got.Tags, want.Tags))
	}
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

// sameTags compares two tag maps, treating nil and empty as equal.
func sameTags(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// names returns the names of chs in order.
func names(chs []store.Channel) []string {
	out := make([]string, len(chs))
	for i, ch := range chs {
		out[i] = ch.Name
	}
	return out
}

// sortedCopy returns the names sorted by bytes.
func sortedCopy(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}

// canceled returns a context that is already done.
func canceled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}
