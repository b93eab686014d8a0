package media

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// DefaultLiveBuffer is LiveOptions.Buffer when left at zero: about two
// seconds of 30 fps video, one second of 20 ms Opus packets.
const DefaultLiveBuffer = 64

// LiveOptions configure a LiveSource.
type LiveOptions struct {
	// FrameRate times H.264 streams, which carry no timestamps, as
	// FileOptions.FrameRate does. It must be the encoder's frame rate:
	// with a lower one, frames come faster than they are played and pile
	// up in the pipe, adding delay without bound (a higher one only sends
	// them as they come).
	FrameRate float64
	// Buffer is how many frames one Stream may fall behind the input
	// before it loses frames; DefaultLiveBuffer when zero or less.
	Buffer int
	// Logger hears of Streams that fell behind and lost frames; nothing
	// is logged when nil.
	Logger *slog.Logger
}

// LiveSource plays a stream that can be read only once, as it comes: an
// encoder's output on stdin or a FIFO, a capture device. One goroutine
// reads it from the moment it is made, paced by the frames' timestamps
// as FileSource is (a stream written faster than real time, such as a
// file piped in, still plays in real time; after a stall, frames whose
// timestamps tell the time gone by are not held back by its length), and
// hands every frame to each
// Stream running at the time. Frames nobody streams are dropped: an
// encoder's output does not back up in the pipe while no one watches, and
// a Stream always gets the latest frames.
//
// A Stream starts at the next key frame, and a Stream that falls more
// than LiveOptions.Buffer frames behind loses frames until the next key
// frame that fits, so a slow Stream never holds up the others or the
// reading, and never gets a frame it cannot decode. Every Stream gets the
// same Frame values: send must not modify Data. Timestamps count from the
// start of the input, not of the Stream.
//
// It implements Source. It never loops.
type LiveSource struct {
	name     string
	mimeType string
	buffer   int
	log      *slog.Logger
	input    io.Closer // closed by Close, to end a Read under way; may be nil
	cancel   context.CancelFunc
	done     chan struct{} // closed when the reading goroutine has ended

	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex
	streams map[*liveStream]struct{}
	nextID  int
	ended   bool
	err     error  // why the input ended, once ended
	dropped uint64 // frames Streams lost by falling behind
}

var _ Source = (*LiveSource)(nil)

// liveStream is what the reading goroutine knows of one Stream call. Its
// fields other than frames are guarded by the LiveSource's mu.
type liveStream struct {
	id       int
	frames   chan Frame // closed when the input ends
	needsKey bool       // waiting for a key frame: just joined, or fell behind
	behind   int        // frames lost since it fell behind; 0 while it keeps up
	falls    int        // times it fell behind
}

// OpenLive opens path, a FIFO, a character device or any file that is read
// once as it is written, and reads its first frame, waiting for it: the
// format is told by the first bytes, as OpenFile does. Opening a FIFO
// waits for a writer. The LiveSource owns the file and Close closes it.
func OpenLive(path string, opts LiveOptions) (*LiveSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("media: %w", err)
	}
	s, err := newLive(path, f, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// NewLive reads the first frame of r, waiting for it, and starts reading
// the rest in a goroutine. When it succeeds the LiveSource owns r: Close
// closes r if it is an io.Closer, which is how Close ends a Read under way.
// Closing ends a Read on pipes and FIFOs that Go polls (io.Pipe, os.Pipe,
// files from os.Open), not on os.Stdin, whose Read Close then waits for.
// On Linux, OpenLive("/dev/stdin") reads a pipe on stdin through a
// descriptor of its own, which Go polls.
func NewLive(r io.Reader, opts LiveOptions) (*LiveSource, error) {
	return newLive("live input", r, opts)
}

func newLive(name string, r io.Reader, opts LiveOptions) (*LiveSource, error) {
	br := bufio.NewReader(r)
	if _, err := br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			err = ErrEmptyStream // the encoder wrote nothing: say so, not "unsupported format"
		}
		return nil, fmt.Errorf("media: %s: %w", name, err)
	}
	fr, err := NewReader(br, opts.FrameRate)
	if err != nil {
		return nil, err
	}
	first, err := fr.ReadFrame()
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("media: %s: %w", name, ErrEmptyStream)
	}
	if err != nil {
		return nil, err
	}
	s := &LiveSource{
		name: name, mimeType: fr.MimeType(), buffer: opts.Buffer, log: opts.Logger,
		done: make(chan struct{}), streams: map[*liveStream]struct{}{},
	}
	if s.buffer <= 0 {
		s.buffer = DefaultLiveBuffer
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.input, _ = r.(io.Closer)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.read(ctx, &replay{Reader: fr, first: &first})
	return s, nil
}

