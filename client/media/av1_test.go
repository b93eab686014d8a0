package media

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// OBU types used only by the tests.
const (
	obuTemporalDelimiter = 2
	obuTileGroup         = 4
)

// testOBU builds one OBU of type typ around payload, with an extension
// byte when ext is set and a LEB128 size field when sized is set.
func testOBU(typ byte, ext, sized bool, payload []byte) []byte {
	h := typ << 3
	if ext {
		h |= 0x04
	}
	if sized {
		h |= 0x02
	}
	out := []byte{h}
	if ext {
		out = append(out, 0x08) // temporal_id 0, spatial_id 1
	}
	if sized {
		n := len(payload)
		for n >= 0x80 {
			out = append(out, byte(n&0x7f)|0x80)
			n >>= 7
		}
		out = append(out, byte(n))
	}
	return append(out, payload...)
}

// Payload first bytes: a sequence header of profile 0 (with and without
// reduced_still_picture_header) and uncompressed frame headers.
var (
	seqNormal  = []byte{0x00, 0x00, 0x00, 0x00}
	seqReduced = []byte{0x18, 0x00, 0x00}
	hdrKey     = []byte{0x10, 0xaa, 0xbb} // show_existing 0, frame_type 0, show_frame 1
	hdrInter   = []byte{0x30, 0xaa}       // frame_type 1
	hdrIntra   = []byte{0x50, 0xaa}       // frame_type 2 (INTRA_ONLY)
	hdrShowOld = []byte{0x80}             // show_existing_frame
	hdrAny     = []byte{0xff, 0xff}
)

func joinOBUs(obus ...[]byte) []byte { return bytes.Join(obus, nil) }

func TestAV1KeyFrame(t *testing.T) {
	sized := func(typ byte, p []byte) []byte { return testOBU(typ, false, true, p) }
	big := make([]byte, 300) // a two-byte size field
	big[0] = hdrKey[0]
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{"TD, sequence header, key frame", joinOBUs(sized(obuTemporalDelimiter, nil), sized(obuSequenceHeader, seqNormal), sized(obuFrame, hdrKey)), true},
		{"sequence header, key frame header, tile group", joinOBUs(sized(obuSequenceHeader, seqNormal), sized(obuFrameHeader, hdrKey), sized(obuTileGroup, []byte{1, 2, 3})), true},
		{"two-byte size", joinOBUs(sized(obuSequenceHeader, seqNormal), sized(obuFrame, big)), true},
		{"extension bytes", joinOBUs(testOBU(obuSequenceHeader, true, true, seqNormal), testOBU(obuFrame, true, true, hdrKey)), true},
		{"last OBU without size", joinOBUs(sized(obuSequenceHeader, seqNormal), testOBU(obuFrame, false, false, hdrKey)), true},
		{"reduced still picture", joinOBUs(sized(obuSequenceHeader, seqReduced), sized(obuFrame, hdrAny)), true},
		{"inter frame", joinOBUs(sized(obuSequenceHeader, seqNormal), sized(obuFrame, hdrInter)), false},
		{"intra-only frame", joinOBUs(sized(obuSequenceHeader, seqNormal), sized(obuFrame, hdrIntra)), false},
		{"shows an existing frame", joinOBUs(sized(obuSequenceHeader, seqNormal), sized(obuFrameHeader, hdrShowOld)), false},
		{"key frame without sequence header", joinOBUs(sized(obuTemporalDelimiter, nil), sized(obuFrame, hdrKey)), false},
		{"sequence header after the frame", joinOBUs(sized(obuFrame, hdrKey), sized(obuSequenceHeader, seqNormal)), false},
		{"sequence header only", sized(obuSequenceHeader, seqNormal), false},
		{"empty frame payload", joinOBUs(sized(obuSequenceHeader, seqNormal), sized(obuFrame, nil)), false},
		{"size beyond the data", joinOBUs(sized(obuSequenceHeader, seqNormal), []byte{obuFrame<<3 | 0x02, 9, 0x10}), false},
		{"unterminated size", joinOBUs(sized(obuSequenceHeader, seqNormal), []byte{obuFrame<<3 | 0x02, 0x80}), false},
		{"forbidden bit", joinOBUs([]byte{0x80 | obuSequenceHeader<<3 | 0x02, 1, 0}, sized(obuFrame, hdrKey)), false},
		{"extension flag without the byte", []byte{obuSequenceHeader<<3 | 0x04}, false},
		{"empty", nil, false},
	}
	for _, tc := range tests {
		if got := IsKeyFrame(webrtc.MimeTypeAV1, tc.data); got != tc.want {
			t.Errorf("%s: IsKeyFrame = %v, want %v (% x)", tc.name, got, tc.want, tc.data)
		}
	}
}

// TestAV1KeyFrameFromDepacketizer checks the bytes the viewer actually
// gets: the RTP depacketizer drops size fields on the wire and adds them
// back.
func TestAV1KeyFrameFromDepacketizer(t *testing.T) {
	seq := testOBU(obuSequenceHeader, false, false, seqNormal)
	for _, tc := range []struct {
		hdr  []byte
		want bool
	}{{hdrKey, true}, {hdrInter, false}} {
		frame := testOBU(obuFrame, false, false, tc.hdr)
		// Aggregation header: N (new coded video sequence), W = 2 elements;
		// the first element has a length, the last runs to the end.
		payload := append([]byte{0x28, byte(len(seq))}, seq...)
		payload = append(payload, frame...)
		var d codecs.AV1Depacketizer
		data, err := d.Unmarshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		if got := IsKeyFrame(webrtc.MimeTypeAV1, data); got != tc.want {
			t.Errorf("depacketized % x: IsKeyFrame = %v, want %v", data, got, tc.want)
		}
	}
}

// TestAV1Recording: the IVF file writer used to wait forever for an AV1
// key frame.
func TestAV1Recording(t *testing.T) {
	seq := testOBU(obuSequenceHeader, false, true, seqNormal)
	key := joinOBUs(seq, testOBU(obuFrame, false, true, hdrKey))
	inter := testOBU(obuFrame, false, true, hdrInter)
	path := filepath.Join(t.TempDir(), "av1.ivf")
	w, err := CreateFile(path, webrtc.MimeTypeAV1)
	if err != nil {
		t.Fatal(err)
	}
	for i, data := range [][]byte{inter, key, inter, inter} {
		if err := w.WriteFrame(Frame{Data: data, Timestamp: time.Duration(i) * 40 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	src, err := OpenFile(path, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	r, err := src.reader()
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, r)
	if r.MimeType() != webrtc.MimeTypeAV1 || len(got) != 3 || !got[0].KeyFrame || got[1].KeyFrame || !bytes.Equal(got[0].Data, key) {
		t.Fatalf("read back %s, %d frames: %+v", r.MimeType(), len(got), got)
	}
	if got[0].Timestamp != 0 || got[2].Timestamp != 80*time.Millisecond {
		t.Fatalf("timestamps %v, %v; want 0 and 80ms", got[0].Timestamp, got[2].Timestamp)
	}
}
