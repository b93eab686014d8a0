package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// Tests of LiveSource: a stream read once, through a pipe, and fanned
// out to every Stream. The input is the VP8 clip (90 frames, key frames
// at 0, 30 and 60), written as IVF into the pipe by feed, which times the
// frames step apart and writes them only as far as the test allows:
// io.Pipe's writes return once read, so the test knows how far the
// source has read.

// feed writes frames to w as an IVF stream, frame i at i*step, but only
// frames below the latest limit received (closing limits lifts it). It
// leaves w open; the returned channel gets the write error, or nil once
// every frame is written.
func feed(w io.Writer, frames []Frame, step time.Duration, limits <-chan int) <-chan error {
	done := make(chan error, 1)
	go func() {
		iw, err := NewIVFWriter(w, webrtc.MimeTypeVP8)
		limit := 0
		for i := 0; err == nil && i < len(frames); i++ {
			for i >= limit {
				l, ok := <-limits
				if limit = l; !ok {
					limit = len(frames)
				}
			}
			f := frames[i]
			f.Timestamp = time.Duration(i) * step
			err = iw.WriteFrame(f)
		}
		done <- err
	}()
	return done
}

// recorder keeps the frames a Stream sends.
type recorder struct {
	mu     sync.Mutex
	frames []Frame
}

func (r *recorder) send(f Frame) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = append(r.frames, f)
	return nil
}

func (r *recorder) got() []Frame {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Frame(nil), r.frames...)
}

// indices maps received frames back to their place in the input by their
// timestamps, after checking that they hold that frame's bytes.
func indices(t *testing.T, got, input []Frame, step time.Duration) []int {
	t.Helper()
	var out []int
	for _, f := range got {
		i := int(f.Timestamp / step)
		if f.Timestamp%step != 0 || i >= len(input) || !bytes.Equal(f.Data, input[i].Data) {
			t.Fatalf("frame at %v is not input frame %d", f.Timestamp, i)
		}
		out = append(out, i)
	}
	return out
}

// span returns the indices first, first+1, ..., last.
func span(first, last int) []int {
	var out []int
	for i := first; i <= last; i++ {
		out = append(out, i)
	}
	return out
}

// startStream runs src.Stream with rec in a goroutine; the channel gets
// its result.
func startStream(ctx context.Context, src *LiveSource, rec *recorder) <-chan error {
	done := make(chan error, 1)
	go func() { done <- src.Stream(ctx, rec.send) }()
	return done
}

// waitStreams waits until n Streams of src have joined.
func waitStreams(t *testing.T, src *LiveSource, n int) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%d streams to join", n), func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return len(src.streams) == n
	})
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// result waits for a Stream's result.
func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Stream did not return")
		return nil
	}
}

// checkNoLiveGoroutines fails if a goroutine still runs LiveSource code
// (its reading goroutine or a Stream).
func checkNoLiveGoroutines(t *testing.T) {
	t.Helper()
	var left []string
	waitUntil(t, "LiveSource goroutines to end", func() bool {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		left = nil
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "(*LiveSource).read(") || strings.Contains(g, "(*LiveSource).Stream(") {
				left = append(left, g)
			}
		}
		return len(left) == 0
	})
}

// readBlocked reports whether a LiveSource's reading goroutine waits in
// a Read of its input.
func readBlocked() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "(*LiveSource).read(") && strings.Contains(g, "bufio.(*Reader).Read(") {
			return true
		}
	}
	return false
}

// feedToEnd lets the gated writer of openGatedLive write the rest of its
// input, waits until it has, and closes the pipe: the input's end.
func feedToEnd(t *testing.T, limits chan<- int, fed <-chan error, w *io.PipeWriter) {
	t.Helper()
	close(limits)
	if err := <-fed; err != nil {
		t.Fatal(err)
	}
	w.Close()
}

