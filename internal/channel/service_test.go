package channel

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/store"
	"github.com/switchboard-rtc/switchboard/internal/store/bolt"
	"github.com/switchboard-rtc/switchboard/kvsapi"
)

const testAccount = "111122223333"

// stoppedClock is a clock that moves only when told to.
type stoppedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stoppedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stoppedClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// openService opens a bolt store at path and a service on it.
func openService(t *testing.T, path string, now func() time.Time) (*Service, *bolt.Store) {
	t.Helper()
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return NewService(Options{Store: st, Region: "us-west-2", Config: DefaultConfig(), Now: now}), st
}

// recreate deletes the channel with arn and creates one of the same name.
func recreate(t *testing.T, s *Service, arn, name string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Delete(ctx, testAccount, arn, nil); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	ch, err := s.Create(ctx, testAccount, CreateInput{Name: name})
	if err != nil {
		t.Fatalf("Create again: %v", err)
	}
	return ch.ARN
}

// wantGone checks that a deleted channel's ARN no longer resolves.
func wantGone(t *testing.T, s *Service, arn string) {
	t.Helper()
	_, err := s.ByARN(context.Background(), testAccount, "ChannelARN", arn)
	if !kvsapi.HasCode(err, kvsapi.CodeResourceNotFound) {
		t.Errorf("ARN %s of a deleted channel: %v, want ResourceNotFoundException", arn, err)
	}
}

// TestRecreateInSameMillisecondGetsNewARN: with a clock that does not move,
// every re-creation still gets its own creation time and ARN (spec 3.5).
func TestRecreateInSameMillisecondGetsNewARN(t *testing.T) {
	start := time.UnixMilli(1_795_335_108_104).UTC()
	clock := &stoppedClock{now: start}
	s, _ := openService(t, filepath.Join(t.TempDir(), "db"), clock.Now)
	ch, err := s.Create(context.Background(), testAccount, CreateInput{Name: "cam"})
	if err != nil {
		t.Fatal(err)
	}
	arn := ch.ARN
	for i := 1; i <= 3; i++ {
		next := recreate(t, s, arn, "cam")
		if next == arn {
			t.Fatalf("re-creation %d reused the ARN %s", i, arn)
		}
		wantGone(t, s, arn)
		got, err := s.Resolve(context.Background(), testAccount, Selector{ARN: &next})
		if err != nil {
			t.Fatal(err)
		}
		if want := start.Add(time.Duration(i) * time.Millisecond); !got.CreatedAt.Equal(want) {
			t.Errorf("re-creation %d: CreatedAt %v, want %v", i, got.CreatedAt, want)
		}
		arn = next
	}
}

