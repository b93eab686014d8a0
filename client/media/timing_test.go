package media

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Tests of the timing the readers and FileSource produce from nonsense
// frame rates and malformed IVF files: it must stay positive, finite and
// paced, never a flood of frames.

// writeIVF writes a VP8 IVF file whose time base is num/den seconds and
// whose frames carry the given timestamps, one byte each.
func writeIVF(t *testing.T, num, den uint32, pts []uint64) string {
	t.Helper()
	var h [ivfFileHeaderSize]byte
	copy(h[:], ivfSignature)
	binary.LittleEndian.PutUint16(h[6:], ivfFileHeaderSize)
	copy(h[8:], "VP80")
	binary.LittleEndian.PutUint32(h[16:], den) // the rate
	binary.LittleEndian.PutUint32(h[20:], num) // the scale
	file := h[:]
	for _, p := range pts {
		var fh [ivfFrameHeaderSize]byte
		binary.LittleEndian.PutUint32(fh[0:], 1)
		binary.LittleEndian.PutUint64(fh[4:], p)
		file = append(append(file, fh[:]...), 0x10)
	}
	path := filepath.Join(t.TempDir(), "test.ivf")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// readFile reads all the frames of a file with the package's detection.
func readFile(t *testing.T, path string, frameRate float64) []Frame {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bufio.NewReader(bytes.NewReader(data)), frameRate)
	if err != nil {
		t.Fatal(err)
	}
	return readAll(t, r)
}

// streamFor plays path for d and returns the frames sent and the time
// Stream took.
func streamFor(t *testing.T, path string, opts FileOptions, d time.Duration) ([]Frame, time.Duration) {
	t.Helper()
	src, err := OpenFile(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var got []Frame
	start := time.Now()
	err = src.Stream(ctx, func(f Frame) error { got = append(got, f); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return got, time.Since(start)
}

func TestH264FrameRateOutOfRange(t *testing.T) {
	def := frameInterval(DefaultFrameRate)
	tests := []struct {
		fps  float64
		want time.Duration
	}{
		{0, def},
		{-5, def},
		{math.NaN(), def},
		{math.Inf(1), def},
		{math.Inf(-1), def},
		{1e12, minFrameDuration},
		{1e-300, maxStreamTime},
		{25, 40 * time.Millisecond},
		{1000, time.Millisecond},
	}
	for _, tc := range tests {
		frames := readFile(t, clips+"clip.h264", tc.fps)
		var last time.Duration
		for i, f := range frames {
			if f.Duration != tc.want {
				t.Fatalf("fps %v: frame %d lasts %v, want %v", tc.fps, i, f.Duration, tc.want)
			}
			if f.Timestamp < last {
				t.Fatalf("fps %v: frame %d at %v, before the previous one at %v", tc.fps, i, f.Timestamp, last)
			}
			last = f.Timestamp
		}
		if frames[1].Timestamp != tc.want {
			t.Errorf("fps %v: second frame at %v, want %v", tc.fps, frames[1].Timestamp, tc.want)
		}
	}
}

func TestFileSourceH264FrameRateOutOfRangeIsPaced(t *testing.T) {
	for _, fps := range []float64{math.Inf(1), math.NaN(), 1e-300, 1e12} {
		got, elapsed := streamFor(t, clips+"clip.h264", FileOptions{Loop: true, FrameRate: fps}, 150*time.Millisecond)
		if limit := int(elapsed/time.Millisecond) + 20; len(got) > limit {
			t.Errorf("fps %v: %d frames sent in %v, want at most %d", fps, len(got), elapsed, limit)
		}
	}
}

// A time base of 1/4294967295 s rounds one step down to 0 ns.
func TestIVFFramesLastAtLeastAMillisecond(t *testing.T) {
	for name, pts := range map[string][]uint64{"one frame": {0}, "standing still": {7, 7, 7}, "one step apart": {0, 1, 2}} {
		for i, f := range readFile(t, writeIVF(t, 1, math.MaxUint32, pts), 0) {
			if f.Duration < minFrameDuration {
				t.Errorf("%s: frame %d lasts %v, want at least %v", name, i, f.Duration, minFrameDuration)
			}
		}
	}
}

func TestIVFTimestampsDoNotOverflow(t *testing.T) {
	tests := []struct {
		name     string
		num, den uint32
		pts      uint64
		want     time.Duration
	}{
		// n*num*1e9 overflows 64 bits, yet the time fits (about 1.1 years).
		{"microseconds", 1, 1_000_000, 1 << 45, (1 << 45) * time.Microsecond},
		{"fine time base", 1, 90_000, 90_000 * 3600 * 24 * 365, 365 * 24 * time.Hour},
		// Longer than maxStreamTime: capped, not wrapped.
		{"centuries", 1, 30, 1 << 40, maxStreamTime},
		{"largest", math.MaxUint32, 1, math.MaxUint64, maxStreamTime},
	}
	for _, tc := range tests {
		frames := readFile(t, writeIVF(t, tc.num, tc.den, []uint64{0, tc.pts}), 0)
		if got := frames[1].Timestamp; got != tc.want {
			t.Errorf("%s: pts %d at %d/%d s is %v, want %v", tc.name, tc.pts, tc.num, tc.den, got, tc.want)
		}
		if d := frames[0].Duration; d != tc.want {
			t.Errorf("%s: first frame lasts %v, want %v", tc.name, d, tc.want)
		}
	}
}

func TestIVFTimestampsStartAtFirstFrame(t *testing.T) {
	const first = 1_000_000 // 1000 s at 1/1000
	path := writeIVF(t, 1, 1000, []uint64{first, first + 40, first + 80, first - 5})
	want := []time.Duration{0, 40 * time.Millisecond, 80 * time.Millisecond, 0}
	frames := readFile(t, path, 0)
	for i, f := range frames {
		if f.Timestamp != want[i] {
			t.Errorf("frame %d at %v, want %v", i, f.Timestamp, want[i])
		}
	}
	// Played, the file starts at once rather than after 1000 s.
	got, elapsed := streamFor(t, path, FileOptions{}, 5*time.Second)
	if len(got) != 4 || elapsed > 2*time.Second {
		t.Fatalf("%d frames played in %v, want 4 in about 80 ms", len(got), elapsed)
	}
}

// Timestamps that stand still or run backwards must not make FileSource
// send frames in a burst, or resend the file in a busy loop.
func TestFileSourceKeepsItsClockMoving(t *testing.T) {
	still := make([]uint64, 200) // 200 frames, all at pts 0
	tests := map[string]string{
		"standing still": writeIVF(t, 1, 30, still),
		"backwards":      writeIVF(t, 1, 30, []uint64{90, 60, 30, 0}),
		"one tiny frame": writeIVF(t, 1, math.MaxUint32, []uint64{0}),
	}
	for name, path := range tests {
		t.Run(name, func(t *testing.T) {
			got, elapsed := streamFor(t, path, FileOptions{Loop: true}, 150*time.Millisecond)
			if limit := int(elapsed/time.Millisecond) + 20; len(got) > limit {
				t.Errorf("%d frames sent in %v, want at most %d", len(got), elapsed, limit)
			}
			for i := 1; i < len(got); i++ {
				if step := got[i].Timestamp - got[i-1].Timestamp; step < minFrameDuration {
					t.Fatalf("frame %d is %v after the previous one, want at least %v", i, step, minFrameDuration)
				}
			}
		})
	}
}
