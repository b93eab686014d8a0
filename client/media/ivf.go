package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// IVF's fixed sizes: the file header and each frame's header.
const (
	ivfFileHeaderSize  = 32
	ivfFrameHeaderSize = 12
	ivfSignature       = "DKIF"
)

// fourCCs maps the IVF codec tags to MIME types.
var fourCCs = map[string]string{
	"VP80": webrtc.MimeTypeVP8,
	"VP90": webrtc.MimeTypeVP9,
	"AV01": webrtc.MimeTypeAV1,
}

// fourCCOf returns the IVF codec tag of a MIME type.
func fourCCOf(mimeType string) (string, bool) {
	for tag, m := range fourCCs {
		if strings.EqualFold(m, mimeType) {
			return tag, true
		}
	}
	return "", false
}

// IVFReader reads the frames of an IVF file (VP8, VP9 or AV1). Frame
// timestamps come from the file's time base, counted from the first
// frame's; a frame's duration is the gap to the next one (the last frame
// keeps the previous gap), and at least a millisecond.
type IVFReader struct {
	r        io.Reader
	mimeType string
	num, den uint64 // a timestamp t lasts t*num/den seconds
	origin   uint64 // the first frame's timestamp, in time-base units
	started  bool   // origin is set
	next     *Frame // read ahead, to know the current frame's duration
	lastDur  time.Duration
	err      error
}

// maxFrameSize bounds one frame (an IVF frame, an H.264 access unit), so
// that a corrupt file cannot exhaust memory.
const maxFrameSize = 64 << 20

// readChunk is how much memory a frame read is given up front; a larger
// frame grows its buffer as its bytes arrive, so that a size field that
// lies costs no more memory than the file really holds.
const readChunk = 64 << 10

// NewIVFReader reads the IVF file header from r and returns a reader of
// its frames. A file with another signature or an unknown codec fails with
// ErrUnsupportedFormat.
func NewIVFReader(r io.Reader) (*IVFReader, error) {
	var h [ivfFileHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("media: reading IVF header: %w: %w", ErrUnsupportedFormat, err)
	}
	if string(h[:4]) != ivfSignature {
		return nil, fmt.Errorf("media: no IVF signature: %w", ErrUnsupportedFormat)
	}
	tag := string(h[8:12])
	mimeType, ok := fourCCs[tag]
	if !ok {
		return nil, fmt.Errorf("media: IVF codec %q: %w", tag, ErrUnsupportedFormat)
	}
	// The time base is stored as a rate (bytes 16-19) and a scale (20-23).
	den, num := binary.LittleEndian.Uint32(h[16:]), binary.LittleEndian.Uint32(h[20:])
	if den == 0 || num == 0 {
		return nil, fmt.Errorf("media: IVF header has a zero time base: %w", ErrUnsupportedFormat)
	}
	// The header may be longer than 32 bytes.
	if size := int64(binary.LittleEndian.Uint16(h[6:])); size > ivfFileHeaderSize {
		if _, err := io.CopyN(io.Discard, r, size-ivfFileHeaderSize); err != nil {
			return nil, fmt.Errorf("media: reading IVF header: %w: %w", ErrUnsupportedFormat, err)
		}
	}
	return &IVFReader{r: r, mimeType: mimeType, num: uint64(num), den: uint64(den)}, nil
}

// MimeType names the file's codec.
func (r *IVFReader) MimeType() string { return r.mimeType }

// ReadFrame returns the next frame, or io.EOF after the last.
func (r *IVFReader) ReadFrame() (Frame, error) {
	if r.next == nil && r.err == nil {
		r.next, r.err = r.read()
	}
	if r.next == nil {
		return Frame{}, r.err
	}
	cur := *r.next
	r.next, r.err = r.read()
	switch {
	case r.next != nil && r.next.Timestamp > cur.Timestamp:
		cur.Duration = r.next.Timestamp - cur.Timestamp
		r.lastDur = cur.Duration
	default:
		cur.Duration = r.lastDur
		if cur.Duration == 0 {
			cur.Duration = r.ticks(1)
		}
	}
	// A time base finer than the timestamps' steps, or timestamps that
	// stand still, would give frames that take no time to play.
	cur.Duration = max(cur.Duration, minFrameDuration)
	return cur, nil
}

// read parses one frame; at the end it returns nil and io.EOF (a
// truncated last frame counts as the end, as players treat it).
func (r *IVFReader) read() (*Frame, error) {
	var h [ivfFrameHeaderSize]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		return nil, endOfStream(err)
	}
	size := binary.LittleEndian.Uint32(h[0:])
	if size > maxFrameSize {
		return nil, fmt.Errorf("media: IVF frame of %d bytes", size)
	}
	data, err := readFrameData(r.r, int(size))
	if err != nil {
		return nil, endOfStream(err)
	}
	pts := binary.LittleEndian.Uint64(h[4:])
	return &Frame{Data: data, Timestamp: r.since(pts), KeyFrame: IsKeyFrame(r.mimeType, data)}, nil
}

// readFrameData reads n bytes. Small frames are read into a buffer of
// their size; larger ones into a buffer that grows with what is read.
func readFrameData(r io.Reader, n int) ([]byte, error) {
	if n <= readChunk {
		data := make([]byte, n)
		_, err := io.ReadFull(r, data)
		return data, err
	}
	buf := bytes.NewBuffer(make([]byte, 0, readChunk))
	if _, err := io.CopyN(buf, r, int64(n)); err != nil {
		return nil, err // io.EOF when the data stops short
	}
	return buf.Bytes(), nil
}

