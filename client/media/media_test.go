package media

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// The clips are made by testdata/make-clips.sh at the repository root.
const clips = "../../testdata/"

func openReader(t *testing.T, name string) Reader {
	t.Helper()
	data, err := os.ReadFile(clips + name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bufio.NewReader(bytes.NewReader(data)), 0)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

func readAll(t *testing.T, r Reader) []Frame {
	t.Helper()
	var out []Frame
	for {
		f, err := r.ReadFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
}

func TestReadersOnClips(t *testing.T) {
	tests := []struct {
		name      string
		mimeType  string
		frames    int
		keyFrames []int // indices of the key frames
		step      time.Duration
	}{
		{"clip.ivf", webrtc.MimeTypeVP8, 90, []int{0, 30, 60}, time.Second / 30},
		{"clip-vp9.ivf", webrtc.MimeTypeVP9, 90, []int{0, 30, 60}, time.Second / 30},
		{"clip.h264", webrtc.MimeTypeH264, 90, []int{0, 30, 60}, time.Second / 30},
		{"clip.ogg", webrtc.MimeTypeOpus, 151, nil, 20 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := openReader(t, tc.name)
			if r.MimeType() != tc.mimeType {
				t.Fatalf("MimeType %q, want %q", r.MimeType(), tc.mimeType)
			}
			frames := readAll(t, r)
			if len(frames) != tc.frames {
				t.Fatalf("%d frames, want %d", len(frames), tc.frames)
			}
			var keys []int
			for i, f := range frames {
				if !near(f.Duration, tc.step) || !near(f.Timestamp, time.Duration(i)*tc.step) || len(f.Data) == 0 {
					t.Fatalf("frame %d: timestamp %v, duration %v, %d bytes", i, f.Timestamp, f.Duration, len(f.Data))
				}
				if f.KeyFrame && IsVideo(tc.mimeType) {
					keys = append(keys, i)
				}
			}
			if IsVideo(tc.mimeType) && !slices.Equal(keys, tc.keyFrames) {
				t.Fatalf("key frames at %v, want %v", keys, tc.keyFrames)
			}
		})
	}
}

// near reports whether two times differ by less than a millisecond
// (IVF time bases round).
func near(a, b time.Duration) bool { return (a - b).Abs() < time.Millisecond }

func TestH264AccessUnits(t *testing.T) {
	frames := readAll(t, openReader(t, "clip.h264"))
	// Every key frame carries its parameter sets (the clip repeats them),
	// and every frame holds exactly one picture's slice.
	for i, f := range frames {
		var types []byte
		forEachNAL(f.Data, func(nal []byte) bool { types = append(types, nal[0]&0x1f); return true })
		slices := 0
		for _, typ := range types {
			if typ == nalSlice || typ == nalIDR {
				slices++
			}
		}
		if slices != 1 {
			t.Fatalf("frame %d has NAL types %v", i, types)
		}
		if f.KeyFrame && (types[0] != nalSPS && types[0] != nalSEI) {
			t.Fatalf("key frame %d starts with NAL type %d", i, types[0])
		}
	}
}

func TestIVFWriterRoundTrip(t *testing.T) {
	for _, name := range []string{"clip.ivf", "clip-vp9.ivf"} {
		src := readAll(t, openReader(t, name))
		path := filepath.Join(t.TempDir(), "out.ivf")
		w, err := CreateFile(path, openReader(t, name).MimeType())
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range src[5:] { // starts mid-GOP: the writer waits for frame 30
			if err := w.WriteFrame(f); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		if len(data) < 32 {
			t.Fatalf("%s: %d bytes written", name, len(data))
		}
		if n := int(data[24]) | int(data[25])<<8; n != 60 {
			t.Fatalf("%s: header counts %d frames, want 60", name, n)
		}
		got := readAll(t, mustReader(t, data))
		if len(got) != 60 {
			t.Fatalf("%s: read back %d frames, want 60", name, len(got))
		}
		for i, f := range got {
			want := src[30+i]
			if !bytes.Equal(f.Data, want.Data) || !near(f.Timestamp, want.Timestamp-src[30].Timestamp) {
				t.Fatalf("%s: frame %d differs (timestamp %v)", name, i, f.Timestamp)
			}
		}
	}
}

func mustReader(t *testing.T, data []byte) Reader {
	t.Helper()
	r, err := NewReader(bufio.NewReader(bytes.NewReader(data)), 0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestIVFWriterPictureSize(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewIVFWriter(&buf, webrtc.MimeTypeVP8)
	first := readAll(t, openReader(t, "clip.ivf"))[0]
	if err := w.WriteFrame(first); err != nil {
		t.Fatal(err)
	}
	h := buf.Bytes()
	if width, height := int(h[12])|int(h[13])<<8, int(h[14])|int(h[15])<<8; width != 320 || height != 240 {
		t.Fatalf("size %dx%d, want 320x240", width, height)
	}
}

func TestH264WriterRoundTrip(t *testing.T) {
	src := readAll(t, openReader(t, "clip.h264"))
	var buf bytes.Buffer
	w := NewH264Writer(&buf)
	for _, f := range src {
		if err := w.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	got := readAll(t, mustReader(t, buf.Bytes()))
	if len(got) != len(src) {
		t.Fatalf("%d frames read back, want %d", len(got), len(src))
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, src[i].Data) {
			t.Fatalf("frame %d differs", i)
		}
	}
}

func TestCreateFileRefusals(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file, mimeType string
		want                 error
	}{
		{"H.264 into IVF", "a.ivf", webrtc.MimeTypeH264, ErrCodecMismatch},
		{"VP8 into H.264", "a.h264", webrtc.MimeTypeVP8, ErrCodecMismatch},
		{"unknown extension", "a.mp4", webrtc.MimeTypeVP8, ErrUnsupportedFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CreateFile(filepath.Join(dir, tc.file), tc.mimeType)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if _, statErr := os.Stat(filepath.Join(dir, tc.file)); statErr == nil {
				t.Fatal("the file was created anyway")
			}
		})
	}
}

func TestNewReaderRefusesOtherFormats(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("RIFF1234WAVE"), []byte("OggS\x00\x02garbage")} {
		r, err := NewReader(bufio.NewReader(bytes.NewReader(data)), 0)
		if err == nil {
			_, err = r.ReadFrame()
		}
		if err == nil {
			t.Fatalf("%q: accepted", data)
		}
	}
}

func TestIsKeyFrame(t *testing.T) {
	tests := []struct {
		name     string
		mimeType string
		data     []byte
		want     bool
	}{
		{"VP8 key", webrtc.MimeTypeVP8, []byte{0x10, 0x02, 0x00}, true},
		{"VP8 inter", webrtc.MimeTypeVP8, []byte{0x11, 0x02, 0x00}, false},
		{"VP9 profile 0 key", webrtc.MimeTypeVP9, []byte{0b10_00_0_0_00}, true},
		{"VP9 profile 0 inter", webrtc.MimeTypeVP9, []byte{0b10_00_0_1_00}, false},
		{"VP9 show existing", webrtc.MimeTypeVP9, []byte{0b10_00_1_0_00}, false},
		{"VP9 profile 3 key", webrtc.MimeTypeVP9, []byte{0b10_11_0_0_0_0}, true},
		{"VP9 profile 3 inter", webrtc.MimeTypeVP9, []byte{0b10_11_0_0_1_0}, false},
		{"VP9 bad marker", webrtc.MimeTypeVP9, []byte{0x00}, false},
		{"H.264 IDR", webrtc.MimeTypeH264, []byte{0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x65, 0x88}, true},
		{"H.264 P", webrtc.MimeTypeH264, []byte{0, 0, 0, 1, 0x41, 0x9a}, false},
		{"Opus", webrtc.MimeTypeOpus, []byte{0xfc}, true},
		{"empty VP8", webrtc.MimeTypeVP8, nil, false},
	}
	for _, tc := range tests {
		if got := IsKeyFrame(tc.mimeType, tc.data); got != tc.want {
			t.Errorf("%s: IsKeyFrame = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestOpusPacketDuration(t *testing.T) {
	tests := []struct {
		toc  []byte
		want time.Duration
	}{
		{[]byte{0xfc}, 20 * time.Millisecond},       // CELT FB 20 ms, one frame
		{[]byte{0xfd}, 40 * time.Millisecond},       // two frames
		{[]byte{0xff, 0x03}, 60 * time.Millisecond}, // code 3, three frames
		{[]byte{0x80}, 2500 * time.Microsecond},     // CELT NB 2.5 ms
		{[]byte{0x18}, 60 * time.Millisecond},       // SILK NB 60 ms
		{[]byte{0x68}, 20 * time.Millisecond},       // hybrid SWB 20 ms (config 13)
		{nil, 0},
	}
	for _, tc := range tests {
		if got := opusPacketDuration(tc.toc); got != tc.want {
			t.Errorf("TOC %x: %v, want %v", tc.toc, got, tc.want)
		}
	}
}

// shortIVF is a three-frame VP8 IVF file, 10 ms per frame.
func shortIVF(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "short.ivf")
	f, _ := os.Create(path)
	w, _ := NewIVFWriter(f, webrtc.MimeTypeVP8)
	for i := range 3 {
		tag := byte(0x01) // inter frame
		if i == 0 {
			tag = 0x00
		}
		if err := w.WriteFrame(Frame{Data: []byte{tag, byte(i)}, Timestamp: time.Duration(i) * 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFileSourceLoopsInRealTime(t *testing.T) {
	src, err := OpenFile(shortIVF(t), FileOptions{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []Frame
	start := time.Now()
	err = src.Stream(ctx, func(f Frame) error {
		got = append(got, f)
		if len(got) == 10 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if len(got) != 10 || elapsed < 85*time.Millisecond {
		t.Fatalf("%d frames in %v; want 10 paced over 90 ms", len(got), elapsed)
	}
	for i, f := range got {
		if f.Timestamp != time.Duration(i)*10*time.Millisecond || f.Data[1] != byte(i%3) || f.KeyFrame != (i%3 == 0) {
			t.Fatalf("frame %d: timestamp %v, data %x, key %v", i, f.Timestamp, f.Data, f.KeyFrame)
		}
	}
}

func TestFileSourceWithoutLoopEnds(t *testing.T) {
	src, err := OpenFile(shortIVF(t), FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	n := 0
	if err := src.Stream(context.Background(), func(Frame) error { n++; return nil }); err != nil || n != 3 {
		t.Fatalf("Stream: %v after %d frames, want nil after 3", err, n)
	}
	boom := errors.New("boom")
	if err := src.Stream(context.Background(), func(Frame) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Stream returned %v, want the send error", err)
	}
}

func TestOpenFileRefusals(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.ivf")
	header := make([]byte, 32)
	copy(header, "DKIF")
	copy(header[8:], "VP80")
	header[16], header[20] = 30, 1
	os.WriteFile(empty, header, 0o644)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello"), 0o644)
	for path, want := range map[string]error{empty: ErrEmptyStream, text: ErrUnsupportedFormat, filepath.Join(dir, "none"): os.ErrNotExist} {
		if _, err := OpenFile(path, FileOptions{}); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", filepath.Base(path), err, want)
		}
	}
}

// TestGateKeepsTimestampsMonotonic: a viewer that replaces its
// PeerConnection hands over a stream whose clock restarts at zero; the
// file must not get negative (wrapped) or backward timestamps.
func TestGateKeepsTimestampsMonotonic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rejoin.ivf")
	w, err := CreateFile(path, webrtc.MimeTypeVP8)
	if err != nil {
		t.Fatal(err)
	}
	const step = 40 * time.Millisecond
	in := []time.Duration{
		500 * time.Millisecond, 540 * time.Millisecond, 580 * time.Millisecond, // first PeerConnection
		0, step, 2 * step, // the second one starts again at 0
	}
	for i, ts := range in {
		tag := byte(0x01)
		if i%3 == 0 {
			tag = 0x00 // each stream starts with a key frame
		}
		if err := w.WriteFrame(Frame{Data: []byte{tag, byte(i)}, Timestamp: ts, Duration: step}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Read the raw stored timestamps: the reader would hide a wrapped one.
	var got []uint64
	for off := ivfFileHeaderSize; off+ivfFrameHeaderSize <= len(data); {
		size := int(binary.LittleEndian.Uint32(data[off:]))
		got = append(got, binary.LittleEndian.Uint64(data[off+4:]))
		off += ivfFrameHeaderSize + size
	}
	if want := []uint64{0, 40, 80, 120, 160, 200}; !slices.Equal(got, want) {
		t.Fatalf("stored timestamps %v ms, want %v", got, want)
	}
}

func TestIVFWriterRefusesNegativeTimestamps(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewIVFWriter(&buf, webrtc.MimeTypeVP8)
	if err := w.WriteFrame(Frame{Data: []byte{0x00, 1}, Timestamp: -time.Millisecond}); err == nil {
		t.Fatal("a negative timestamp was accepted")
	}
	if buf.Len() != 0 || w.Frames() != 0 {
		t.Fatalf("%d bytes, %d frames written for a refused frame", buf.Len(), w.Frames())
	}
	if err := w.WriteFrame(Frame{Data: []byte{0x00, 1}}); err != nil || w.Frames() != 1 {
		t.Fatalf("a frame at 0 after the refusal: %v, %d frames", err, w.Frames())
	}
}

// failingReader returns data, then err instead of io.EOF.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestOggReaderPassesReadErrors: only a truncated file is the end of the
// stream; a failing read must reach the caller.
func TestOggReaderPassesReadErrors(t *testing.T) {
	data, err := os.ReadFile(clips + "clip.ogg")
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk on fire")
	// Cuts fall in page headers, segment tables and bodies alike.
	for cut := len(data) / 4; cut < len(data); cut += 331 {
		r, err := NewOggReader(&failingReader{data: data[:cut], err: boom})
		if err != nil {
			t.Fatal(err)
		}
		for err == nil {
			_, err = r.ReadFrame()
		}
		if !errors.Is(err, boom) {
			t.Fatalf("cut at %d: ReadFrame ended with %v, want the read error", cut, err)
		}
	}
	// A file that just stops is the end of the stream.
	r, err := NewOggReader(bytes.NewReader(data[:len(data)-7]))
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = r.ReadFrame()
	}
	if err != io.EOF {
		t.Fatalf("truncated file ended with %v, want io.EOF", err)
	}
}

// ivfFileWithFrame is an IVF header followed by one frame header that
// claims size bytes and the data given.
func ivfFileWithFrame(size uint32, data []byte) []byte {
	b := make([]byte, ivfFileHeaderSize+ivfFrameHeaderSize)
	copy(b, ivfSignature)
	binary.LittleEndian.PutUint16(b[6:], ivfFileHeaderSize)
	copy(b[8:], "VP80")
	binary.LittleEndian.PutUint32(b[16:], 1000)
	binary.LittleEndian.PutUint32(b[20:], 1)
	binary.LittleEndian.PutUint32(b[ivfFileHeaderSize:], size)
	return append(b, data...)
}

// TestIVFReaderTrustsNoSize: a frame header that claims 64 MiB in front of
// a few bytes must not cost 64 MiB.
func TestIVFReaderTrustsNoSize(t *testing.T) {
	file := ivfFileWithFrame(maxFrameSize, []byte{0x00, 1, 2, 3})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, err := NewIVFReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadFrame(); err != io.EOF {
		t.Fatalf("ReadFrame: %v, want io.EOF for the truncated frame", err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Fatalf("allocated %d bytes for a 4-byte frame", n)
	}
	r, err = NewIVFReader(bytes.NewReader(ivfFileWithFrame(maxFrameSize+1, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadFrame(); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("ReadFrame of an oversized frame: %v, want an error", err)
	}
}

// TestIVFReaderLargeFrame: a frame larger than the first read chunk comes
// back whole.
func TestIVFReaderLargeFrame(t *testing.T) {
	data := make([]byte, 3*readChunk+17)
	for i := range data {
		data[i] = byte(i * 7)
	}
	data[0] = 0x00 // VP8 key frame
	r, err := NewIVFReader(bytes.NewReader(ivfFileWithFrame(uint32(len(data)), data)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := r.ReadFrame()
	if err != nil || !bytes.Equal(f.Data, data) || !f.KeyFrame {
		t.Fatalf("ReadFrame: %v, %d bytes, key %v", err, len(f.Data), f.KeyFrame)
	}
}

// TestH264ReaderBoundsAccessUnits: NAL units that never reach a picture
// are not buffered without end.
func TestH264ReaderBoundsAccessUnits(t *testing.T) {
	sei := append([]byte{0, 0, 0, 1, 0x06}, bytes.Repeat([]byte{0x05}, 100)...)
	stream := bytes.Repeat(sei, 50)
	r, err := NewH264Reader(bytes.NewReader(stream), 0)
	if err != nil {
		t.Fatal(err)
	}
	r.in.max = 1000
	if _, err := r.ReadFrame(); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("ReadFrame: %v, want an error about the access unit size", err)
	}
	if _, err := r.ReadFrame(); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("second ReadFrame: %v, want the error again", err)
	}
	// Real access units stay below the bound.
	frames := readAll(t, openReader(t, "clip.h264"))
	if len(frames) != 90 {
		t.Fatalf("clip: %d frames", len(frames))
	}
}

// TestFileSourceConcurrentStreams: Streams of one source each read the
// whole file, in order, however they interleave.
func TestFileSourceConcurrentStreams(t *testing.T) {
	src, err := OpenFile(shortIVF(t), FileOptions{Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	const streams, frames = 4, 7
	errs := make(chan error, streams)
	for range streams {
		go func() {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			n := 0
			err := src.Stream(ctx, func(f Frame) error {
				if len(f.Data) != 2 || f.Data[1] != byte(n%3) {
					return fmt.Errorf("frame %d holds %x", n, f.Data)
				}
				if n++; n == frames {
					cancel()
				}
				return nil
			})
			if err == nil && n != frames {
				err = fmt.Errorf("%d frames, want %d", n, frames)
			}
			errs <- err
		}()
	}
	for range streams {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// endlessReader returns its head, then fill bytes, counting what it
// hands out; it stops, with errReadTooFar, once it has handed out limit
// bytes, so that a reader that does not stop by itself ends all the same.
type endlessReader struct {
	head  []byte
	fill  byte
	read  int
	limit int
}

var errReadTooFar = errors.New("read too far")

func (r *endlessReader) Read(p []byte) (int, error) {
	if r.read >= r.limit {
		return 0, errReadTooFar
	}
	p = p[:min(len(p), r.limit-r.read)]
	n := copy(p, r.head)
	r.head = r.head[n:]
	for i := n; i < len(p); i++ {
		p[i] = r.fill
	}
	r.read += len(p)
	return len(p), nil
}

// TestH264ReaderBoundsNALUnits: one NAL unit that never ends (a start
// code, then bytes without another) is not buffered without end either,
// which a live stream could otherwise make the reader do until memory
// runs out.
func TestH264ReaderBoundsNALUnits(t *testing.T) {
	in := &endlessReader{head: []byte{0, 0, 0, 1, 0x65, 0x88}, fill: 0xff, limit: 4 << 20}
	r, err := NewH264Reader(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	r.in.max = 1000
	if _, err := r.ReadFrame(); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("ReadFrame: %v, want an error about the size", err)
	}
	if in.read > 64<<10 {
		t.Fatalf("read %d bytes of one NAL unit for a bound of 1000", in.read)
	}
	if _, err := r.ReadFrame(); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("second ReadFrame: %v, want the error again", err)
	}
}

// TestH264ReaderPassesReadErrors: a read that fails is an error, not the
// end of the stream (pion's reader takes any error for the end).
func TestH264ReaderPassesReadErrors(t *testing.T) {
	data, err := os.ReadFile(clips + "clip.h264")
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk on fire")
	r, err := NewH264Reader(&failingReader{data: data[:len(data)/2], err: boom}, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for err == nil {
		_, err = r.ReadFrame()
		n++
	}
	if !errors.Is(err, boom) {
		t.Fatalf("ReadFrame ended with %v after %d frames, want the read error", err, n)
	}
	if _, err := r.ReadFrame(); !errors.Is(err, boom) {
		t.Fatalf("ReadFrame after the error: %v, want it again", err)
	}
}
