package media

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// Sentinel errors; errors returned by this package wrap them.
var (
	// ErrUnsupportedFormat: the file is not one of the formats this
	// package reads or writes (IVF, H.264 Annex-B, Ogg Opus).
	ErrUnsupportedFormat = errors.New("unsupported media format")
	// ErrCodecMismatch: frames of one codec were given to a writer or a
	// container that holds another (for example H.264 into an IVF file).
	ErrCodecMismatch = errors.New("codec does not fit the container")
	// ErrEmptyStream: a file holds no frame at all.
	ErrEmptyStream = errors.New("stream has no frames")
)

// Bounds on the timing the readers hand out, so that a malformed file or a
// nonsense frame rate can neither flood the viewers nor overflow a
// time.Duration.
const (
	// minFrameDuration is the shortest a frame may last: at most a
	// thousand frames a second, far above any real stream.
	minFrameDuration = time.Millisecond
	// maxStreamTime (about 36 years) caps a timestamp or a frame interval;
	// it leaves room in a time.Duration for the offsets a looping
	// FileSource adds.
	maxStreamTime = time.Duration(1) << 60
)

// Frame is one encoded video frame (a whole picture, all its RTP packets
// put back together) or one encoded audio packet.
type Frame struct {
	// Data is the encoded frame. H.264 frames are Annex-B: every NAL unit
	// follows a 00 00 00 01 start code.
	Data []byte
	// Timestamp is when the frame is presented, from the start of the
	// stream.
	Timestamp time.Duration
	// Duration is how long the frame lasts, that is the time until the
	// next one.
	Duration time.Duration
	// KeyFrame reports a frame that can be decoded on its own (always true
	// for audio).
	KeyFrame bool
}

// Reader reads the frames of one encoded stream, in order.
type Reader interface {
	// MimeType names the codec, for example webrtc.MimeTypeVP8.
	MimeType() string
	// ReadFrame returns the next frame, or io.EOF after the last one.
	ReadFrame() (Frame, error)
}

// Writer stores frames, for example in a file.
type Writer interface {
	// WriteFrame stores one frame.
	WriteFrame(Frame) error
	// Close finishes the stream (and its container's header, where the
	// container counts frames) and closes what the writer was given when it
	// is an io.Closer.
	Close() error
}

// Source is a live stream of frames, such as a file played in real time or
// a camera, that a master sends to every viewer.
type Source interface {
	// MimeType names the codec, for example webrtc.MimeTypeOpus.
	MimeType() string
	// Stream calls send with every frame at the time it is due, until ctx
	// ends (it then returns nil), the stream ends, or send or the source
	// fails (it returns that error).
	Stream(ctx context.Context, send func(Frame) error) error
}

// IsVideo reports whether mimeType names a video codec.
func IsVideo(mimeType string) bool {
	return strings.HasPrefix(strings.ToLower(mimeType), "video/")
}

// IsKeyFrame reports whether data, one whole frame of the codec mimeType,
// can be decoded on its own: a VP8 or VP9 key frame, an H.264 access unit
// holding an IDR slice, or an AV1 temporal unit holding a sequence header
// and a key frame. Audio frames always are; other codecs are never
// reported as key frames.
func IsKeyFrame(mimeType string, data []byte) bool {
	switch {
	case strings.EqualFold(mimeType, webrtc.MimeTypeVP8):
		// Bit 0 of the frame tag is 0 on key frames (RFC 6386, 9.1).
		return len(data) > 0 && data[0]&0x01 == 0
	case strings.EqualFold(mimeType, webrtc.MimeTypeVP9):
		return isVP9KeyFrame(data)
	case strings.EqualFold(mimeType, webrtc.MimeTypeH264):
		return hasIDR(data)
	case strings.EqualFold(mimeType, webrtc.MimeTypeAV1):
		return isAV1KeyFrame(data)
	case !IsVideo(mimeType):
		return true
	}
	return false
}

// isVP9KeyFrame reads the start of a VP9 uncompressed header: the frame
// marker (2 bits, value 2), the profile (2 bits, and a reserved bit for
// profile 3), show_existing_frame, then frame_type, 0 for a key frame.
func isVP9KeyFrame(data []byte) bool {
	if len(data) == 0 || data[0]>>6 != 2 {
		return false
	}
	b := data[0]
	profile := (b>>5)&1 | ((b>>4)&1)<<1
	next := 4 // bit index, from the most significant, of show_existing_frame
	if profile == 3 {
		next++
	}
	if (b>>(7-next))&1 == 1 {
		return false // show_existing_frame: repeats an earlier frame
	}
	next++
	return (b>>(7-next))&1 == 0
}

// hasIDR reports whether an Annex-B access unit holds an IDR slice (NAL
// unit type 5).
func hasIDR(data []byte) bool {
	found := false
	forEachNAL(data, func(nal []byte) bool {
		if len(nal) > 0 && nal[0]&0x1f == nalIDR {
			found = true
			return false
		}
		return true
	})
	return found
}

// forEachNAL calls fn with every NAL unit of an Annex-B byte stream (start
// codes removed) until fn returns false.
func forEachNAL(data []byte, fn func(nal []byte) bool) {
	start := -1
	for i := 0; i+2 < len(data); i++ {
		if data[i] != 0 || data[i+1] != 0 || data[i+2] != 1 {
			continue
		}
		if start >= 0 && !fn(trimZeros(data[start:i])) {
			return
		}
		start = i + 3
		i += 2
	}
	if start >= 0 && start < len(data) {
		fn(data[start:])
	}
}

// trimZeros removes the zero bytes that precede a four-byte start code.
func trimZeros(nal []byte) []byte {
	for len(nal) > 0 && nal[len(nal)-1] == 0 {
		nal = nal[:len(nal)-1]
	}
	return nal
}