// since converts pts to a time from the first frame, so that a file cut
// out of a longer recording plays at once instead of waiting for its first
// timestamp. A timestamp before the first one counts as the start.
func (r *IVFReader) since(pts uint64) time.Duration {
	if !r.started {
		r.origin, r.started = pts, true
	}
	if pts <= r.origin {
		return 0
	}
	return r.ticks(pts - r.origin)
}

// endOfStream treats a truncated record as the end of the stream.
func endOfStream(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return io.EOF
	}
	return fmt.Errorf("media: reading IVF frame: %w", err)
}

// ticks converts n time-base units to a duration, capped at maxStreamTime.
// n*num needs up to 96 bits, so it is computed in 128 bits and divided
// into whole seconds and a remainder; the remainder times 1e9 fits in 64
// bits because it is below den, a 32-bit number.
func (r *IVFReader) ticks(n uint64) time.Duration {
	hi, lo := bits.Mul64(n, r.num)
	if hi >= r.den {
		return maxStreamTime // the quotient would not even fit in 64 bits
	}
	secs, rem := bits.Div64(hi, lo, r.den)
	if secs >= uint64(maxStreamTime/time.Second) {
		return maxStreamTime
	}
	return time.Duration(secs)*time.Second + time.Duration(rem*uint64(time.Second)/r.den)
}

// IVFWriter writes frames to an IVF file. The header is written with the
// first frame; its picture size comes from the first VP8 key frame (VP9 and
// AV1 carry the size in their bitstream, so it is left at zero). Timestamps
// are stored in milliseconds.
type IVFWriter struct {
	w        io.Writer
	mimeType string
	fourCC   string
	frames   uint32
	started  bool
}

// ivfTimebase is the time base IVFWriter writes: 1/1000 s.
const ivfTimebase = 1000

// NewIVFWriter returns a writer of frames of mimeType (VP8, VP9 or AV1)
// to w. If w is an io.WriteSeeker, Close stores the frame count in the
// header.
func NewIVFWriter(w io.Writer, mimeType string) (*IVFWriter, error) {
	tag, ok := fourCCOf(mimeType)
	if !ok {
		return nil, fmt.Errorf("media: IVF cannot hold %s: %w", mimeType, ErrCodecMismatch)
	}
	return &IVFWriter{w: w, mimeType: mimeType, fourCC: tag}, nil
}

// WriteFrame appends one frame. A negative timestamp, which the file
// cannot hold, fails without writing anything.
func (w *IVFWriter) WriteFrame(f Frame) error {
	if f.Timestamp < 0 {
		return fmt.Errorf("media: IVF frame with negative timestamp %v", f.Timestamp)
	}
	if uint64(len(f.Data)) > math.MaxUint32 {
		return fmt.Errorf("media: IVF frame of %d bytes", len(f.Data))
	}
	if !w.started {
		if err := w.writeHeader(f.Data); err != nil {
			return err
		}
		w.started = true
	}
	var header [ivfFrameHeaderSize]byte
	binary.LittleEndian.PutUint32(header[0:], uint32(len(f.Data)))
	binary.LittleEndian.PutUint64(header[4:], uint64(f.Timestamp/time.Millisecond))
	if _, err := w.w.Write(header[:]); err != nil {
		return fmt.Errorf("media: writing IVF frame: %w", err)
	}
	if _, err := w.w.Write(f.Data); err != nil {
		return fmt.Errorf("media: writing IVF frame: %w", err)
	}
	w.frames++
	return nil
}

func (w *IVFWriter) writeHeader(first []byte) error {
	var h [ivfFileHeaderSize]byte
	copy(h[0:], ivfSignature)
	binary.LittleEndian.PutUint16(h[6:], ivfFileHeaderSize)
	copy(h[8:], w.fourCC)
	width, height := vp8Size(w.mimeType, first)
	binary.LittleEndian.PutUint16(h[12:], width)
	binary.LittleEndian.PutUint16(h[14:], height)
	binary.LittleEndian.PutUint32(h[16:], ivfTimebase)
	binary.LittleEndian.PutUint32(h[20:], 1)
	if _, err := w.w.Write(h[:]); err != nil {
		return fmt.Errorf("media: writing IVF header: %w", err)
	}
	return nil
}

// vp8Size reads the picture size from a VP8 key frame: after the 3-byte
// frame tag and the start code 9d 01 2a come two 14-bit sizes.
func vp8Size(mimeType string, frame []byte) (uint16, uint16) {
	if !strings.EqualFold(mimeType, webrtc.MimeTypeVP8) || len(frame) < 10 || frame[0]&1 != 0 ||
		frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return 0, 0
	}
	return binary.LittleEndian.Uint16(frame[6:]) & 0x3fff, binary.LittleEndian.Uint16(frame[8:]) & 0x3fff
}

// Frames returns how many frames were written.
func (w *IVFWriter) Frames() int { return int(w.frames) }

// Close stores the frame count in the header when the destination can
// seek, and closes the destination when it is an io.Closer.
func (w *IVFWriter) Close() error {
	var err error
	if ws, ok := w.w.(io.WriteSeeker); ok && w.started {
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], w.frames)
		if _, err = ws.Seek(24, io.SeekStart); err == nil {
			_, err = ws.Write(n[:])
		}
	}
	if c, ok := w.w.(io.Closer); ok {
		err = errors.Join(err, c.Close())
	}
	if err != nil {
		return fmt.Errorf("media: closing IVF file: %w", err)
	}
	return nil
}
