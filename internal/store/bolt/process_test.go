package bolt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rtc/switchboard/internal/store"
)

// The helper process: the test binary re-executed with these variables
// set runs one of the child modes below instead of the tests. They start
// with SBDEV_, the prefix of our tools' own variables, which no setting's
// SWITCHBOARD_* variable can take.
const (
	envChildMode = "SBDEV_BOLT_CHILD_MODE"
	envChildPath = "SBDEV_BOLT_CHILD_PATH"
	crashAccount = "123456789012"
	crashCount   = 100
)

// TestHelperProcess is not a real test: it is the body of the child
// processes started by the tests in this file, and does nothing unless
// envChildMode is set.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(envChildMode)
	if mode == "" {
		return
	}
	s, err := Open(os.Getenv(envChildPath), Options{})
	if err != nil {
		fmt.Println("open failed:", err)
		os.Exit(2)
	}
	switch mode {
	case "crash":
		childWriteUntilKilled(t, s)
	case "hold":
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin) // hold the lock until the parent closes stdin
		_ = s.Close()
	}
	os.Exit(0)
}

// crashChannel is the channel the crash child writes as number i, before
// any update.
func crashChannel(i int) store.Channel {
	return store.Channel{
		Account:    crashAccount,
		Name:       fmt.Sprintf("cam-%03d", i),
		ARN:        fmt.Sprintf("arn:aws:kinesisvideo:us-east-1:%s:channel/cam-%03d/1", crashAccount, i),
		Type:       "SINGLE_MASTER",
		Status:     "ACTIVE",
		CreatedAt:  time.UnixMilli(1_700_000_000_000 + int64(i)),
		MessageTTL: 60,
		Version:    "v1",
		Tags:       map[string]string{"index": strconv.Itoa(i), "site": "lab"},
	}
}

// crashUpdate is the update the crash child applies to every even channel.
func crashUpdate(ch *store.Channel) error {
	ch.Version = "v2"
	ch.Tags["updated"] = "yes"
	return nil
}

// childWriteUntilKilled creates crashCount channels from ten goroutines,
// updates the even ones, prints "ack <name>" after each acknowledged write
// and "ready" once all are done; then it keeps creating channels so that
// the kill lands in the middle of writes. It never closes the store.
func childWriteUntilKilled(t *testing.T, s *Store) {
	var out sync.Mutex
	ack := func(line string) {
		out.Lock()
		defer out.Unlock()
		fmt.Println(line)
	}
	fail := func(err error) {
		ack("error " + err.Error())
		os.Exit(3)
	}
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			for i := w; i < crashCount; i += 10 {
				ch := crashChannel(i)
				if err := s.CreateChannel(t.Context(), ch, 0); err != nil {
					fail(err)
				}
				ack("ack " + ch.Name)
				if i%2 == 0 {
					if _, err := s.UpdateChannel(t.Context(), crashAccount, ch.Name, crashUpdate); err != nil {
						fail(err)
					}
				}
			}
		})
	}
	wg.Wait()
	ack("ready")
	for i := 0; ; i++ {
		name := fmt.Sprintf("extra-%06d", i)
		if err := s.CreateChannel(t.Context(), store.Channel{Account: crashAccount, Name: name}, 0); err != nil {
			fail(err)
		}
		ack("ack " + name)
	}
}

// startChild runs the test binary as a helper process in mode on path and
// returns it with its stdout lines.
func startChild(t *testing.T, mode, path string) (*exec.Cmd, io.WriteCloser, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envChildMode+"="+mode, envChildPath+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return cmd, stdin, lines
}

// awaitReady collects the child's acknowledgements until it says "ready".
func awaitReady(t *testing.T, lines <-chan string) (acked []string) {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case line, ok := <-lines:
			switch {
			case !ok:
				t.Fatalf("child exited before it was ready (acked %d)", len(acked))
			case line == "ready":
				return acked
			case strings.HasPrefix(line, "ack "):
				acked = append(acked, strings.TrimPrefix(line, "ack "))
			default:
				t.Fatalf("child: %s", line)
			}
		case <-timeout:
			t.Fatalf("child not ready after 2 minutes (acked %d)", len(acked))
		}
	}
}

func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "switchboard.db")
	cmd, _, lines := startChild(t, "crash", path)
	acked := awaitReady(t, lines)
	// Let the child get some writes past "ready" in flight, then kill it.
	for range 20 {
		if line, ok := <-lines; ok && strings.HasPrefix(line, "ack ") {
			acked = append(acked, strings.TrimPrefix(line, "ack "))
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	for line := range lines { // acknowledgements printed before the kill
		if strings.HasPrefix(line, "ack ") {
			acked = append(acked, strings.TrimPrefix(line, "ack "))
		}
	}

	s, err := Open(path, Options{LockTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	for i := range crashCount {
		want := crashChannel(i)
		if i%2 == 0 {
			_ = crashUpdate(&want)
		}
		got, err := s.GetChannel(t.Context(), crashAccount, want.Name)
		if err != nil {
			t.Errorf("%s: %v", want.Name, err)
			continue
		}
		if got.Version != want.Version || !got.CreatedAt.Equal(want.CreatedAt) || !sameMap(got.Tags, want.Tags) {
			t.Errorf("%s = %+v, want %+v", want.Name, got, want)
		}
	}
	for _, name := range acked {
		if _, err := s.GetChannel(t.Context(), crashAccount, name); err != nil {
			t.Errorf("acknowledged %s lost: %v", name, err)
		}
	}
	n, err := s.CountChannels(t.Context(), crashAccount)
	if err != nil || n < len(acked) {
		t.Errorf("CountChannels = %d, %v; at least %d were acknowledged", n, err, len(acked))
	}
	assertCountsMatchKeys(t, s)
	t.Logf("%d writes acknowledged before SIGKILL, %d channels after reopen", len(acked), n)
}

// sameMap compares tag maps.
func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestOpenLocked(t *testing.T) {
	cases := []struct {
		name    string
		timeout time.Duration
		holder  func(t *testing.T, path string) (release func())
	}{
		{"same process", 200 * time.Millisecond, holdInProcess},
		{"other process", 200 * time.Millisecond, holdInChild},
		{"default timeout", 0, holdInProcess},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "switchboard.db")
			release := tc.holder(t, path)
			start := time.Now()
			s, err := Open(path, Options{LockTimeout: tc.timeout})
			elapsed := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("second Open succeeded while the file was held")
			}
			if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
				t.Errorf("second Open = %v, want ErrLocked naming the file", err)
			}
			if elapsed > DefaultLockTimeout+2*time.Second {
				t.Errorf("second Open took %s to fail", elapsed)
			}
			release()
			s, err = Open(path, Options{LockTimeout: 5 * time.Second})
			if err != nil {
				t.Fatalf("Open after the holder let go: %v", err)
			}
			s.Close()
		})
	}
}

// holdInProcess opens path in this process until release is called.
func holdInProcess(t *testing.T, path string) func() {
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return func() { _ = s.Close() }
}

// holdInChild opens path in a child process until release is called.
func holdInChild(t *testing.T, path string) func() {
	cmd, stdin, lines := startChild(t, "hold", path)
	awaitReady(t, lines)
	return func() {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("holder exited: %v", err)
		}
	}
}
