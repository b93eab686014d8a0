package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/switchboard-rtc/switchboard/client/media"
)

// TestRecorderSkipsOtherCodecs: a master that comes back with another
// codec must not have its frames written into the file of the first.
func TestRecorderSkipsOtherCodecs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.ivf")
	var warnings []string
	var failure error
	rec := &recorder{
		path: path, done: func() {}, fail: func(err error) { failure = err },
		warn: func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) },
	}
	vp8 := func(key bool, ts time.Duration) media.Frame {
		tag := byte(0x01)
		if key {
			tag = 0x00
		}
		return media.Frame{Data: []byte{tag, 0x02, 0x00}, Timestamp: ts, KeyFrame: key}
	}
	vp9Key := media.Frame{Data: []byte{0x80}, KeyFrame: true}
	rec.frame(webrtc.MimeTypeVP8, vp8(true, 0))
	rec.frame(webrtc.MimeTypeVP8, vp8(false, 40*time.Millisecond))
	rec.frame(webrtc.MimeTypeVP9, vp9Key)
	rec.frame(webrtc.MimeTypeVP9, vp9Key)
	rec.frame("audio/opus", media.Frame{Data: []byte{0xfc}, KeyFrame: true})
	rec.frame(webrtc.MimeTypeVP8, vp8(true, 0)) // a new PeerConnection: the clock restarts
	if err := rec.close(); err != nil || failure != nil {
		t.Fatalf("close: %v; failure: %v", err, failure)
	}
	if n := rec.saved(); n != 3 {
		t.Fatalf("saved %d frames, want 3", n)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], webrtc.MimeTypeVP9) {
		t.Fatalf("warnings %q, want one about VP9", warnings)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := media.NewIVFReader(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	var stamps []time.Duration
	for {
		f, err := src.ReadFrame()
		if err != nil {
			break
		}
		if len(f.Data) != 3 {
			t.Fatalf("a frame of %d bytes in the VP8 file", len(f.Data))
		}
		stamps = append(stamps, f.Timestamp)
	}
	if len(stamps) != 3 || stamps[2] <= stamps[1] {
		t.Fatalf("timestamps %v, want 3 increasing", stamps)
	}
}
