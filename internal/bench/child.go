package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process a scenario started: the server under test, a baseline
// server or coturn. It dies with the bench (Pdeathsig) and is stopped by
// its PID.
type child struct {
	name   string
	cmd    *exec.Cmd
	out    *tail
	exited chan struct{}
}

// childSpec says how to start a child and when it is ready.
type childSpec struct {
	name  string
	path  string
	args  []string
	env   []string
	dir   string
	ready *regexp.Regexp // a line of output that says it serves
	wait  time.Duration  // bound on the start
}

// startChild starts spec and waits for its ready line, whose submatches it
// returns.
func startChild(ctx context.Context, spec childSpec) (*child, []string, error) {
	cmd := exec.Command(spec.path, spec.args...)
	cmd.Env = append(os.Environ(), spec.env...)
	cmd.Dir = spec.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("bench: start %s: %w", spec.name, err)
	}
	c := &child{name: spec.name, cmd: cmd, out: &tail{max: 64 << 10}, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(c.exited)
	}()
	found := make(chan []string, 1)
	go c.scan(pr, spec.ready, found)
	wait := spec.wait
	if wait == 0 {
		wait = 60 * time.Second
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case m := <-found:
		return c, m, nil
	case <-c.exited:
		return nil, nil, fmt.Errorf("bench: %s exited before it was ready:\n%s", spec.name, c.out.String())
	case <-timer.C:
	case <-ctx.Done():
		c.stop()
		return nil, nil, fmt.Errorf("bench: %s stopped before it was ready: %w", spec.name, context.Cause(ctx))
	}
	c.stop()
	return nil, nil, fmt.Errorf("bench: %s was not ready within %s:\n%s", spec.name, wait, c.out.String())
}

// scan keeps the output and reports the first line matching ready.
func (c *child) scan(r io.Reader, ready *regexp.Regexp, found chan<- []string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		c.out.Write([]byte(line + "\n"))
		if !sent {
			if m := ready.FindStringSubmatch(line); m != nil {
				found <- m
				sent = true
			}
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// pid returns the process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// alive reports whether the process still runs.
func (c *child) alive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// stop ends the process: SIGTERM, then SIGKILL after 15 seconds. It
// signals the process by its PID only.
func (c *child) stop() {
	if c == nil || !c.alive() {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return
	case <-time.After(15 * time.Second):
	}
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// find returns the submatches of the first output line matching re, within
// wait.
func (c *child) find(re *regexp.Regexp, wait time.Duration) ([]string, error) {
	deadline := time.Now().Add(wait)
	for {
		for _, line := range strings.Split(c.out.String(), "\n") {
			if m := re.FindStringSubmatch(line); m != nil {
				return m, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, errors.New("bench: " + c.name + " never printed " + re.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