// TestRecreateAfterRestartWithClockBehind: the guard is durable, so neither
// a restart nor a clock that stepped back hands out a deleted ARN again.
func TestRecreateAfterRestartWithClockBehind(t *testing.T) {
	start := time.UnixMilli(1_795_335_108_104).UTC()
	clock := &stoppedClock{now: start}
	path := filepath.Join(t.TempDir(), "db")
	s, st := openService(t, path, clock.Now)
	ch, err := s.Create(context.Background(), testAccount, CreateInput{Name: "cam"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(context.Background(), testAccount, ch.ARN, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Set(start.Add(-time.Hour))
	s, _ = openService(t, path, clock.Now)
	again, err := s.Create(context.Background(), testAccount, CreateInput{Name: "cam"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ARN == ch.ARN {
		t.Fatalf("re-creation after restart reused the ARN %s", ch.ARN)
	}
	if want := start.Add(time.Millisecond); !again.CreatedAt.Equal(want) {
		t.Errorf("CreatedAt %v, want %v", again.CreatedAt, want)
	}
	wantGone(t, s, ch.ARN)
}

// TestRecreateLoopNeverReusesARN is the reviewer's reproduction with the
// real clock: fast delete and create cycles never repeat an ARN.
func TestRecreateLoopNeverReusesARN(t *testing.T) {
	s, _ := openService(t, filepath.Join(t.TempDir(), "db"), nil)
	ch, err := s.Create(context.Background(), testAccount, CreateInput{Name: "cam"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{ch.ARN: true}
	arn := ch.ARN
	for range 200 {
		arn = recreate(t, s, arn, "cam")
		if seen[arn] {
			t.Fatalf("ARN %s handed out twice", arn)
		}
		seen[arn] = true
	}
}

// overtakenStore is a store.Store whose CreateChannel always finds that a
// channel of the same name was deleted after being created 1 ms later than
// the last attempt, as if other requests kept re-creating and deleting the
// name. It counts the attempts.
type overtakenStore struct {
	store.Store
	mu       sync.Mutex
	attempts int
}

func (s *overtakenStore) CreateChannel(_ context.Context, ch store.Channel, _ int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	return &store.CreatedTooEarlyError{Account: ch.Account, Name: ch.Name, Deleted: ch.CreatedAt.Add(time.Millisecond)}
}

// TestCreateOvertakenAnswersResourceInUse: when the name keeps being
// deleted under it, Create gives up after createAttempts and says so in a
// client error the caller can retry on, not an InternalFailure.
func TestCreateOvertakenAnswersResourceInUse(t *testing.T) {
	st := &overtakenStore{}
	clock := &stoppedClock{now: time.UnixMilli(1_795_335_108_104).UTC()}
	s := NewService(Options{Store: st, Region: "us-west-2", Config: DefaultConfig(), Now: clock.Now})
	_, err := s.Create(context.Background(), testAccount, CreateInput{Name: "cam"})
	var apiErr *kvsapi.Error
	if !errors.As(err, &apiErr) || apiErr.Code != kvsapi.CodeResourceInUse {
		t.Fatalf("Create = %v, want ResourceInUseException", err)
	}
	if apiErr.Code.Status != http.StatusBadRequest {
		t.Errorf("status %d, want 400", apiErr.Code.Status)
	}
	for _, want := range []string{`"cam"`, "deleted", "retry"} {
		if !strings.Contains(apiErr.Message, want) {
			t.Errorf("message %q does not mention %s", apiErr.Message, want)
		}
	}
	if st.attempts != createAttempts {
		t.Errorf("%d attempts, want %d", st.attempts, createAttempts)
	}
}

// TestUpdatesReachOnUpdatedInOrder: a second update of a channel, made
// while the first one's onUpdated call is still running, reaches onUpdated
// after it, so the last TTL applied to live connections is the one stored
// last.
func TestUpdatesReachOnUpdatedInOrder(t *testing.T) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "data.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })

	var mu sync.Mutex
	var applied []int
	firstCall := make(chan struct{})
	releaseFirst := make(chan struct{})
	s := NewService(Options{Store: st, Region: "us-west-2", Config: DefaultConfig(),
		OnUpdated: func(_ context.Context, ch store.Channel) {
			if ch.MessageTTL == 10 {
				close(firstCall)
				<-releaseFirst
			}
			mu.Lock()
			applied = append(applied, ch.MessageTTL)
			mu.Unlock()
		}})
	ch, err := s.Create(ctx, testAccount, CreateInput{Name: "ordered"})
	if err != nil {
		t.Fatal(err)
	}

	first := make(chan error, 1)
	go func() {
		ttl := 10
		_, err := s.Update(ctx, testAccount, ch.ARN, ch.Version, &ttl)
		first <- err
	}()
	<-firstCall // the first update is stored; its onUpdated call waits
	stored, err := s.ByARN(ctx, testAccount, "ChannelARN", ch.ARN)
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		ttl := 100
		_, err := s.Update(ctx, testAccount, ch.ARN, stored.Version, &ttl)
		second <- err
	}()
	// Give the second update time to overtake, were it able to.
	time.Sleep(50 * time.Millisecond)
	close(releaseFirst)
	if err := <-first; err != nil {
		t.Fatalf("first Update: %v", err)
	}
	if err := <-second; err != nil {
		t.Fatalf("second Update: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(applied) != 2 || applied[0] != 10 || applied[1] != 100 {
		t.Fatalf("onUpdated saw TTLs %v, want [10 100]", applied)
	}
}
