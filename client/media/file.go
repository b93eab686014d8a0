package media

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// maxLag is how far behind schedule a FileSource or a LiveSource may fall
// (a stalled process, a slow sender, an encoder that paused) before it
// stops catching up and resets its clock, rather than sending a burst of
// late frames.
const maxLag = 500 * time.Millisecond

// FileOptions configure a FileSource.
type FileOptions struct {
	// Loop plays the file again from the start after its last frame, with
	// timestamps that keep increasing, until the context ends.
	Loop bool
	// FrameRate times H.264 files, which carry no timestamps;
	// DefaultFrameRate when zero (see NewH264Reader for other values out
	// of range). Other formats ignore it.
	FrameRate float64
}

// FileSource plays a media file in real time: VP8, VP9 or AV1 in IVF
// (.ivf), H.264 Annex-B (.h264, .264) or Opus in Ogg (.ogg, .opus). The
// format is told by the file's first bytes, not its name. It implements
// Source.
type FileSource struct {
	path     string
	opts     FileOptions
	mimeType string

	mu   sync.Mutex
	file *os.File
}

var _ Source = (*FileSource)(nil)

// OpenFile opens path and reads its first frame, so that an unreadable or
// unsupported file fails here rather than when streaming starts.
func OpenFile(path string, opts FileOptions) (*FileSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	s := &FileSource{path: path, opts: opts, file: f}
	r, err := s.reader()
	if err == nil {
		_, err = r.ReadFrame()
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("media: %s: %w", path, ErrEmptyStream)
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	s.mimeType = r.MimeType()
	return s, nil
}

// MimeType names the file's codec.
func (s *FileSource) MimeType() string { return s.mimeType }

// Close closes the file. Stream fails afterwards.
func (s *FileSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	s.file = nil
	return err
}

// Stream plays the file: it calls send with each frame when the frame's
// timestamp is due, counted from the call, and loops when asked to. It
// returns nil when ctx ends or, without Loop, after the last frame.
// Several Streams may run at once, each from the start of the file.
func (s *FileSource) Stream(ctx context.Context, send func(Frame) error) error {
	start := time.Now()
	var offset time.Duration // where the current pass starts on the stream's clock
	for {
		r, err := s.reader()
		if err != nil {
			return err
		}
		end, n, err := pace(ctx, r, &start, offset, false, send)
		switch {
		case err != nil || ctx.Err() != nil:
			return err
		case n == 0:
			return fmt.Errorf("media: %s: %w", s.path, ErrEmptyStream)
		case !s.opts.Loop:
			return nil
		}
		offset = end
	}
}

// pace sends the frames of r at start+offset+timestamp and returns where
// the pass ended on the stream's clock and how many frames it sent. It
// moves *start forward when it falls more than maxLag behind.
//
// With live set, it moves *start back again, as far as it moved it
// forward, when a frame is due more than maxLag ahead. A live input that
// stalls and resumes with timestamps that tell the time gone by (an
// encoder timing what it captures) comes on time again, but the frames
// from before the stall come late (an IVF frame is read only with the
// next one): moving the clock for them must not hold back every frame
// after by the stall's length, which would stay in the pipe for good.
//
// The stream clock only moves forward, by at least minFrameDuration per
// frame: a frame due earlier than that is held back. Valid files never
// come that close, but a malformed one whose timestamps stand still or
// run backwards would otherwise be sent, and with Loop resent, as fast as
// the CPU allows.
func pace(ctx context.Context, r Reader, start *time.Time, offset time.Duration, live bool, send func(Frame) error) (time.Duration, int, error) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	end, n := offset, 0
	earliest := offset      // the stream time the next frame may be due at the soonest
	var moved time.Duration // how far *start has moved forward
	for {
		f, err := r.ReadFrame()
		if errors.Is(err, io.EOF) {
			return end, n, nil
		}
		if err != nil {
			return end, n, err
		}
		f.Timestamp = max(f.Timestamp+offset, earliest)
		wait := time.Until(start.Add(f.Timestamp))
		if live && wait > maxLag && moved > 0 {
			back := min(wait, moved)
			*start = start.Add(-back)
			moved -= back
			wait -= back
		}
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return end, n, nil
			case <-timer.C:
			}
		} else if -wait > maxLag {
			*start = start.Add(-wait)
			moved -= wait
		}
		if ctx.Err() != nil {
			return end, n, nil
		}
		if err := send(f); err != nil {
			return end, n, err
		}
		earliest = f.Timestamp + minFrameDuration
		end, n = max(end, f.Timestamp+f.Duration, earliest), n+1
	}
}

