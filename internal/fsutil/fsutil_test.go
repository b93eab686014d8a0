package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

// watchSyncs replaces syncDir for one test. Each call is recorded and then
// answered by answer (the real SyncDir when answer is nil).
func watchSyncs(t *testing.T, answer func(dir string) error) func() []string {
	t.Helper()
	var synced []string
	syncDir = func(dir string) error {
		synced = append(synced, dir)
		if answer != nil {
			return answer(dir)
		}
		return SyncDir(dir)
	}
	t.Cleanup(func() { syncDir = SyncDir })
	return func() []string { return synced }
}

// entries lists the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileAtomicReplacesAndSyncsAfterRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	var seen string
	synced := watchSyncs(t, func(d string) error {
		data, _ := os.ReadFile(path)
		seen = string(data)
		return SyncDir(d)
	})
	if err := WriteFileAtomic(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := synced(); !slices.Equal(got, []string{dir}) {
		t.Errorf("synced %q, want the file's directory once", got)
	}
	if seen != "new" {
		t.Errorf("the directory was synced while the file held %q: the sync must follow the rename", seen)
	}
	data, err := os.ReadFile(path)
	if err != nil || string(data) != "new" {
		t.Fatalf("file = %q, %v", data, err)
	}
	if runtime.GOOS != "windows" {
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", fi.Mode().Perm())
		}
	}
	if got := entries(t, dir); !slices.Equal(got, []string{"keys.json"}) {
		t.Errorf("directory holds %q, want only the file", got)
	}
}

func TestWriteFileAtomicFailureLeavesTargetAlone(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	// A non-empty directory cannot be replaced by a rename.
	if err := os.MkdirAll(filepath.Join(target, "inside"), 0o700); err != nil {
		t.Fatal(err)
	}
	synced := watchSyncs(t, nil)
	err := WriteFileAtomic(target, []byte("x"), 0o600)
	if err == nil || errors.Is(err, ErrNotDurable) {
		t.Fatalf("WriteFileAtomic over a directory = %v, want a plain failure", err)
	}
	var le *os.LinkError
	if !errors.As(err, &le) {
		t.Errorf("error %v does not keep the rename's *os.LinkError", err)
	}
	if len(synced()) != 0 {
		t.Errorf("synced %q after a failed write", synced())
	}
	if got := entries(t, dir); !slices.Equal(got, []string{"target"}) {
		t.Errorf("directory holds %q: the temporary file was not removed", got)
	}
}

func TestWriteFileAtomicReportsFailedSync(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cert.pem")
	broken := errors.New("device gone")
	watchSyncs(t, func(string) error { return broken })
	err := WriteFileAtomic(path, []byte("pem"), 0o600)
	if !errors.Is(err, ErrNotDurable) || !errors.Is(err, broken) {
		t.Fatalf("WriteFileAtomic with a failing sync = %v, want ErrNotDurable wrapping the cause", err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "pem" {
		t.Errorf("file = %q, %v; ErrNotDurable promises it is in place", data, err)
	}
}

func TestTempPrefix(t *testing.T) {
	if got := TempPrefix(filepath.Join("data", "tls", "ca.pem")); got != ".ca.pem.tmp-" {
		t.Errorf("TempPrefix = %q, want %q", got, ".ca.pem.tmp-")
	}
}

func TestMkdirAllSyncsEveryNewEntry(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data", "tls", "leaf")
	synced := watchSyncs(t, nil)
	if err := MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	want := []string{root, filepath.Join(root, "data"), filepath.Join(root, "data", "tls")}
	if got := synced(); !slices.Equal(got, want) {
		t.Errorf("synced %q, want %q (the parent of each new directory)", got, want)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("Stat(%s) = %v, %v", dir, fi, err)
	}
	if runtime.GOOS != "windows" {
		for _, d := range want[1:] {
			if fi, _ := os.Stat(d); fi.Mode().Perm() != 0o700 {
				t.Errorf("%s: mode %v, want 0700", d, fi.Mode().Perm())
			}
		}
	}
	before := len(synced())
	if err := MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := synced()[before:]; len(got) != 0 {
		t.Errorf("an existing directory caused syncs of %q", got)
	}
}

func TestMkdirAllReportsFailedSync(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	watchSyncs(t, func(string) error { return fs.ErrPermission })
	err := MkdirAll(dir, 0o700)
	if !errors.Is(err, ErrNotDurable) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("MkdirAll with a failing sync = %v, want ErrNotDurable wrapping the cause", err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("directory missing after ErrNotDurable: %v", err)
	}
}

func TestMkdirAllUnderAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	synced := watchSyncs(t, nil)
	err := MkdirAll(filepath.Join(file, "sub"), 0o700)
	if err == nil || errors.Is(err, ErrNotDurable) {
		t.Fatalf("MkdirAll under a file = %v, want a plain failure", err)
	}
	if len(synced()) != 0 {
		t.Errorf("synced %q after a failed MkdirAll", synced())
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Errorf("SyncDir of a directory: %v", err)
	}
	if runtime.GOOS == "windows" {
		return
	}
	if err := SyncDir(filepath.Join(t.TempDir(), "absent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncDir of a missing directory = %v, want ErrNotExist", err)
	}
}
