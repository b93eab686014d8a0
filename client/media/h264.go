package media

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
)

// H.264 NAL unit types this package looks at (ITU-T H.264, table 7-1).
const (
	nalSlice    = 1
	nalIDR      = 5
	nalSEI      = 6
	nalSPS      = 7
	nalPPS      = 8
	nalAUD      = 9
	nalPrefix   = 14
	nalReserved = 18
)

// startCode precedes every NAL unit in the frames this package returns.
var startCode = []byte{0, 0, 0, 1}

// DefaultFrameRate is the frame rate H264Reader assumes when given none:
// an Annex-B byte stream carries no timestamps.
const DefaultFrameRate = 30

// H264Reader reads an H.264 Annex-B byte stream and returns one frame per
// access unit (the NAL units of one picture, with the parameter sets and
// SEI that precede it). The stream has no timestamps, so frames are timed
// at a fixed frame rate.
type H264Reader struct {
	r        *h264reader.H264Reader
	in       *nalGuard // what r reads through; in.max bounds an access unit too
	interval time.Duration
	count    int
	pending  *h264reader.NAL // first NAL of the next access unit
	err      error
}

// NewH264Reader returns a reader of the byte stream r at frameRate frames
// per second (DefaultFrameRate when zero, negative, infinite or NaN).
// Frames last at least a millisecond, so rates above 1000 play at 1000.
// A stream that does not begin with a start code fails at the first
// ReadFrame.
func NewH264Reader(r io.Reader, frameRate float64) (*H264Reader, error) {
	in := &nalGuard{r: r, max: maxFrameSize}
	hr, err := h264reader.NewReaderWithOptions(in, h264reader.WithIncludeSEI(true))
	if err != nil {
		return nil, fmt.Errorf("media: reading H.264: %w: %w", ErrUnsupportedFormat, err)
	}
	return &H264Reader{r: hr, in: in, interval: frameInterval(frameRate)}, nil
}

// nalGuard is what pion's H.264 reader reads through. That reader buffers
// a NAL unit until the next start code, however long it gets, and takes
// any read error for the end of the stream; nalGuard fails a read once a
// NAL unit outgrows max, and keeps the errors other than io.EOF, for
// H264Reader to return instead of the end.
type nalGuard struct {
	r     io.Reader
	max   int
	run   int // bytes since the last start code
	zeros int // zero bytes just read
	err   error
}

