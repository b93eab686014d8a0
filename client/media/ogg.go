package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/webrtc/v4"
)

// Ogg page layout (RFC 3533): a 27-byte header, a table of segment sizes,
// then the segments. A packet is a run of segments ending with one shorter
// than 255 bytes, and may continue on the next page.
const (
	oggHeaderSize  = 27
	oggCapture     = "OggS"
	oggMaxSegment  = 255
	opusHeadMagic  = "OpusHead"
	opusTagsMagic  = "OpusTags"
	maxOggPacket   = 1 << 20
	opusSampleRate = 48000
)

// OggReader reads Opus packets from an Ogg file (the first logical stream)
// and returns one frame per packet. Timestamps add up the packets'
// durations, read from each packet's table-of-contents byte (RFC 6716,
// 3.1), so pacing does not depend on how the muxer filled its pages.
type OggReader struct {
	r        io.Reader
	serial   uint32
	packets  [][]byte // complete packets of the current page, in order
	partial  []byte   // a packet continuing on the next page
	elapsed  time.Duration
	channels int
	started  bool
}

// NewOggReader reads the Opus identification and comment headers from r
// and returns a reader of the audio packets that follow. A file that is
// not Ogg, or whose first stream is not Opus, fails with
// ErrUnsupportedFormat.
func NewOggReader(r io.Reader) (*OggReader, error) {
	o := &OggReader{r: r}
	head, err := o.nextPacket()
	if err != nil {
		return nil, fmt.Errorf("media: reading Ogg: %w: %w", ErrUnsupportedFormat, err)
	}
	if len(head) < 19 || string(head[:8]) != opusHeadMagic {
		return nil, fmt.Errorf("media: the Ogg stream is not Opus: %w", ErrUnsupportedFormat)
	}
	o.channels = int(head[9])
	tags, err := o.nextPacket()
	if err != nil || !bytes.HasPrefix(tags, []byte(opusTagsMagic)) {
		return nil, fmt.Errorf("media: the Opus stream lacks its comment header: %w", ErrUnsupportedFormat)
	}
	return o, nil
}

// MimeType is webrtc.MimeTypeOpus.
func (o *OggReader) MimeType() string { return webrtc.MimeTypeOpus }

// Channels returns the channel count of the identification header.
func (o *OggReader) Channels() int { return o.channels }

// ReadFrame returns the next Opus packet, or io.EOF after the last.
func (o *OggReader) ReadFrame() (Frame, error) {
	for {
		p, err := o.nextPacket()
		if err != nil {
			return Frame{}, err
		}
		d := opusPacketDuration(p)
		if d == 0 {
			continue // empty or malformed packet: nothing to play
		}
		f := Frame{Data: p, Timestamp: o.elapsed, Duration: d, KeyFrame: true}
		o.elapsed += d
		return f, nil
	}
}

// nextPacket returns the next complete packet of the stream.
func (o *OggReader) nextPacket() ([]byte, error) {
	for len(o.packets) == 0 {
		if err := o.readPage(); err != nil {
			return nil, err
		}
	}
	p := o.packets[0]
	o.packets = o.packets[1:]
	return p, nil
}

// readPage reads one page of the first logical stream and splits it into
// packets; other streams' pages are skipped.
func (o *OggReader) readPage() error {
	var h [oggHeaderSize]byte
	if _, err := io.ReadFull(o.r, h[:]); err != nil {
		return oggEnd(err)
	}
	if string(h[:4]) != oggCapture {
		return fmt.Errorf("media: Ogg page without capture pattern: %w", ErrUnsupportedFormat)
	}
	serial := binary.LittleEndian.Uint32(h[14:])
	if !o.started {
		o.serial, o.started = serial, true
	}
	sizes := make([]byte, h[26])
	if _, err := io.ReadFull(o.r, sizes); err != nil {
		return oggEnd(err)
	}
	total := 0
	for _, s := range sizes {
		total += int(s)
	}
	body := make([]byte, total)
	if _, err := io.ReadFull(o.r, body); err != nil {
		return oggEnd(err)
	}
	if serial != o.serial {
		return nil
	}
	return o.split(sizes, body)
}

// oggEnd treats a truncated page as the end of the stream, as players do;
// other read errors are returned.
func oggEnd(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return io.EOF
	}
	return fmt.Errorf("media: reading Ogg page: %w", err)
}

// split cuts a page body into packets by its segment sizes (lacing).
func (o *OggReader) split(sizes, body []byte) error {
	off := 0
	for _, s := range sizes {
		o.partial = append(o.partial, body[off:off+int(s)]...)
		off += int(s)
		if len(o.partial) > maxOggPacket {
			return fmt.Errorf("media: Ogg packet larger than %d bytes", maxOggPacket)
		}
		if s < oggMaxSegment {
			o.packets = append(o.packets, o.partial)
			o.partial = nil
		}
	}
	return nil
}

// opusFrameSizes is the duration of one frame per configuration number
// (the top five bits of the TOC byte), in units of 2.5 ms: SILK 10, 20,
// 40, 60 ms; hybrid 10, 20 ms; CELT 2.5, 5, 10, 20 ms (RFC 6716, table 2).
var opusFrameSizes = [32]int{
	4, 8, 16, 24, 4, 8, 16, 24, 4, 8, 16, 24,
	4, 8, 4, 8,
	1, 2, 4, 8, 1, 2, 4, 8, 1, 2, 4, 8, 1, 2, 4, 8,
}

// opusPacketDuration is a packet's playing time: its frame size times its
// frame count (code 0: one frame; 1 and 2: two; 3: given in byte 1).
func opusPacketDuration(p []byte) time.Duration {
	if len(p) == 0 {
		return 0
	}
	frames := 1
	switch p[0] & 0x03 {
	case 1, 2:
		frames = 2
	case 3:
		if len(p) < 2 {
			return 0
		}
		frames = int(p[1] & 0x3f)
	}
	return time.Duration(opusFrameSizes[p[0]>>3]*frames) * 2500 * time.Microsecond
}
