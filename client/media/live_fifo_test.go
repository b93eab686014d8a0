//go:build unix

package media

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOpenLiveFIFO: OpenLive reads a FIFO as an encoder writes it, and
// Close closes the FIFO, ending the Read that waits for more, so that the
// writer then finds nobody reading.
func TestOpenLiveFIFO(t *testing.T) {
	data, err := os.ReadFile(clips + "clip.ivf")
	if err != nil {
		t.Fatal(err)
	}
	// The clip up to frame 34 included: a Stream gets frames 30 to 33 (the
	// IVF reader reads a frame ahead) and the source then waits for more.
	end := ivfFileHeaderSize
	for range 35 {
		end += ivfFrameHeaderSize + int(binary.LittleEndian.Uint32(data[end:]))
	}
	fifo := filepath.Join(t.TempDir(), "camera")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	writer := make(chan *os.File, 1)
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			close(writer)
			return
		}
		if _, err := w.Write(data[:end]); err != nil {
			t.Error(err)
		}
		writer <- w
	}()
	src, err := OpenLive(fifo, LiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := <-writer
	if w == nil {
		t.FailNow()
	}
	defer w.Close()
	var rec recorder
	done := startStream(t.Context(), src, &rec)
	waitUntil(t, "frame 33", func() bool { n := len(rec.got()); return n == 4 || n == 34 })
	waitUntil(t, "the source to wait for more input", readBlocked)
	if err := src.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := result(t, done); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Stream returned %v, want os.ErrClosed", err)
	}
	if got := rec.got(); !got[0].KeyFrame {
		t.Fatal("the first frame sent is no key frame")
	}
	if _, err := w.Write(data[end:]); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("writing after Close: %v, want EPIPE (the FIFO closed)", err)
	}
	checkNoLiveGoroutines(t)
}
