package devtls

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEnsureConcurrentGoroutines(t *testing.T) {
	const n = 8
	dir := newDir(t)
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		bundles = make([]*Bundle, n)
		errs    = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			bundles[i], errs[i] = Ensure(Options{Dir: dir, Hosts: []string{"host.example"}})
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	createdCA, issued := 0, 0
	for _, b := range bundles {
		if b.CreatedCA {
			createdCA++
		}
		if b.IssuedLeaf {
			issued++
		}
		if b.CAFingerprint != bundles[0].CAFingerprint {
			t.Errorf("CA fingerprints differ: %s and %s", b.CAFingerprint, bundles[0].CAFingerprint)
		}
	}
	if createdCA != 1 || issued != 1 {
		t.Errorf("%d calls created the CA and %d issued the leaf, want 1 and 1", createdCA, issued)
	}
	if got := fingerprint(readCert(t, bundles[0].CAFile)); got != bundles[0].CAFingerprint {
		t.Errorf("ca.pem fingerprint %s, want %s", got, bundles[0].CAFingerprint)
	}
	verifyLeaf(t, bundles[0], "host.example", time.Now())
}

// childDirEnv tells a re-executed test binary to act as one of the competing
// processes of TestEnsureConcurrentProcesses.
const childDirEnv = "DEVTLS_TEST_CHILD_DIR"

// TestEnsureChildProcess is the body of a competing process; it does
// nothing in a normal run.
func TestEnsureChildProcess(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("helper for TestEnsureConcurrentProcesses")
	}
	b, err := Ensure(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("RESULT created=%v fingerprint=%s\n", b.CreatedCA, b.CAFingerprint)
}

func TestEnsureConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const n = 4
	dir := newDir(t)
	cmds := make([]*exec.Cmd, n)
	outs := make([]bytes.Buffer, n)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^TestEnsureChildProcess$", "-test.count=1")
		cmds[i].Env = append(os.Environ(), childDirEnv+"="+dir)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	created := 0
	fingerprints := map[string]bool{}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i].String())
		}
		c, fp := parseChildResult(t, outs[i].String())
		if c {
			created++
		}
		fingerprints[fp] = true
	}
	final := fingerprint(readCert(t, filepath.Join(dir, caCertName)))
	if created != 1 || len(fingerprints) != 1 || !fingerprints[final] {
		t.Errorf("created=%d fingerprints=%v final=%s; want one CA shared by all", created, fingerprints, final)
	}
}

func parseChildResult(t *testing.T, out string) (created bool, fp string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var c bool
		if _, err := fmt.Sscanf(sc.Text(), "RESULT created=%t fingerprint=%s", &c, &fp); err == nil {
			return c, fp
		}
	}
	t.Fatalf("no result line in child output:\n%s", out)
	return false, ""
}

func TestLockTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), lockName)
	unlock, err := lockPath(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockPath(path, 50*time.Millisecond)
	if !errors.Is(err, ErrLockTimeout) || !strings.Contains(err.Error(), path) {
		t.Errorf("second lock: %v, want %v naming %s", err, ErrLockTimeout, path)
	}
	unlock()
	unlock2, err := lockPath(path, time.Second)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	unlock2()
}