// reader returns a reader of the file's format from its start. Each reader
// reads through its own section reader, with ReadAt, rather than through
// the file's shared offset, so that concurrent Streams of one FileSource
// do not take each other's bytes.
func (s *FileSource) reader() (Reader, error) {
	s.mu.Lock()
	f := s.file
	s.mu.Unlock()
	if f == nil {
		return nil, fmt.Errorf("media: %s: %w", s.path, os.ErrClosed)
	}
	return NewReader(bufio.NewReader(io.NewSectionReader(f, 0, math.MaxInt64)), s.opts.FrameRate)
}

// NewReader tells the format of r by its first bytes (IVF, Ogg, or an
// H.264 start code) and returns a reader for it. frameRate times H.264
// streams, as NewH264Reader describes (DefaultFrameRate when zero).
func NewReader(r *bufio.Reader, frameRate float64) (Reader, error) {
	head, _ := r.Peek(4)
	switch {
	case bytes.HasPrefix(head, []byte(ivfSignature)):
		return NewIVFReader(r)
	case bytes.HasPrefix(head, []byte(oggCapture)):
		return NewOggReader(r)
	case bytes.HasPrefix(head, []byte{0, 0, 1}) || bytes.HasPrefix(head, startCode):
		return NewH264Reader(r, frameRate)
	}
	return nil, fmt.Errorf("media: not IVF, Ogg or H.264 Annex-B: %w", ErrUnsupportedFormat)
}

// CheckOutputName reports whether CreateFile can record video to path:
// its name must end in .ivf, .h264 or .264 (ErrUnsupportedFormat
// otherwise), and its directory must exist. Programs call it before they
// start receiving, so that a name they can never write is refused at once.
func CheckOutputName(path string) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".ivf", ".h264", ".264":
	default:
		return fmt.Errorf("media: %s: the name must end in .ivf or .h264: %w", path, ErrUnsupportedFormat)
	}
	dir := filepath.Dir(path)
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("media: %s is not a directory", dir)
	}
	return nil
}

// CreateFile creates path to record frames of the codec mimeType: IVF for a
// name ending in .ivf (VP8, VP9, AV1), Annex-B for .h264 or .264 (H.264).
// Another extension, or a codec the container cannot hold, fails with
// ErrUnsupportedFormat or ErrCodecMismatch before the file is created. The
// writer drops frames until the first key frame, so that the file starts
// where a player can.
func CreateFile(path, mimeType string) (Writer, error) {
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".ivf":
		if _, ok := fourCCOf(mimeType); !ok {
			return nil, fmt.Errorf("media: %s: an IVF file cannot hold %s (use .h264 for H.264): %w", path, mimeType, ErrCodecMismatch)
		}
	case ".h264", ".264":
		if !isH264(mimeType) {
			return nil, fmt.Errorf("media: %s: an H.264 file cannot hold %s (use .ivf): %w", path, mimeType, ErrCodecMismatch)
		}
	default:
		return nil, fmt.Errorf("media: %s: the name must end in .ivf or .h264: %w", path, ErrUnsupportedFormat)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	var w Writer
	if ext == ".ivf" {
		w, err = NewIVFWriter(f, mimeType)
		if err != nil {
			f.Close()
			return nil, err
		}
	} else {
		w = NewH264Writer(f)
	}
	return &keyFrameGate{Writer: w, mimeType: mimeType}, nil
}

// keyFrameGate drops the frames that come before the first key frame, and
// makes the timestamps it passes on start at zero and never go backwards.
// A viewer that replaces its PeerConnection receives a new stream whose
// clock starts again at zero; the gate then moves its origin so that the
// new frames follow the last one written.
type keyFrameGate struct {
	Writer
	mimeType string
	open     bool
	origin   time.Duration // subtracted from the incoming timestamps
	last     time.Duration // the last timestamp written, after the shift
	lastDur  time.Duration // that frame's duration
}

func (g *keyFrameGate) WriteFrame(f Frame) error {
	if !g.open {
		if !f.KeyFrame && !IsKeyFrame(g.mimeType, f.Data) {
			return nil
		}
		g.open, g.origin = true, f.Timestamp
	} else if f.Timestamp-g.origin < g.last {
		// Time went backwards: continue one frame after the last.
		g.origin = f.Timestamp - (g.last + max(g.lastDur, minFrameDuration))
	}
	f.Timestamp -= g.origin
	if err := g.Writer.WriteFrame(f); err != nil {
		return err
	}
	g.last, g.lastDur = f.Timestamp, f.Duration
	return nil
}
