package media

// AV1 OBU types this package looks at (AV1 specification, 6.2.2).
const (
	obuSequenceHeader = 1
	obuFrameHeader    = 3
	obuFrame          = 6
)

// isAV1KeyFrame reports whether data, one AV1 temporal unit in the
// low-overhead bitstream format (what IVF files hold and what the RTP
// depacketizer rebuilds: OBUs one after another, each normally carrying
// its size), is a point where decoding can start: it holds a sequence
// header, and the first frame (or frame header) OBU after it is a key
// frame that is not a repeat of an earlier one.
func isAV1KeyFrame(data []byte) bool {
	haveSeq, reduced := false, false
	for len(data) > 0 {
		typ, payload, rest, ok := nextOBU(data)
		if !ok {
			return false
		}
		data = rest
		switch typ {
		case obuSequenceHeader:
			if len(payload) == 0 {
				return false
			}
			// seq_profile (3 bits), still_picture (1), then
			// reduced_still_picture_header (1): a stream with that flag
			// holds only key frames, and its frame headers carry no
			// frame_type.
			haveSeq, reduced = true, payload[0]&0x08 != 0
		case obuFrameHeader, obuFrame:
			if !haveSeq {
				return false
			}
			if reduced {
				return true
			}
			// The uncompressed header starts with show_existing_frame (1
			// bit) and frame_type (2 bits), KEY_FRAME being 0.
			return len(payload) > 0 && payload[0]>>5 == 0
		}
	}
	return false
}

// nextOBU splits the first OBU off data: its type, its payload (after the
// header, the optional extension byte and the size field), and what
// follows it. An OBU without a size field runs to the end of data. ok is
// false when the header is malformed or the size exceeds what is left.
func nextOBU(data []byte) (typ byte, payload, rest []byte, ok bool) {
	h := data[0]
	if h&0x80 != 0 {
		return 0, nil, nil, false // obu_forbidden_bit
	}
	typ = (h >> 3) & 0x0f
	n := 1
	if h&0x04 != 0 { // obu_extension_flag: temporal and spatial ids
		n++
	}
	if n > len(data) {
		return 0, nil, nil, false
	}
	if h&0x02 == 0 { // no obu_has_size_field
		return typ, data[n:], nil, true
	}
	size, m, ok := readLEB128(data[n:])
	if !ok || size > uint64(len(data)-n-m) {
		return 0, nil, nil, false
	}
	start := n + m
	end := start + int(size)
	return typ, data[start:end], data[end:], true
}

// readLEB128 reads an unsigned LEB128 number of at most eight bytes, as
// AV1 limits it, and returns it with the number of bytes it took.
func readLEB128(b []byte) (uint64, int, bool) {
	var v uint64
	for i := 0; i < 8 && i < len(b); i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1, true
		}
	}
	return 0, 0, false
}