// openGatedLive starts a LiveSource on input through an io.Pipe, fed
// only up to frame 2, and returns once the source waits for more.
func openGatedLive(t *testing.T, input []Frame, step time.Duration, opts LiveOptions) (*LiveSource, *io.PipeWriter, chan<- int, <-chan error) {
	t.Helper()
	r, w := io.Pipe()
	limits := make(chan int, 1)
	limits <- 2
	fed := feed(w, input, step, limits)
	src, err := NewLive(r, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); src.Close() })
	if src.MimeType() != webrtc.MimeTypeVP8 {
		t.Fatalf("MimeType %q", src.MimeType())
	}
	// Frame 0 has gone out to nobody, and frame 1 waits for frame 2 to be
	// read: a Stream that joins now starts at frame 30.
	waitUntil(t, "the source to wait for frame 2", readBlocked)
	return src, w, limits, fed
}

// TestLiveSourceFansOut: two Streams that join mid-stream get the same
// frames, from the next key frame to the end, and return nil at the end
// of the input; a Stream started after it returns at once.
func TestLiveSourceFansOut(t *testing.T) {
	const step = 5 * time.Millisecond
	input := readAll(t, openReader(t, "clip.ivf"))
	src, w, limits, fed := openGatedLive(t, input, step, LiveOptions{})
	var a, b recorder
	doneA, doneB := startStream(t.Context(), src, &a), startStream(t.Context(), src, &b)
	waitStreams(t, src, 2)
	feedToEnd(t, limits, fed, w)
	if err := result(t, doneA); err != nil {
		t.Fatalf("first Stream: %v, want nil at the end of the input", err)
	}
	if err := result(t, doneB); err != nil {
		t.Fatalf("second Stream: %v, want nil at the end of the input", err)
	}
	gotA, gotB := indices(t, a.got(), input, step), indices(t, b.got(), input, step)
	want := span(30, 89) // frame 0 went out before the Streams joined
	if fmt.Sprint(gotA) != fmt.Sprint(want) || fmt.Sprint(gotB) != fmt.Sprint(want) {
		t.Fatalf("Streams got frames\n%v\n%v\nwant %v", gotA, gotB, want)
	}
	if !a.got()[0].KeyFrame {
		t.Fatal("the first frame is not marked as a key frame")
	}

	select {
	case <-src.Done():
	default:
		t.Fatal("Done not closed at the end of the input")
	}
	start := time.Now()
	if err := src.Stream(t.Context(), func(Frame) error { return errors.New("a frame after the end") }); err != nil {
		t.Fatalf("Stream after the end: %v, want nil", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Stream after the end took %v", d)
	}
	if err := src.Err(); err != nil {
		t.Fatalf("Err: %v, want nil at the end of the input", err)
	}
	if err := src.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkNoLiveGoroutines(t)
}

// TestLiveSourceLateStreamStartsAtKeyFrame: a Stream that joins in the
// middle of a group of pictures starts at the next key frame, while one
// already running goes on without a gap.
func TestLiveSourceLateStreamStartsAtKeyFrame(t *testing.T) {
	const step = 5 * time.Millisecond
	input := readAll(t, openReader(t, "clip.ivf"))
	src, w, limits, fed := openGatedLive(t, input, step, LiveOptions{})
	var early, late recorder
	doneEarly := startStream(t.Context(), src, &early)
	waitStreams(t, src, 1)
	limits <- 41 // frames up to 40 read: up to 39 sent (IVF reads a frame ahead)
	waitUntil(t, "the early Stream to get frame 39", func() bool { return len(early.got()) == 10 })
	doneLate := startStream(t.Context(), src, &late)
	waitStreams(t, src, 2)
	feedToEnd(t, limits, fed, w)
	for _, done := range []<-chan error{doneEarly, doneLate} {
		if err := result(t, done); err != nil {
			t.Fatal(err)
		}
	}
	if got := indices(t, early.got(), input, step); fmt.Sprint(got) != fmt.Sprint(span(30, 89)) {
		t.Fatalf("early Stream got %v", got)
	}
	got := indices(t, late.got(), input, step)
	if fmt.Sprint(got) != fmt.Sprint(span(60, 89)) || !late.got()[0].KeyFrame {
		t.Fatalf("late Stream got %v, want 60 (the next key frame) to 89", got)
	}
	src.Close()
	checkNoLiveGoroutines(t)
}

// TestLiveSourceAudioStreamsJoinAtOnce: every Opus packet is a key frame,
// so a Stream of audio starts with the next packet, where video would
// wait up to a second for a key frame.
func TestLiveSourceAudioStreamsJoinAtOnce(t *testing.T) {
	data, err := os.ReadFile(clips + "clip.ogg")
	if err != nil {
		t.Fatal(err)
	}
	r, w := io.Pipe()
	defer w.Close()
	go w.Write(data)
	src, err := NewLive(r, LiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithCancel(t.Context())
	var got []Frame
	err = src.Stream(ctx, func(f Frame) error {
		if got = append(got, f); len(got) == 10 {
			cancel()
		}
		return nil
	})
	if err != nil || len(got) != 10 {
		t.Fatalf("Stream: %v after %d packets", err, len(got))
	}
	// The Stream joined while the first packets were being played.
	if got[0].Timestamp > 500*time.Millisecond {
		t.Fatalf("the first packet sent is at %v, want one of the first", got[0].Timestamp)
	}
	for i := 1; i < len(got); i++ {
		if step := got[i].Timestamp - got[i-1].Timestamp; step != 20*time.Millisecond {
			t.Fatalf("packet %d comes %v after the previous one, want 20ms", i, step)
		}
	}
}

// TestLiveSourceSlowStreamLosesFramesAlone: a Stream whose send blocks
// does not hold up another Stream or the reading; once its buffer is
// full it loses frames, and when it takes frames again it resumes at a
// key frame, never with a frame that depends on one it lost.
func TestLiveSourceSlowStreamLosesFramesAlone(t *testing.T) {
	const step = 10 * time.Millisecond
	clip := readAll(t, openReader(t, "clip.ivf"))
	input := append(append([]Frame(nil), clip...), clip...) // key frames every 30 of 180
	src, w, limits, fed := openGatedLive(t, input, step, LiveOptions{Buffer: 4})
	var fast, slow recorder
	unblock := make(chan struct{})
	slowSend := func(f Frame) error {
		<-unblock
		return slow.send(f)
	}
	doneFast := startStream(t.Context(), src, &fast)
	doneSlow := make(chan error, 1)
	go func() { doneSlow <- src.Stream(t.Context(), slowSend) }()
	waitStreams(t, src, 2)
	close(limits)
	// The fast Stream gets 20 frames past what the slow one can hold.
	waitUntil(t, "the fast Stream to get 25 frames", func() bool { return len(fast.got()) >= 25 })
	close(unblock)
	if err := <-fed; err != nil {
		t.Fatal(err)
	}
	w.Close()
	for _, done := range []<-chan error{doneFast, doneSlow} {
		if err := result(t, done); err != nil {
			t.Fatal(err)
		}
	}

	gotFast := indices(t, fast.got(), input, step)
	if fmt.Sprint(gotFast) != fmt.Sprint(span(30, 179)) {
		t.Fatalf("fast Stream got %v, want every frame from 30", gotFast)
	}
	slowFrames := slow.got()
	gotSlow := indices(t, slowFrames, input, step)
	gaps := 0
	for i, idx := range gotSlow {
		if i > 0 && idx == gotSlow[i-1]+1 {
			continue
		}
		if i > 0 {
			gaps++
		}
		if !slowFrames[i].KeyFrame {
			t.Fatalf("slow Stream got %v: frame %d follows a gap but is no key frame", gotSlow, idx)
		}
	}
	if gaps == 0 || gotSlow[len(gotSlow)-1] != 179 {
		t.Fatalf("slow Stream got %v, want a gap, then frames to the end", gotSlow)
	}
	if lost := src.Dropped(); lost != uint64(len(gotFast)-len(gotSlow)) {
		t.Fatalf("Dropped %d, want %d (the frames the slow Stream lost)", lost, len(gotFast)-len(gotSlow))
	}
	t.Logf("slow Stream got %v", gotSlow)
	src.Close()
	checkNoLiveGoroutines(t)
}

// TestLiveSourceReadErrorEndsStreams: a read error ends every Stream,
// after the frames read before it, with that error; a new Stream returns
// it at once.
func TestLiveSourceReadErrorEndsStreams(t *testing.T) {
	const step = 5 * time.Millisecond
	input := readAll(t, openReader(t, "clip.ivf"))
	src, w, limits, fed := openGatedLive(t, input[:45], step, LiveOptions{})
	var a, b recorder
	doneA, doneB := startStream(t.Context(), src, &a), startStream(t.Context(), src, &b)
	waitStreams(t, src, 2)
	close(limits)
	if err := <-fed; err != nil {
		t.Fatal(err)
	}
	boom := errors.New("encoder crashed")
	w.CloseWithError(boom)
	for _, done := range []<-chan error{doneA, doneB} {
		if err := result(t, done); !errors.Is(err, boom) {
			t.Fatalf("Stream returned %v, want the read error", err)
		}
	}
	for _, rec := range []*recorder{&a, &b} {
		if got := indices(t, rec.got(), input, step); fmt.Sprint(got) != fmt.Sprint(span(30, 44)) {
			t.Fatalf("Stream got %v, want 30 to 44", got)
		}
	}
	if err := src.Stream(t.Context(), func(Frame) error { return nil }); !errors.Is(err, boom) {
		t.Fatalf("Stream after the error: %v, want the read error", err)
	}
	if err := src.Err(); !errors.Is(err, boom) {
		t.Fatalf("Err: %v, want the read error", err)
	}
	src.Close()
	checkNoLiveGoroutines(t)
}

// TestLiveSourceCloseEndsReading: Close ends a Read blocked on a pipe the
// writer keeps open, and with it the reading goroutine and the Streams.
func TestLiveSourceCloseEndsReading(t *testing.T) {
	const step = 5 * time.Millisecond
	input := readAll(t, openReader(t, "clip.ivf"))
	pipes := map[string]func(t *testing.T) (io.Reader, io.WriteCloser){
		"io.Pipe": func(*testing.T) (io.Reader, io.WriteCloser) { return io.Pipe() },
		"os.Pipe": func(t *testing.T) (io.Reader, io.WriteCloser) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			return r, w
		},
	}
	for name, pipe := range pipes {
		t.Run(name, func(t *testing.T) {
			r, w := pipe(t)
			defer w.Close()
			limits := make(chan int, 1)
			limits <- 35 // the source gets frames 30 to 33, then waits for frame 35
			fed := feed(w, input, step, limits)
			src, err := NewLive(r, LiveOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var rec recorder
			done := startStream(t.Context(), src, &rec)
			waitUntil(t, "frame 33", func() bool { return len(rec.got()) == 4 })
			waitUntil(t, "the source to wait for more input", readBlocked)
			closed := make(chan error, 1)
			go func() { closed <- src.Close() }()
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("Close did not return")
			}
			if err := result(t, done); !errors.Is(err, os.ErrClosed) {
				t.Fatalf("Stream returned %v, want os.ErrClosed", err)
			}
			if err := src.Err(); !errors.Is(err, os.ErrClosed) {
				t.Fatalf("Err: %v, want os.ErrClosed", err)
			}
			if err := src.Stream(t.Context(), func(Frame) error { return nil }); !errors.Is(err, os.ErrClosed) {
				t.Fatalf("Stream after Close: %v, want os.ErrClosed", err)
			}
			// The writer finds the pipe closed.
			close(limits)
			if err := result(t, fed); err == nil {
				t.Fatal("the whole clip was written into a closed pipe")
			}
			checkNoLiveGoroutines(t)
		})
	}
}

// TestLiveSourceStreamEndsWithContext: a Stream ends when its context
// does, and the others and the reading go on.
func TestLiveSourceStreamEndsWithContext(t *testing.T) {
	const step = 5 * time.Millisecond
	input := readAll(t, openReader(t, "clip.ivf"))
	src, w, limits, fed := openGatedLive(t, input, step, LiveOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	var quitter, stayer recorder
	doneQuitter, doneStayer := startStream(ctx, src, &quitter), startStream(t.Context(), src, &stayer)
	waitStreams(t, src, 2)
	cancel()
	if err := result(t, doneQuitter); err != nil {
		t.Fatalf("Stream whose context ended: %v, want nil", err)
	}
	waitStreams(t, src, 1)
	close(limits)
	<-fed
	w.Close()
	if err := result(t, doneStayer); err != nil || len(stayer.got()) != 60 {
		t.Fatalf("other Stream: %v after %d frames, want nil after 60", err, len(stayer.got()))
	}
	src.Close()
	checkNoLiveGoroutines(t)
}

// TestLivePacesAPipedFile: the clip's own bytes, piped in as fast as the
// pipe takes them, play in real time, from a key frame on.
func TestLivePacesAPipedFile(t *testing.T) {
	data, err := os.ReadFile(clips + "clip.ivf")
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		w.Write(data)
		w.Close()
	}()
	src, err := NewLive(r, LiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var got []Frame
	var first, last time.Time
	err = src.Stream(t.Context(), func(f Frame) error {
		if got = append(got, f); len(got) == 1 {
			first = time.Now()
		}
		last = time.Now()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 60 || !got[0].KeyFrame {
		t.Fatalf("%d frames, the first a key frame: %v; want at least 60 from a key frame", len(got), got[0].KeyFrame)
	}
	played := got[len(got)-1].Timestamp - got[0].Timestamp
	if elapsed := last.Sub(first); elapsed < played*9/10 {
		t.Fatalf("%d frames spanning %v sent in %v", len(got), played, elapsed)
	}
}

// TestNewLiveRefusals: input that is not a known format, or holds no
// frame, fails when the source is made.
func TestNewLiveRefusals(t *testing.T) {
	header := make([]byte, 32)
	copy(header, "DKIF")
	copy(header[8:], "VP80")
	header[16], header[20] = 30, 1
	for name, tc := range map[string]struct {
		data []byte
		want error
	}{
		"text":             {[]byte("hello"), ErrUnsupportedFormat},
		"nothing":          {nil, ErrEmptyStream},
		"header, no frame": {header, ErrEmptyStream},
	} {
		if _, err := NewLive(bytes.NewReader(tc.data), LiveOptions{}); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	checkNoLiveGoroutines(t)
}

// TestLiveSourceStallAddsNoDelay: an encoder whose input stalls writes
// nothing for a while, then frames whose timestamps tell the time that
// went by. They are due as they come, and must go out as they come: the
// stall must not delay every later frame by its length. (An IVF frame is
// read only when the next one has come, so the last frame before the
// stall comes out late; that is no reason to move the clock for good.)
func TestLiveSourceStallAddsNoDelay(t *testing.T) {
	const (
		step  = 33 * time.Millisecond
		stall = 3 * time.Second
	)
	r, w := io.Pipe()
	defer w.Close()
	iw, err := NewIVFWriter(w, webrtc.MimeTypeVP8)
	if err != nil {
		t.Fatal(err)
	}
	const frames = 30 // frames 0 to 9, the stall, then 10 to 29
	var mu sync.Mutex
	written := make([]time.Time, frames) // when each frame is due to be written
	go func() {
		start := time.Now()
		for i := range frames {
			if i == 10 {
				time.Sleep(stall)
			}
			// Time since the start, as a capture's timestamps are.
			ts := time.Duration(i) * step
			if i >= 10 {
				ts += stall
			}
			// When it is captured: the writer may be held up by the pipe,
			// as an encoder is when nobody reads.
			mu.Lock()
			written[i] = start.Add(ts)
			mu.Unlock()
			time.Sleep(time.Until(written[i]))
			if iw.WriteFrame(Frame{Data: []byte{0x00, byte(i)}, Timestamp: ts}) != nil {
				return
			}
		}
	}()
	src, err := NewLive(r, LiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	late := make(chan time.Duration, 1)
	go src.Stream(ctx, func(f Frame) error {
		if i := int(f.Data[1]); i == 20 {
			mu.Lock()
			late <- time.Since(written[i])
			mu.Unlock()
		}
		return nil
	})
	select {
	case d := <-late:
		// Frame 20 goes out once frame 21 is read, one step later.
		if d > time.Second {
			t.Fatalf("frame 20 went out %v after it was captured, after a stall of %v", d, stall)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("frame 20 never went out")
	}
}
