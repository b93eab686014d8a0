package bench

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInterruptedBenchLeavesNoChild runs `switchboard bench` as a
// process, stops it while the scenario's child processes (the server under
// test, coturn) run, and checks that none of them outlives it: on SIGINT
// the bench stops them itself; killed outright (SIGKILL), the kernel ends
// them (Pdeathsig).
func TestInterruptedBenchLeavesNoChild(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and coturn; skipped with -short")
	}
	for _, c := range []struct {
		name, scenario, when string // when: the progress line at which to stop it
		sig                  syscall.Signal
	}{
		{"relay-sigint", "relay", "relay switchboard: offered", syscall.SIGINT},
		{"turn-sigint-during-coturn", "turn", "turn coturn 200B", syscall.SIGINT},
		{"relay-sigkill", "relay", "relay switchboard: offered", syscall.SIGKILL},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The bench's scratch directories go under a temporary
			// directory of the test's own, so that a killed bench, which
			// cannot remove them, leaves nothing behind after the test.
			scratch := t.TempDir()
			cmd := exec.Command(switchboardBinary, "bench", c.scenario, "--smoke", "--out", t.TempDir())
			cmd.Env = append(os.Environ(), "TMPDIR="+scratch)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			lines := make(chan string, 256)
			go func() {
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					select {
					case lines <- sc.Text():
					default:
					}
				}
				exited <- cmd.Wait()
			}()
			defer func() { _ = cmd.Process.Kill() }()
			var seen []string
			for deadline := time.After(90 * time.Second); ; {
				var line string
				select {
				case line = <-lines:
				case err := <-exited:
					t.Fatalf("the bench ended (%v) before %q:\n%s", err, c.when, strings.Join(seen, "\n"))
				case <-deadline:
					t.Fatalf("no %q within 90 s:\n%s", c.when, strings.Join(seen, "\n"))
				}
				seen = append(seen, line)
				if strings.Contains(line, c.when) {
					break
				}
			}
			kids := childrenOf(t, cmd.Process.Pid)
			if len(kids) == 0 {
				t.Fatalf("no child process of the bench while %q runs", c.scenario)
			}
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-exited:
			case <-time.After(60 * time.Second):
				t.Fatalf("the bench did not end within 60 s of %v", c.sig)
			}
			if left, _ := os.ReadDir(scratch); c.sig != syscall.SIGKILL && len(left) > 0 {
				t.Errorf("the bench stopped by %v left %d scratch directories behind, %s first", c.sig, len(left), left[0].Name())
			}
			deadline := time.Now().Add(10 * time.Second)
			for pid, name := range kids {
				for alive(pid, name) {
					if time.Now().After(deadline) {
						t.Errorf("child %d (%s) outlived the bench stopped by %v", pid, name, c.sig)
						_ = syscall.Kill(pid, syscall.SIGKILL) // this test's own grandchild, by its PID
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
}

// TestCancelledRunStopsItsChildren cancels a scenario's context while its
// child processes run (the server under test, the bare forwarder, coturn)
// and checks that when Run returns, the bench has stopped every one of
// them itself: this test process lives on, so the kernel's Pdeathsig
// cannot do it instead. Run must also say it was interrupted: the checks
// of a run cut short cover part of it, and must not pass for a whole one.
func TestCancelledRunStopsItsChildren(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and coturn; skipped with -short")
	}
	for _, c := range []struct{ name, scenario, when string }{
		{"connections-while-opening", "connections", "connections: opening"},
		{"relay-server", "relay", "relay switchboard: offered"},
		{"relay-forwarder", "relay", "relay bare forwarder: offered"},
		{"turn-coturn", "turn", "turn coturn 200B"},
		{"controlplane", "controlplane", "controlplane: Describe"},
	} {
		t.Run(c.name, func(t *testing.T) {
			scratch := t.TempDir()
			t.Setenv("TMPDIR", scratch) // where the scenario makes its scratch directories
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var kids map[int]string
			progress := writerFunc(func(p []byte) {
				if kids == nil && strings.Contains(string(p), c.when) {
					kids = childrenOf(t, os.Getpid())
					cancel()
				}
			})
			done := make(chan error, 1)
			go func() {
				_, err := Run(ctx, c.scenario, Options{Binary: switchboardBinary, Smoke: true, Out: t.TempDir(), Progress: progress}, io.Discard)
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Run cut short returned %v, want an error saying it was interrupted", err)
				}
			case <-time.After(2 * time.Minute):
				t.Fatal("Run did not return within 2 minutes of its context's end")
			}
			if len(kids) == 0 {
				t.Fatalf("no child process seen at %q", c.when)
			}
			if left, _ := os.ReadDir(scratch); len(left) > 0 {
				t.Errorf("Run cut short left %d scratch directories behind, %s first", len(left), left[0].Name())
			}
			for pid, name := range kids {
				if alive(pid, name) {
					t.Errorf("child %d (%s) still runs after Run returned", pid, name)
					_ = syscall.Kill(pid, syscall.SIGKILL) // this test's own child, by its PID
				}
			}
		})
	}
}

// writerFunc is an io.Writer that hands each write to a function.
type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }

// childrenOf returns the running child processes of pid, by PID, with
// their executable names.
func childrenOf(t *testing.T, pid int) map[int]string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	kids := map[int]string{}
	for _, path := range stats {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue // ended meanwhile
		}
		s := string(raw)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		fields := strings.Fields(s[end+1:])
		if open < 0 || len(fields) < 2 || fields[0] == "Z" {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == pid {
			child, _ := strconv.Atoi(strings.Fields(s)[0])
			kids[child] = s[open+1 : end]
		}
	}
	return kids
}

// alive reports whether process pid still runs the program name (a PID
// taken again by another program does not count; a zombie is dead).
func alive(pid int, name string) bool {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(raw)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || s[open+1:end] != name {
		return false
	}
	fields := strings.Fields(s[end+1:])
	return len(fields) > 0 && fields[0] != "Z"
}
