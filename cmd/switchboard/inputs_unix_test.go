//go:build unix

package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// An explicit --loop with live input only is refused before anything is
// read: it could only be a misunderstanding. Left at its default, or with
// a file to loop, it is not (those cases read the inputs, and are run by
// the end-to-end tests).
func TestMasterRefusesLoopWithLiveInputOnly(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "camera")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--loop", "--video", "-"},
		{"--loop=true", "--audio", "-"},
		{"--loop", "--video", fifo},
		{"--loop", "--video", "-", "--audio", fifo},
	} {
		code, stderr := runPeer(peerArgs(t, "master", args...))
		if code != exitUsage || !strings.Contains(stderr, "--loop: live input (") || !strings.Contains(stderr, "cannot loop") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and --loop refused", args, code, stderr, exitUsage)
		}
	}
}

func TestIsLive(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"-": true, fifo: true, "/dev/null": true,
		"../../testdata/clip.ivf": false, dir: false, filepath.Join(dir, "missing.ivf"): false,
	} {
		if got := isLive(name); got != want {
			t.Errorf("isLive(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestOpenSourcesFIFOsInEitherOrder: an encoder writing video and audio
// to two FIFOs may open the audio one first; the master opens both at
// once, so that neither waits for the other.
func TestOpenSourcesFIFOsInEitherOrder(t *testing.T) {
	dir := t.TempDir()
	f := masterFlags{video: filepath.Join(dir, "video"), audio: filepath.Join(dir, "audio"), fps: 30, loop: true}
	for _, fifo := range []string{f.video, f.audio} {
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	written := make(chan error, 1)
	go func() {
		var err error
		for _, w := range []struct{ fifo, clip string }{{f.audio, "clip.ogg"}, {f.video, "clip.ivf"}} {
			err = errors.Join(err, writeFIFO(w.fifo, "../../testdata/"+w.clip))
		}
		written <- err
	}()
	var out bytes.Buffer
	video, audio, err := f.openSources(&printer{w: &out}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer video.close()
	defer audio.close()
	if video.live == nil || video.src.MimeType() != "video/VP8" || audio.live == nil || audio.src.MimeType() != "audio/opus" {
		t.Fatalf("opened %s and %s", video.describe(f.loop), audio.describe(f.loop))
	}
	if got, want := describeSources(video, audio, f.loop), "; streaming video/VP8 live from "+f.video+" and audio/opus live from "+f.audio; got != want {
		t.Errorf("described as %q, want %q", got, want)
	}
	if !strings.Contains(out.String(), "waiting for live video on "+f.video) {
		t.Errorf("printed %q", out.String())
	}
	video.close()
	audio.close()
	if err := <-written; err != nil && !errors.Is(err, syscall.EPIPE) {
		t.Fatal(err)
	}
}

// writeFIFO opens fifo for writing, which waits for a reader, and writes
// the file into it.
func writeFIFO(fifo, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return errors.Join(err, w.Close())
}