func (g *nalGuard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.r.Read(p)
	for i, b := range p[:n] {
		if b == 1 && g.zeros >= 2 {
			g.run = 0
		} else if g.run++; g.run > g.max {
			g.err = fmt.Errorf("media: reading H.264: a NAL unit exceeds %d bytes", g.max)
			return i, g.err
		}
		if b == 0 {
			g.zeros++
		} else {
			g.zeros = 0
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		g.err = fmt.Errorf("media: reading H.264: %w", err)
	}
	return n, err
}

// frameInterval is how long one frame lasts at frameRate. The division is
// checked in floating point first: converting an infinite or out-of-range
// float to a time.Duration gives a meaningless (often negative) value.
func frameInterval(frameRate float64) time.Duration {
	if math.IsNaN(frameRate) || math.IsInf(frameRate, 0) || frameRate <= 0 {
		frameRate = DefaultFrameRate
	}
	interval := float64(time.Second) / frameRate
	switch {
	case interval < float64(minFrameDuration):
		return minFrameDuration
	case interval > float64(maxStreamTime):
		return maxStreamTime
	}
	return time.Duration(interval)
}

// MimeType is webrtc.MimeTypeH264.
func (r *H264Reader) MimeType() string { return webrtc.MimeTypeH264 }

// ReadFrame returns the next access unit, or io.EOF after the last. An
// access unit larger than 64 MiB (a stream of parameter sets or SEI with
// no picture, for example) fails, and so do the calls after it.
func (r *H264Reader) ReadFrame() (Frame, error) {
	var (
		data   []byte
		hasVCL bool
	)
	for {
		nal, err := r.nextNAL()
		if err != nil {
			if errors.Is(err, io.EOF) && hasVCL {
				break
			}
			return Frame{}, err
		}
		if hasVCL && startsAccessUnit(nal) {
			r.pending = nal
			break
		}
		if len(data)+len(startCode)+len(nal.Data) > r.in.max {
			// No picture after this many bytes: not a stream worth
			// buffering further. The error sticks.
			r.err = fmt.Errorf("media: reading H.264: an access unit exceeds %d bytes", r.in.max)
			return Frame{}, r.err
		}
		data = append(append(data, startCode...), nal.Data...)
		hasVCL = hasVCL || isVCL(nal)
	}
	f := Frame{Data: data, Timestamp: r.timestamp(), Duration: r.interval, KeyFrame: hasIDR(data)}
	r.count++
	return f, nil
}

// timestamp is when the current frame is due. It stops at maxStreamTime
// rather than wrap around, which only intervals of years could reach.
func (r *H264Reader) timestamp() time.Duration {
	if time.Duration(r.count) > maxStreamTime/r.interval {
		return maxStreamTime
	}
	return time.Duration(r.count) * r.interval
}

// nextNAL returns the NAL unit read ahead, or the next one of the stream.
func (r *H264Reader) nextNAL() (*h264reader.NAL, error) {
	if nal := r.pending; nal != nil {
		r.pending = nil
		return nal, nil
	}
	if r.err != nil {
		return nil, r.err
	}
	for {
		nal, err := r.r.NextNAL()
		switch {
		case r.in.err != nil:
			// What pion returned, a NAL unit cut short or the end, is
			// not the stream's.
			r.err = r.in.err
			return nil, r.err
		case errors.Is(err, io.EOF) || err == nil && nal == nil:
			r.err = io.EOF
			return nil, io.EOF
		case err != nil:
			r.err = fmt.Errorf("media: reading H.264: %w", err)
			return nil, r.err
		case len(nal.Data) > 0:
			return nal, nil
		}
	}
}

// isVCL reports a slice of a picture (types 1 to 5).
func isVCL(nal *h264reader.NAL) bool { return nal.UnitType >= nalSlice && nal.UnitType <= nalIDR }

// startsAccessUnit reports whether nal, following a picture's slices,
// begins the next access unit: a parameter set, SEI, delimiter or prefix
// NAL, or the first slice of a picture (first_mb_in_slice, an Exp-Golomb
// number right after the NAL header, is 0 exactly when its first bit is 1).
func startsAccessUnit(nal *h264reader.NAL) bool {
	t := nal.UnitType
	switch {
	case t == nalSEI || t == nalSPS || t == nalPPS || t == nalAUD:
		return true
	case t >= nalPrefix && t <= nalReserved:
		return true
	case isVCL(nal):
		return len(nal.Data) > 1 && nal.Data[1]&0x80 != 0
	}
	return false
}

// H264Writer writes frames as an H.264 Annex-B byte stream, which players
// read as raw H.264 (the .h264 or .264 extension).
type H264Writer struct {
	w      io.Writer
	frames int
}

// NewH264Writer returns a writer to w.
func NewH264Writer(w io.Writer) *H264Writer { return &H264Writer{w: w} }

// WriteFrame appends one access unit, adding a start code when the frame
// does not begin with one.
func (w *H264Writer) WriteFrame(f Frame) error {
	if !hasStartCode(f.Data) {
		if _, err := w.w.Write(startCode); err != nil {
			return fmt.Errorf("media: writing H.264: %w", err)
		}
	}
	if _, err := w.w.Write(f.Data); err != nil {
		return fmt.Errorf("media: writing H.264: %w", err)
	}
	w.frames++
	return nil
}

// Frames returns how many frames were written.
func (w *H264Writer) Frames() int { return w.frames }

// Close closes the destination when it is an io.Closer.
func (w *H264Writer) Close() error {
	if c, ok := w.w.(io.Closer); ok {
		if err := c.Close(); err != nil {
			return fmt.Errorf("media: closing H.264 file: %w", err)
		}
	}
	return nil
}

func hasStartCode(b []byte) bool {
	return len(b) >= 3 && b[0] == 0 && b[1] == 0 && (b[2] == 1 || len(b) >= 4 && b[2] == 0 && b[3] == 1)
}

// isH264 reports whether mimeType is H.264.
func isH264(mimeType string) bool { return strings.EqualFold(mimeType, webrtc.MimeTypeH264) }