// MimeType names the input's codec.
func (s *LiveSource) MimeType() string { return s.mimeType }

// Done is closed once the input has ended: at its end, on a read error,
// or on Close. Streams then return, and new ones return at once.
func (s *LiveSource) Done() <-chan struct{} { return s.done }

// Err says why the input ended, once Done is closed: nil at its end, the
// read error, or an error wrapping os.ErrClosed after Close. It is nil
// while the input is being read.
func (s *LiveSource) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Dropped returns how many frames Streams have lost, in all, by falling
// behind (not counting those a Stream skips to start at a key frame).
func (s *LiveSource) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Close stops the reading and closes the input (see NewLive), then waits
// for the reading goroutine to end. Streams running then return an error
// wrapping os.ErrClosed after the frames they hold.
func (s *LiveSource) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		if s.input != nil {
			s.closeErr = s.input.Close()
		}
	})
	<-s.done
	return s.closeErr
}

// Stream calls send with every frame as it comes, from the next key frame
// on, until ctx ends (it returns nil), the input ends (nil at its end,
// the read error otherwise, after the frames this Stream holds), or send
// fails (its error). Any number of Streams may run at once.
func (s *LiveSource) Stream(ctx context.Context, send func(Frame) error) error {
	st, err := s.join()
	if st == nil {
		return err
	}
	defer s.leave(st)
	for {
		select {
		case <-ctx.Done():
			return nil
		case f, ok := <-st.frames:
			if !ok {
				return s.Err()
			}
			if ctx.Err() != nil {
				return nil
			}
			if err := send(f); err != nil {
				return err
			}
		}
	}
}

// join adds a Stream, or returns nil and why the input ended when it has.
func (s *LiveSource) join() (*liveStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return nil, s.err
	}
	s.nextID++
	st := &liveStream{id: s.nextID, frames: make(chan Frame, s.buffer), needsKey: true}
	s.streams[st] = struct{}{}
	return st, nil
}

// leave removes a Stream; the reading goroutine sends it nothing more.
func (s *LiveSource) leave(st *liveStream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.streams, st)
}

// read is the reading goroutine: it paces the input's frames out to the
// Streams until the input ends or Close.
func (s *LiveSource) read(ctx context.Context, r Reader) {
	defer close(s.done)
	start := time.Now()
	_, _, err := pace(ctx, r, &start, 0, true, s.fanOut)
	if ctx.Err() != nil {
		// Closing the input made the Read under way fail, or pace
		// stopped between frames: either way, Close ended it.
		err = fmt.Errorf("media: %s: %w", s.name, os.ErrClosed)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended, s.err = true, err
	for st := range s.streams {
		close(st.frames)
	}
}

// fanOut hands f to every Stream. It never fails and never waits.
func (s *LiveSource) fanOut(f Frame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.streams {
		s.offer(st, f)
	}
	return nil
}

// offer hands f to one Stream, unless it waits for a key frame or its
// buffer is full; then it waits (again) for a key frame, and the frames
// it loses meanwhile are counted. A Stream that just joined waits for its
// first key frame without losing anything.
func (s *LiveSource) offer(st *liveStream, f Frame) {
	if st.needsKey && !f.KeyFrame {
		if st.behind > 0 {
			st.behind++
			s.dropped++
		}
		return
	}
	select {
	case st.frames <- f:
		if st.behind > 0 {
			s.log.Debug("live stream caught up at a key frame", "input", s.name, "stream", st.id, "lost", st.behind)
		}
		st.needsKey, st.behind = false, 0
	default:
		s.fellBehind(st)
		st.needsKey = true
		st.behind++
		s.dropped++
	}
}

// fellBehind logs a Stream falling behind: a warning the first time, at
// debug level after that, so that a Stream that can never keep up does
// not flood the log once per key frame.
func (s *LiveSource) fellBehind(st *liveStream) {
	if st.behind > 0 {
		return // still behind
	}
	level := slog.LevelWarn
	if st.falls > 0 {
		level = slog.LevelDebug
	}
	st.falls++
	s.log.Log(context.Background(), level, "live stream fell behind; it loses frames until a key frame fits in its buffer",
		"input", s.name, "stream", st.id, "buffer", s.buffer, "times", st.falls)
}

// replay is a Reader that returns first, a frame read already, and then
// the frames of Reader.
type replay struct {
	Reader
	first *Frame
}

func (r *replay) ReadFrame() (Frame, error) {
	if f := r.first; f != nil {
		r.first = nil
		return *f, nil
	}
	return r.Reader.ReadFrame()
}
